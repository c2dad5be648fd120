package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/seed"
)

func init() { register(newSeedCmd); register(newNodeCmd) }

func printAddrs(cmd *cobra.Command, n *node.Node) {
	fmt.Fprintf(cmd.OutOrStdout(), "peer id: %s\n", n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintf(cmd.OutOrStdout(), "listening on: %s\n", a)
	}
}

func newSeedCmd() *cobra.Command {
	var cfg node.Config
	var superSeed time.Duration
	var recallKey string
	c := &cobra.Command{
		Use:   "seed --data DIR --trust-root root.json [--listen MULTIADDR]...",
		Short: "Run the supplier's seed node",
		Long: `Run a seed: a libp2p host that gossips what the supplier publishes and serves
release blocks over bitswap to anyone who asks (everything it serves is signed
and content-addressed, so a stock IPFS node can fetch a release by its root
CID). It prints its full multiaddrs on start; give them to devices as
bootstrap peers. The publishing CLI talks to it over DIR/control.sock.

With --heartbeat-key (the heartbeat role's key) it signs and gossips a
heartbeat every --heartbeat-interval, valid for --heartbeat-ttl: devices that
stop hearing it report that they cannot confirm they have the latest.`,
		Example: `  tocsin seed --data ./seed-data --trust-root root.json --heartbeat-key heartbeat.key \
      --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Role = node.RoleSeed
			if cmd.Flags().Changed("super-seed-interval") {
				cfg.SuperSeedInterval = &superSeed
			}
			s, err := seed.Start(cmd.Context(), &cfg, newLogger(cmd.ErrOrStderr(), cfg.LogLevel))
			if err != nil {
				return err
			}
			api, err := startAPI(cmd, s.Node, &cfg, recallKey)
			if err != nil {
				s.Close()
				return err
			}
			printAddrs(cmd, s.Node)
			<-cmd.Context().Done()
			if api != nil {
				api.Close()
			}
			return s.Close()
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.DataDir, "data", "seed-data", "data dir (badger store, control socket)")
	f.StringSliceVar(&cfg.Listen, "listen", []string{"/ip4/0.0.0.0/tcp/4001"}, "listen multiaddr (repeatable)")
	f.StringVar(&cfg.TrustRoot, "trust-root", "", "the supplier's trust root, root.json (required)")
	f.StringVar(&cfg.Seed.HeartbeatKey, "heartbeat-key", "", "heartbeat role key: sign and gossip heartbeats")
	f.DurationVar(&cfg.Seed.HeartbeatInterval, "heartbeat-interval", time.Minute, "time between heartbeats")
	f.DurationVar(&cfg.Seed.HeartbeatTTL, "heartbeat-ttl", 15*time.Minute, "how long a heartbeat stays valid")
	f.StringSliceVar(&cfg.Bootstrap, "bootstrap", nil, "peer to stay connected to (repeatable)")
	f.StringVar(&cfg.MaxUploadRate, "max-upload-rate", "", "cap bitswap upload, e.g. 10MiB/s")
	f.StringVar(&cfg.UplinkRate, "uplink-rate", "", "the link's upload rate, e.g. 2.5MB/s: swarm uploads are paced to it")
	f.DurationVar(&superSeed, "super-seed-interval", 2*time.Second, "super-seeding: one more peer per block per interval (0 = off)")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.API.Listen, "api", "", "serve the HTTP API and dashboard on ADDR, e.g. 127.0.0.1:8480")
	f.StringVar(&cfg.API.TokenFile, "api-token-file", "", "API token file, created (0600) if missing (default DIR/api.token)")
	f.StringVar(&recallKey, "recall-key", "", "release-role key: the API signs recalls with it")
	return c
}

func newNodeCmd() *cobra.Command {
	var path, upload, download string
	var api node.APIConfig
	c := &cobra.Command{
		Use:   "node --config FILE",
		Short: "Run the device daemon",
		Long: `Run the device daemon on a gateway or controller. It joins the fleet's gossip,
verifies every advisory before forwarding it, fetches the releases that apply
to the products it runs from whichever peers have the blocks, checks the
sha256, runs the installer, and keeps serving the blocks to other devices.
Its state is in data_dir; status.json there shows what it is doing.

The config file is YAML; see the README for every option.`,
		Example: `  tocsin node --config /etc/tocsin/node.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return fmt.Errorf("--config FILE is required")
			}
			cfg, err := node.LoadConfig(path)
			if err != nil {
				return err
			}
			if upload != "" {
				cfg.MaxUploadRate = upload
			}
			if download != "" {
				cfg.MaxDownloadRate = download
			}
			if api.Listen != "" {
				cfg.API.Listen = api.Listen
			}
			if api.TokenFile != "" { // flags are relative to the working directory
				if cfg.API.TokenFile, err = filepath.Abs(api.TokenFile); err != nil {
					return err
				}
			}
			if api.OperatorKey != "" {
				if cfg.API.OperatorKey, err = filepath.Abs(api.OperatorKey); err != nil {
					return err
				}
			}
			if upload != "" || download != "" || api.Listen != "" {
				if err := cfg.Check(); err != nil {
					return err
				}
			}
			n, err := node.New(cmd.Context(), cfg, node.Options{Logger: newLogger(cmd.ErrOrStderr(), cfg.LogLevel)})
			if err != nil {
				return err
			}
			ctl, err := n.ServeControl(nil)
			if err != nil {
				n.Close()
				return err
			}
			srv, err := startAPI(cmd, n, cfg, "")
			if err != nil {
				ctl.Close()
				n.Close()
				return err
			}
			printAddrs(cmd, n)
			<-cmd.Context().Done()
			if srv != nil {
				srv.Close()
			}
			ctl.Close()
			return n.Close()
		},
	}
	c.Flags().StringVar(&path, "config", "", "config file (YAML)")
	c.Flags().StringVar(&upload, "max-upload-rate", "", "cap bitswap upload, e.g. 1MiB/s (overrides the config)")
	c.Flags().StringVar(&download, "max-download-rate", "", "cap block fetching, e.g. 2MiB/s (overrides the config)")
	c.Flags().StringVar(&api.Listen, "api", "", "serve the HTTP API and dashboard on ADDR, e.g. 127.0.0.1:8480 (overrides api.listen)")
	c.Flags().StringVar(&api.TokenFile, "api-token-file", "", "API token file, created (0600) if missing (overrides api.token_file; default <data_dir>/api.token)")
	c.Flags().StringVar(&api.OperatorKey, "operator-key", "", "the local operator's key: the API signs decisions with it (overrides api.operator_key)")
	return c
}

// startAPI serves the node's HTTP API and dashboard when cfg.API.Listen is
// set (nil otherwise), and prints its address. releaseKey (seeds only) lets
// the API sign recalls.
func startAPI(cmd *cobra.Command, n *node.Node, cfg *node.Config, releaseKey string) (*node.API, error) {
	if cfg.API.Listen == "" {
		return nil, nil
	}
	tokenFile := cfg.API.TokenFile
	if tokenFile == "" {
		tokenFile = filepath.Join(cfg.Resolve(cfg.DataDir), "api.token")
	} else {
		tokenFile = cfg.Resolve(tokenFile)
	}
	token, err := node.LoadOrCreateAPIToken(tokenFile)
	if err != nil {
		return nil, err
	}
	var opts []node.APIOption
	if cfg.API.OperatorKey != "" {
		k, err := trust.LoadPrivateKey(cfg.Resolve(cfg.API.OperatorKey))
		if err != nil {
			return nil, fmt.Errorf("%w: api.operator_key: %w", node.ErrConfig, err)
		}
		opts = append(opts, node.WithOperatorKey(k))
	}
	if releaseKey != "" {
		k, err := trust.LoadPrivateKey(releaseKey)
		if err != nil {
			return nil, fmt.Errorf("--recall-key: %w", err)
		}
		opts = append(opts, node.WithReleaseKey(k))
	}
	api, err := n.ServeAPI(cfg.API.Listen, token, opts...)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "dashboard: http://%s/ (API token in %s)\n", api.Addr(), tokenFile)
	return api, nil
}
