package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

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
			printAddrs(cmd, s.Node)
			<-cmd.Context().Done()
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
	f.DurationVar(&superSeed, "super-seed-interval", 2*time.Second, "super-seeding: one more peer per block per interval (0 = off)")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	return c
}

func newNodeCmd() *cobra.Command {
	var path, upload, download string
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
			if upload != "" || download != "" {
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
			printAddrs(cmd, n)
			<-cmd.Context().Done()
			ctl.Close()
			return n.Close()
		},
	}
	c.Flags().StringVar(&path, "config", "", "config file (YAML)")
	c.Flags().StringVar(&upload, "max-upload-rate", "", "cap bitswap upload, e.g. 1MiB/s (overrides the config)")
	c.Flags().StringVar(&download, "max-download-rate", "", "cap block fetching, e.g. 2MiB/s (overrides the config)")
	return c
}
