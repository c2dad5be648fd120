package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/internal/units"
	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Role is what a node does in the network.
type Role string

// Roles.
const (
	// RoleDevice fetches, verifies, installs and serves.
	RoleDevice Role = "device"
	// RoleSeed is a supplier seed: it injects signed documents, serves
	// blocks with the super-seeding gate and never installs.
	RoleSeed Role = "seed"
)

// Transfers (Config.Transfer).
const (
	TransferSwarm   = "swarm"
	TransferBitswap = "bitswap"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("config")

// Product is one product a device runs.
type Product struct {
	// ID is the supplier's product identifier, e.g. "acme-plc-fw".
	ID string `yaml:"id"`
	// Version is the version the device runs now. Once Tocsin installs a
	// newer one, the installed version recorded in the store wins.
	Version string `yaml:"version"`
	// File is the image of Version on this device, if it has one: a
	// release that carries a delta from Version is rebuilt from it instead
	// of fetched whole. Optional; files Tocsin fetched are used too.
	File string `yaml:"file"`
}

// Installer is the command that applies a verified file.
type Installer struct {
	// Command is argv; it runs with TOCSIN_FILE (the verified file),
	// TOCSIN_PRODUCT, TOCSIN_VERSION, TOCSIN_SHA256, TOCSIN_RELEASE_ID and
	// TOCSIN_DATA_DIR in its environment, in the data dir. Exit 0 means
	// installed. It must be idempotent: after a crash mid-install it runs
	// again. It must not change TOCSIN_FILE: the node serves the release's
	// pieces from it. Required for devices.
	Command []string `yaml:"command"`
	// HealthCheck is argv run after a successful install, with the same
	// variables; non-zero exit means the new version is unhealthy: the
	// rollback command runs and the installation counts as failed (and
	// toward halting the rollout wave). Empty: no health check.
	HealthCheck []string `yaml:"health_check"`
	// Timeout kills the installer (and the health check and rollback
	// commands) after this long. Default 10m.
	Timeout time.Duration `yaml:"timeout"`
	// Rollback is argv run when a release this device installed is
	// recalled, with TOCSIN_ROLLBACK_TO (the version installed before it)
	// and the same variables as Command. Empty: a recall is reported but
	// nothing is run.
	Rollback []string `yaml:"rollback"`
}

// Seed holds what only a supplier seed needs.
type Seed struct {
	// HeartbeatKey is the heartbeat role's private key. When set the seed
	// signs and gossips a heartbeat every HeartbeatInterval, valid for
	// HeartbeatTTL. Empty: this seed sends no heartbeats.
	HeartbeatKey string `yaml:"heartbeat_key"`
	// HeartbeatInterval: default 1m.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// HeartbeatTTL is how long a heartbeat stays valid: a device that hears
	// none for this long reports "stale". Default 15m.
	HeartbeatTTL time.Duration `yaml:"heartbeat_ttl"`
}

// APIConfig is the node's HTTP API and operator dashboard (Node.ServeAPI).
type APIConfig struct {
	// Listen is host:port, e.g. 127.0.0.1:8480; empty: no API. Reads from
	// other machines need the token.
	Listen string `yaml:"listen"`
	// TokenFile holds the token every action needs (Authorization:
	// Bearer). Created, mode 0600, with a random token when missing.
	// Default <data_dir>/api.token.
	TokenFile string `yaml:"token_file"`
	// OperatorKey is the local operator's signing key: the API signs
	// decisions with it for requests that carry the token. It must be one
	// of the owner policy's operator_keys. Empty: only decisions signed
	// elsewhere are accepted.
	OperatorKey string `yaml:"operator_key"`
}

// Config is a node's configuration file. Relative paths are relative to the
// config file's directory.
type Config struct {
	// Role is "device" (default) or "seed".
	Role Role `yaml:"role"`
	// DataDir holds the badger store, verified files and status.json.
	// Required.
	DataDir string `yaml:"data_dir"`
	// IdentityKey is the libp2p identity key file (see `tocsin keygen
	// --type device`). Default <data_dir>/identity.key, created with mode
	// 0600 on first start.
	IdentityKey string `yaml:"identity_key"`
	// Listen are libp2p multiaddrs. Default /ip4/0.0.0.0/tcp/4001 and
	// /ip4/0.0.0.0/udp/4001/quic-v1.
	Listen []string `yaml:"listen"`
	// Bootstrap are peers to stay connected to, as full multiaddrs ending
	// in /p2p/<peer id> (a seed, a gateway, neighbours).
	Bootstrap []string `yaml:"bootstrap"`
	// TrustRoot is the supplier's signed trust root (see `tocsin root
	// init`), given to the device at enrolment. Only documents signed by a
	// threshold of the keys its roles name are accepted; newer roots
	// arrive over the network and replace it (in the store) when a
	// threshold of its root keys signed them. Required.
	TrustRoot string `yaml:"trust_root"`
	// Hardware is this device's hardware id; a release whose manifest
	// lists hardware ids not including it is never fetched or installed.
	// Empty: the device accepts only releases that list no hardware.
	Hardware string `yaml:"hardware"`
	// Policy is the asset owner's policy file (see `tocsin policy check`):
	// operator keys, zones, groups, windows, auto-authorisation, rollout.
	// Empty: every applicable release is authorised at once (a lab).
	Policy string `yaml:"policy"`
	// Group is this device's group in the owner policy. Required with
	// Policy.
	Group string `yaml:"group"`
	// Roster is the owner's signed fleet roster (see `tocsin roster`): the
	// enrolled peers, their zones and roles, the revoked ones. Newer rosters
	// arrive over the network. Needs Policy (for the operator keys).
	Roster string `yaml:"roster"`
	// Admission is "enrolled" (default when Roster is set: only roster
	// members, within the zone or through a conduit, may connect) or
	// "open" (anyone; for supplier seeds, whose content is all signed).
	Admission string `yaml:"admission"`
	// PrivateNetwork is an optional libp2p private-network key file
	// (swarm.key format). With it the node speaks TCP only: go-libp2p
	// refuses QUIC on a private network.
	PrivateNetwork string `yaml:"private_network"`
	// MDNS discovers and connects peers on the local network segment.
	// Default false.
	MDNS bool `yaml:"mdns"`
	// DHT runs the fleet's Kademlia DHT (protocol prefix /tocsin), seeded
	// by the bootstrap peers, to find peers in wide-area fleets. Default
	// false.
	DHT bool `yaml:"dht"`
	// Peers are the connection manager's watermarks: it trims connections
	// above High down to Low. Defaults 16 and 32.
	Peers struct {
		Low  int `yaml:"low"`
		High int `yaml:"high"`
	} `yaml:"peers"`
	// MaxMemory caps what the libp2p resource manager lets connections and
	// streams reserve, e.g. "256MiB" (the default).
	MaxMemory string `yaml:"max_memory"`
	// MaxConns caps libp2p connections. Default 256.
	MaxConns int `yaml:"max_conns"`
	// MaxDownloadRate caps block fetching, e.g. "2MiB/s". Default: no cap.
	MaxDownloadRate string `yaml:"max_download_rate"`
	// Products are what this device runs. Empty for seeds.
	Products []Product `yaml:"products"`
	// Installer applies verified files. Required for devices.
	Installer Installer `yaml:"installer"`
	// MaxReleaseSize refuses releases larger than this. Default "4GiB".
	MaxReleaseSize string `yaml:"max_release_size"`
	// MaxUploadRate caps bitswap upload, e.g. "1MiB/s". Default: no cap.
	MaxUploadRate string `yaml:"max_upload_rate"`
	// UplinkRate is the upload rate of this node's link, e.g. "2.5MB/s"
	// for 20 Mbit/s. With it the swarm protocol hands the transport its
	// blocks no faster than the link sends them (less QUIC's headers and
	// acknowledgements), so that its own order, the neighbour furthest
	// behind first, is the order on the wire; otherwise the network's
	// queues share the link evenly among connections, and a device with
	// few neighbours gets less and finishes last. Set it to the link's
	// rate, not above (the queues decide again) nor far below (the link
	// idles). Default: unset, blocks go to the transport as soon as it
	// takes them.
	UplinkRate string `yaml:"uplink_rate"`
	// SuperSeedInterval (seeds only): how long a block stays reserved to
	// the peers that got it from the seed before one more may; see
	// content.Gate. Default 2s; "0s" turns super-seeding off.
	SuperSeedInterval *time.Duration `yaml:"super_seed_interval"`
	// SyncInterval: how often the node asks every neighbour for documents
	// it lacks (by sequence number; cheap when nothing is missing), besides
	// on every new connection and whenever the heartbeat says it is behind.
	// Default 30s.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// StallTimeout: a fetch round that brings no block for this long is
	// cancelled and the missing blocks are asked for again from every
	// connected peer. Default 3s.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// Transfer: how releases are fetched. "swarm" (default): by Tocsin's
	// piece-exchange protocol (node/swarm.go, content/swarm) from the
	// neighbours that speak it, with one bitswap round whenever that
	// stalls; "bitswap": by bitswap only. Either way the node serves both
	// protocols, so stock IPFS nodes can fetch any release by its root
	// CID. With max_download_rate set, fetches use bitswap (its batches
	// are what the rate cap paces).
	Transfer string `yaml:"transfer"`
	// FetchWindow: the most blocks a fetch asks its neighbours for at a
	// time; the next is asked for as soon as one arrives. Default 8 (eight
	// 256 KiB blocks keep a 20 Mbit/s link busy for most of a second).
	FetchWindow int `yaml:"fetch_window"`
	// Seed configures the seed role.
	Seed Seed `yaml:"seed"`
	// LogLevel is debug, info (default), warn or error.
	LogLevel string `yaml:"log_level"`
	// API serves the HTTP API and the operator dashboard (node/api.go).
	API APIConfig `yaml:"api"`

	dir string // directory of the config file
}

// LoadConfig reads and checks a config file. Unknown keys are errors, with
// their line number.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.dir = abs
	if err := c.applyEnv(os.Environ()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Resolve makes p absolute relative to the config file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Check validates the config and fills in defaults.
func (c *Config) Check() error {
	if c.Role == "" {
		c.Role = RoleDevice
	}
	if c.Role != RoleDevice && c.Role != RoleSeed {
		return fmt.Errorf("%w: role %q: want device or seed", ErrConfig, c.Role)
	}
	if c.Transfer != "" && c.Transfer != TransferSwarm && c.Transfer != TransferBitswap {
		return fmt.Errorf("%w: transfer %q: want swarm or bitswap", ErrConfig, c.Transfer)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: data_dir is required", ErrConfig)
	}
	if c.TrustRoot == "" {
		return fmt.Errorf("%w: trust_root is required (the supplier's root.json)", ErrConfig)
	}
	if c.Hardware != "" {
		if err := trust.CheckProduct(c.Hardware); err != nil {
			return fmt.Errorf("%w: hardware: %w", ErrConfig, err)
		}
	}
	if c.API.Listen != "" {
		if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
			return fmt.Errorf("%w: api.listen %q: want host:port, e.g. 127.0.0.1:8480", ErrConfig, c.API.Listen)
		}
	}
	if c.Seed.HeartbeatInterval <= 0 {
		c.Seed.HeartbeatInterval = time.Minute
	}
	if c.Seed.HeartbeatTTL <= 0 {
		c.Seed.HeartbeatTTL = 15 * time.Minute
	}
	if c.Seed.HeartbeatTTL <= c.Seed.HeartbeatInterval {
		return fmt.Errorf("%w: seed.heartbeat_ttl (%s) must be longer than seed.heartbeat_interval (%s)", ErrConfig, c.Seed.HeartbeatTTL, c.Seed.HeartbeatInterval)
	}
	if _, err := overlay.ParsePeers(c.Bootstrap); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	seen := map[string]bool{}
	for i, p := range c.Products {
		if err := errors.Join(trust.CheckProduct(p.ID), trust.CheckVersion(p.Version)); err != nil {
			return fmt.Errorf("%w: products[%d]: %w", ErrConfig, i, err)
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: products[%d]: %q listed twice", ErrConfig, i, p.ID)
		}
		seen[p.ID] = true
	}
	if c.Role == RoleDevice && len(c.Installer.Command) == 0 {
		return fmt.Errorf("%w: installer.command is required for a device", ErrConfig)
	}
	if c.Installer.Timeout == 0 {
		c.Installer.Timeout = 10 * time.Minute
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 30 * time.Second
	}
	if c.Transfer == "" {
		c.Transfer = TransferSwarm
	}
	if c.FetchWindow <= 0 {
		c.FetchWindow = 8
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 3 * time.Second
	}
	if c.MaxReleaseSize == "" {
		c.MaxReleaseSize = "4GiB"
	}
	if _, err := units.ParseBytes(c.MaxReleaseSize); err != nil {
		return fmt.Errorf("%w: max_release_size: %w", ErrConfig, err)
	}
	for name, v := range map[string]string{"max_upload_rate": c.MaxUploadRate, "uplink_rate": c.UplinkRate, "max_download_rate": c.MaxDownloadRate, "max_memory": c.MaxMemory} {
		if v == "" {
			continue
		}
		if _, err := units.ParseBytes(v); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrConfig, name, err)
		}
	}
	if r := c.uplinkRate(); r > 0 && r < minUplinkRate {
		return fmt.Errorf("%w: uplink_rate %q is below 1KiB/s; give the link's rate with a unit, e.g. 2.5MB/s", ErrConfig, c.UplinkRate)
	}
	switch c.Admission {
	case "":
		c.Admission = AdmissionOpen
		if c.Roster != "" {
			c.Admission = AdmissionEnrolled
		}
	case AdmissionOpen, AdmissionEnrolled:
	default:
		return fmt.Errorf("%w: admission %q: want enrolled or open", ErrConfig, c.Admission)
	}
	if c.Admission == AdmissionEnrolled && c.Roster == "" {
		return fmt.Errorf("%w: admission enrolled needs a roster", ErrConfig)
	}
	if c.Roster != "" && c.Policy == "" {
		return fmt.Errorf("%w: a roster needs the owner policy (its operator keys sign rosters)", ErrConfig)
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: log_level %q: want debug, info, warn or error", ErrConfig, c.LogLevel)
	}
	return nil
}

// Admission modes.
const (
	AdmissionEnrolled = "enrolled"
	AdmissionOpen     = "open"
)

func (c *Config) rate(v string) int64 {
	if v == "" {
		return 0
	}
	n, _ := units.ParseBytes(v)
	return n
}

func (c *Config) maxReleaseSize() int64 { n, _ := units.ParseBytes(c.MaxReleaseSize); return n }

func (c *Config) uploadRate() int64 { return c.rate(c.MaxUploadRate) }

func (c *Config) uplinkRate() int64 { return c.rate(c.UplinkRate) }

// minUplinkRate: a lower uplink_rate is taken for a mistake (a rate with
// its unit left off would hold each block's upload slot for hours).
const minUplinkRate = 1 << 10

func (c *Config) gate() content.GateConfig {
	if c.Role != RoleSeed {
		return content.GateConfig{}
	}
	g := content.DefaultGateConfig()
	if c.SuperSeedInterval != nil {
		g.Interval = *c.SuperSeedInterval
	}
	return g
}

// LoadOwnerPolicy reads the owner policy file and the operator keys it
// names (relative to the policy file). It returns nil, nil without one.
func (c *Config) LoadOwnerPolicy() (*policy.OwnerPolicy, []trust.PublicKey, error) {
	if c.Policy == "" {
		return nil, nil, nil
	}
	path := c.Resolve(c.Policy)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: policy: %w", ErrConfig, err)
	}
	p, err := policy.ParseOwnerPolicy(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: policy %s: %w", ErrConfig, c.Policy, err)
	}
	if _, ok := p.Group(c.Group); !ok {
		return nil, nil, fmt.Errorf("%w: group %q is not a group of policy %s", ErrConfig, c.Group, c.Policy)
	}
	var ops []trust.PublicKey
	for _, k := range p.OperatorKeys {
		if !filepath.IsAbs(k) {
			k = filepath.Join(filepath.Dir(path), k)
		}
		pk, err := trust.LoadPublicKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: policy operator key: %w", ErrConfig, err)
		}
		ops = append(ops, pk)
	}
	return p, ops, nil
}

// LoadTrustRoot reads the trust root file and starts a trusted state from
// it.
func (c *Config) LoadTrustRoot() (*trust.State, error) {
	data, err := os.ReadFile(c.Resolve(c.TrustRoot))
	if err != nil {
		return nil, fmt.Errorf("%w: trust_root: %w", ErrConfig, err)
	}
	st, err := trust.NewState(data)
	if err != nil {
		return nil, fmt.Errorf("%w: trust_root %s: %w", ErrConfig, c.TrustRoot, err)
	}
	return st, nil
}

// applyEnv overrides top-level options from TOCSIN_<OPTION> variables
// (upper-case YAML names; lists comma-separated).
func (c *Config) applyEnv(env []string) error {
	v := reflect.ValueOf(c).Elem()
	fields := map[string]reflect.Value{}
	for i := 0; i < v.NumField(); i++ {
		tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			fields["TOCSIN_"+strings.ToUpper(tag)] = v.Field(i)
		}
	}
	for _, kv := range env {
		k, val, _ := strings.Cut(kv, "=")
		f, ok := fields[k]
		if !ok {
			continue
		}
		var err error
		switch f.Kind() {
		case reflect.String:
			f.SetString(val)
		case reflect.Bool:
			var b bool
			b, err = strconv.ParseBool(val)
			f.SetBool(b)
		case reflect.Int, reflect.Int64:
			if f.Type() == reflect.TypeOf(time.Duration(0)) {
				var d time.Duration
				d, err = time.ParseDuration(val)
				f.SetInt(int64(d))
			} else {
				var n int64
				n, err = strconv.ParseInt(val, 10, 64)
				f.SetInt(n)
			}
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String {
				return fmt.Errorf("%w: %s cannot be set from the environment", ErrConfig, k)
			}
			var parts []string
			for _, p := range strings.Split(val, ",") {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
			f.Set(reflect.ValueOf(parts))
		default:
			return fmt.Errorf("%w: %s cannot be set from the environment", ErrConfig, k)
		}
		if err != nil {
			return fmt.Errorf("%w: %s=%q: %w", ErrConfig, k, val, err)
		}
	}
	return nil
}

// MissingFiles lists the files the config names that do not exist, for
// `tocsin config check` (the node itself fails on them at start).
func (c *Config) MissingFiles() []string {
	var out []string
	for _, p := range []string{c.TrustRoot, c.Policy, c.Roster, c.PrivateNetwork, c.IdentityKey, c.Seed.HeartbeatKey} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(c.Resolve(p)); err != nil {
			out = append(out, c.Resolve(p))
		}
	}
	return out
}
