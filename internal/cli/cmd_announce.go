package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/seed"
)

func init() { register(newAnnounceCmd); register(newRecallCmd) }

func newAnnounceCmd() *cobra.Command {
	var seedDir string
	c := &cobra.Command{
		Use:   "announce FILE... [--seed-dir DIR | --data DIR]",
		Short: "Hand signed documents (roots, recalls, rosters, decisions) to a running node to verify and gossip",
		Long: `Hand signed documents to the running seed: a rotated root from 'tocsin root
rotate', a recall, a re-signed manifest. The seed verifies each exactly as a
device would and refuses what a device would refuse, then gossips it.`,
		Example: `  tocsin announce --seed-dir ./seed-data root-v2.json`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var envs [][]byte
			for _, a := range args {
				b, err := os.ReadFile(a)
				if err != nil {
					return err
				}
				envs = append(envs, b)
			}
			keys, err := seed.NewClient(seedDir).Announce(cmd.Context(), envs...)
			if err != nil {
				return err
			}
			printAnnounced(cmd, keys)
			return nil
		},
	}
	c.Flags().StringVar(&seedDir, "seed-dir", "seed-data", "data dir of the seed (or of any node) on this machine")
	c.Flags().StringVar(&seedDir, "data", "seed-data", "same as --seed-dir")
	return c
}

func newRecallCmd() *cobra.Command {
	var seedDir, key, product, version, reason string
	c := &cobra.Command{
		Use:   "recall --product ID --version V --reason TEXT",
		Short: "Withdraw a release: devices stop fetching it and roll back if they installed it",
		Long: `Sign a recall of a release with the release key and hand it to the seed, which
gossips it. Devices stop fetching the release; a device that installed it runs
its installer.rollback command, returns to the version it ran before, and
reports the recall in its status.`,
		Example: `  tocsin recall --key release.key --product acme-plc-fw --version 2.4.1 --reason "bricks rev A boards"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if product == "" || version == "" || reason == "" {
				return fmt.Errorf("--product, --version and --reason are required")
			}
			keys, err := seed.Recall(cmd.Context(), seedDir, key, product, version, reason, time.Now())
			if err != nil {
				return err
			}
			printAnnounced(cmd, keys)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&seedDir, "seed-dir", "seed-data", "the seed's data dir")
	f.StringVar(&key, "key", "supplier.key", "release signing key")
	f.StringVar(&product, "product", "", "product id")
	f.StringVar(&version, "version", "", "recalled version")
	f.StringVar(&reason, "reason", "", "why (shown on every device)")
	return c
}

func printAnnounced(cmd *cobra.Command, keys []string) {
	for _, k := range keys {
		fmt.Fprintf(cmd.OutOrStdout(), "announced %s\n", k)
	}
}
