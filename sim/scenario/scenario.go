package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every error about a scenario that cannot run.
var ErrInvalid = errors.New("invalid scenario")

// Scenario is one simulated rollout. The zero value of every field means its
// documented default; Defaults fills them in.
type Scenario struct {
	// Name labels the run in reports. Default "default".
	Name string `yaml:"name" json:"name"`
	// Description is free text for the report.
	Description string `yaml:"description" json:"description,omitempty"`
	// Seed drives every random choice (topology, churn, adversaries,
	// jitter). Default 1. The same scenario and seed give the same graph.
	Seed uint64 `yaml:"seed" json:"seed"`
	// Engine is "model" (flow-level events, default) or "stack" (the real
	// node code on a simulated network in virtual time).
	Engine string `yaml:"engine" json:"engine"`
	// Horizon is how much simulated time to run before giving up on the
	// devices that have not finished. Default 10m.
	Horizon Duration `yaml:"horizon" json:"horizon"`

	Fleet       Fleet    `yaml:"fleet" json:"fleet"`
	Links       Links    `yaml:"links" json:"links"`
	Churn       Churn    `yaml:"churn" json:"churn"`
	SeedOutages []Outage `yaml:"seed_outages" json:"seed_outages,omitempty"`
	// Partitions cut the fleet in two for each span (from the first
	// advisory's publication): devices with even indices and the seeds on
	// one side, odd indices on the other. Packets between the halves wait
	// until the span ends, as TCP's retransmissions deliver them once a
	// real partition heals. Stack engine only.
	Partitions  []Outage    `yaml:"partitions" json:"partitions,omitempty"`
	Adversaries Adversaries `yaml:"adversaries" json:"adversaries"`
	Patch       Patch       `yaml:"patch" json:"patch"`
	Advisories  Advisories  `yaml:"advisories" json:"advisories"`
}

// Fleet is the size and shape of the network.
type Fleet struct {
	// Devices is the number of devices (gateways and controllers, honest
	// or not), not counting seeds and Sybils. Default 1000.
	Devices int `yaml:"devices" json:"devices"`
	// Seeds is the number of supplier seed nodes. Default 1.
	Seeds int `yaml:"seeds" json:"seeds"`
	// Sites is the number of plants the devices are split across. Default 1.
	Sites int `yaml:"sites" json:"sites"`
	// GatewaysPerSite is how many of each site's devices are gateways.
	// 0 (the default) is a flat fleet: every device dials Degree random
	// other nodes, seeds included. Otherwise controllers dial within their
	// site, gateways also dial other sites' gateways, and only gateways
	// dial seeds.
	GatewaysPerSite int `yaml:"gateways_per_site" json:"gateways_per_site"`
	// Degree is how many peers each device dials. Default 4 (so a device
	// holds about 2·Degree connections).
	Degree int `yaml:"degree" json:"degree"`
}

// Link is one class of access link. Bandwidth is per node: Up is what the
// node can send in total, Down what it can receive. The one-way latency
// between two nodes is the mean of their classes' latencies plus a uniform
// jitter in ±the larger Jitter.
type Link struct {
	Up      Rate     `yaml:"up" json:"up"`
	Down    Rate     `yaml:"down" json:"down"`
	Latency Duration `yaml:"latency" json:"latency"`
	Jitter  Duration `yaml:"jitter" json:"jitter"`
	// Loss is the share of packets lost on this node's link, 0 to 0.5.
	// Only the model engine applies it (as retransmission delay); the
	// stack engine's simulated network has no loss, and real loss is
	// tested between processes in network namespaces.
	Loss float64 `yaml:"loss" json:"loss"`
}

// Links gives each node class its access link. Every unset field defaults
// to 20Mbit up and down and 10ms latency, the setting of the stock-bitswap
// probe the bounds are compared with.
type Links struct {
	Seed       Link `yaml:"seed" json:"seed"`
	Gateway    Link `yaml:"gateway" json:"gateway"`
	Controller Link `yaml:"controller" json:"controller"`
}

// Churn takes devices offline. Offline devices neither receive nor serve;
// a device that is offline for the whole horizon counts as not delivered.
type Churn struct {
	// OfflineFraction is the share of devices offline at time zero.
	OfflineFraction float64 `yaml:"offline_fraction" json:"offline_fraction"`
	// LeaveFraction is the share of the online devices that go offline
	// during the run, each at an exponentially distributed time with mean
	// LeaveMean (default 1m).
	LeaveFraction float64  `yaml:"leave_fraction" json:"leave_fraction"`
	LeaveMean     Duration `yaml:"leave_mean" json:"leave_mean"`
	// RejoinMean is the mean of the exponentially distributed time an
	// offline device stays away. 0 (default) means it never returns.
	RejoinMean Duration `yaml:"rejoin_mean" json:"rejoin_mean"`
}

// Outage takes every seed offline from Start for Duration.
type Outage struct {
	Start    Duration `yaml:"start" json:"start"`
	Duration Duration `yaml:"duration" json:"duration"`
}

// Adversaries are hostile nodes. Silent and bad-block nodes are chosen from
// the devices; forgers likewise; Sybils are extra nodes.
type Adversaries struct {
	// SilentFraction is the share of devices that never forward gossip
	// and never serve blocks.
	SilentFraction float64 `yaml:"silent_fraction" json:"silent_fraction"`
	// Forgers is the number of devices that publish forged advisories
	// (one per advisory) alongside relaying nothing.
	Forgers int `yaml:"forgers" json:"forgers"`
	// BadBlocks is the number of devices that answer every block request
	// with corrupted data.
	BadBlocks int    `yaml:"bad_blocks" json:"bad_blocks"`
	Sybils    Sybils `yaml:"sybils" json:"sybils"`
}

// Sybils are extra identities that connect to one victim and then stay
// silent: they never forward gossip and never serve blocks.
type Sybils struct {
	// Factor is how many times the victim's honest connection count the
	// Sybils hold on it (4 means four Sybil connections per honest one).
	// 0 (default) means no Sybils.
	Factor float64 `yaml:"connections_factor" json:"connections_factor"`
	// Victim is the device index (0-based among devices) they surround.
	Victim int `yaml:"victim" json:"victim"`
}

// Patch is the release every device fetches after the advisory.
type Patch struct {
	// Size of the file. Default 4MiB; "0" means advisory only.
	Size *Bytes `yaml:"size" json:"size"`
	// Chunk is the block size the file is cut into. Default 256KiB.
	Chunk Bytes `yaml:"chunk" json:"chunk"`
	// Transfer is how devices fetch it: "swarm" (Tocsin's piece-exchange
	// protocol, the node's default) or "bitswap" (the node's transfer:
	// bitswap option). Default swarm.
	Transfer string `yaml:"transfer" json:"transfer"`
}

// Transfers.
const (
	TransferSwarm   = "swarm"
	TransferBitswap = "bitswap"
)

// Advisories is how many advisories the seed publishes and how far apart.
// The first goes out at time zero; every figure is about the first one.
type Advisories struct {
	Count    int      `yaml:"count" json:"count"`
	Interval Duration `yaml:"interval" json:"interval"`
}

// Defaults for every unset field.
const (
	DefaultDevices = 1000
	DefaultDegree  = 4
	DefaultPatch   = 4 << 20
	DefaultChunk   = 256 << 10
	DefaultHorizon = 10 * time.Minute
	DefaultRate    = 20e6 / 8 // 20 Mbit/s in bytes per second
	DefaultLatency = 10 * time.Millisecond
)

// PatchBytes returns the patch size, 0 for an advisory-only scenario.
func (s *Scenario) PatchBytes() int64 {
	if s.Patch.Size == nil {
		return DefaultPatch
	}
	return int64(*s.Patch.Size)
}

// Defaults fills every unset field with its documented default.
func (s *Scenario) Defaults() {
	if s.Name == "" {
		s.Name = "default"
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.Engine == "" {
		s.Engine = "model"
	}
	if s.Horizon == 0 {
		s.Horizon = Duration(DefaultHorizon)
	}
	f := &s.Fleet
	if f.Devices == 0 {
		f.Devices = DefaultDevices
	}
	if f.Seeds == 0 {
		f.Seeds = 1
	}
	if f.Sites == 0 {
		f.Sites = 1
	}
	if f.Degree == 0 {
		f.Degree = DefaultDegree
	}
	for _, l := range []*Link{&s.Links.Seed, &s.Links.Gateway, &s.Links.Controller} {
		if l.Up == 0 {
			l.Up = DefaultRate
		}
		if l.Down == 0 {
			l.Down = DefaultRate
		}
		if l.Latency == 0 {
			l.Latency = Duration(DefaultLatency)
		}
	}
	if s.Churn.LeaveMean == 0 {
		s.Churn.LeaveMean = Duration(time.Minute)
	}
	if s.Patch.Size == nil {
		b := Bytes(DefaultPatch)
		s.Patch.Size = &b
	}
	if s.Patch.Transfer == "" {
		s.Patch.Transfer = TransferSwarm
	}
	if s.Patch.Chunk == 0 {
		s.Patch.Chunk = DefaultChunk
	}
	if s.Advisories.Count == 0 {
		s.Advisories.Count = 1
	}
}

// Validate reports the first field that makes the scenario unrunnable.
// Call it after Defaults.
func (s *Scenario) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	f := s.Fleet
	switch {
	case s.Engine != "model" && s.Engine != "stack":
		return bad("engine %q: want model or stack", s.Engine)
	case f.Devices < 1 || f.Devices > 10_000_000:
		return bad("fleet.devices %d: want 1 to 10,000,000", f.Devices)
	case f.Seeds < 1 || f.Seeds > 64:
		return bad("fleet.seeds %d: want 1 to 64", f.Seeds)
	case f.Sites < 1 || f.Sites > f.Devices:
		return bad("fleet.sites %d: want 1 to the number of devices", f.Sites)
	case f.GatewaysPerSite < 0 || f.GatewaysPerSite*f.Sites > f.Devices:
		return bad("fleet.gateways_per_site %d: more gateways than devices", f.GatewaysPerSite)
	case f.Degree < 1 || f.Degree > 64:
		return bad("fleet.degree %d: want 1 to 64", f.Degree)
	case s.Horizon <= 0:
		return bad("horizon must be positive")
	case s.PatchBytes() < 0:
		return bad("patch.size must not be negative")
	case s.Patch.Transfer != TransferSwarm && s.Patch.Transfer != TransferBitswap:
		return bad("patch.transfer %q: want swarm or bitswap", s.Patch.Transfer)
	case s.Patch.Chunk < 1024 || s.Patch.Chunk > 2<<20:
		return bad("patch.chunk %s: want 1KiB to 2MiB (bitswap's block limit)", s.Patch.Chunk)
	case s.Advisories.Count < 1 || s.Advisories.Count > 10_000:
		return bad("advisories.count %d: want 1 to 10,000", s.Advisories.Count)
	}
	for name, l := range map[string]Link{"seed": s.Links.Seed, "gateway": s.Links.Gateway, "controller": s.Links.Controller} {
		if l.Up <= 0 || l.Down <= 0 || l.Latency < 0 || l.Jitter < 0 || l.Jitter > l.Latency || l.Loss < 0 || l.Loss > 0.5 {
			return bad("links.%s: rates must be positive, jitter at most the latency, loss 0 to 0.5", name)
		}
	}
	fr := func(name string, v float64) error {
		if v < 0 || v > 1 {
			return bad("%s %g: want a share from 0 to 1", name, v)
		}
		return nil
	}
	if err := errors.Join(fr("churn.offline_fraction", s.Churn.OfflineFraction), fr("churn.leave_fraction", s.Churn.LeaveFraction),
		fr("adversaries.silent_fraction", s.Adversaries.SilentFraction)); err != nil {
		return err
	}
	a := s.Adversaries
	if a.Forgers < 0 || a.BadBlocks < 0 || float64(a.Forgers+a.BadBlocks)+a.SilentFraction*float64(f.Devices) > float64(f.Devices) {
		return bad("adversaries: more hostile devices than devices")
	}
	if a.Sybils.Factor < 0 || a.Sybils.Factor > 64 || a.Sybils.Victim < 0 || a.Sybils.Victim >= f.Devices {
		return bad("adversaries.sybils: factor 0 to 64 and a victim among the devices")
	}
	for i, o := range s.SeedOutages {
		if o.Duration <= 0 {
			return bad("seed_outages[%d]: duration must be positive", i)
		}
	}
	for i, o := range s.Partitions {
		if o.Duration <= 0 {
			return bad("partitions[%d]: duration must be positive", i)
		}
	}
	return nil
}

// Default returns the built-in scenario: a 1,000-device flat fleet, one
// seed, 20 Mbit/s links with 10 ms latency, a 4 MiB patch in 256 KiB
// chunks — the setting the stock-bitswap probe measured.
func Default() Scenario {
	s := Scenario{Name: "default", Description: "1,000 devices, each dialling 4 random peers; 20 Mbit/s, 10 ms; 4 MiB patch"}
	s.Defaults()
	return s
}

// Parse reads a scenario file, rejecting unknown fields, and fills in the
// defaults. Errors name the line.
func Parse(data []byte) (Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Scenario{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s.Defaults()
	if err := s.Validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

// Load reads and parses a scenario file.
func Load(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return Scenario{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
