package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/units"
	"github.com/tocsin-iiot/tocsin/policy"
	"github.com/tocsin-iiot/tocsin/seed"
)

func init() { register(newPublishCmd) }

func newPublishCmd() *cobra.Command {
	var p seed.Publication
	var chunk string
	var asJSON bool
	var deadlineDays, deployed int
	var exploited, workaround string
	c := &cobra.Command{
		Use:   "publish --product ID --version V --file PATH",
		Short: "Sign a release and its advisory and hand them to the seed",
		Long: `Publish a release: chunk the file into a UnixFS DAG, sign a release manifest
(product, version, sequence number, root CID, size, sha256, hardware, the
versions it applies to, expiry) with the release key and a CSAF 2.0 advisory
whose vendor_fix points at it with the advisory key, and hand both to the seed
running on --seed-dir. The seed verifies the signatures against its trust
root, stores the blocks in its badger store, checks them against the manifest
and gossips both to the fleet.

With --start-seed, a seed trusting --root is started in the background if none
runs.`,
		Example: `  tocsin publish --key supplier.key --seed-dir ./seed-data \
      --product acme-plc-fw --version 2.4.1 --file fw-2.4.1.bin \
      --cvss 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' --cve CVE-2026-1234 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p.Product == "" || p.Version == "" || p.File == "" {
				return fmt.Errorf("--product, --version and --file are required")
			}
			if chunk != "auto" {
				n, err := units.ParseBytes(chunk)
				if err != nil {
					return fmt.Errorf("--chunk-size: %w", err)
				}
				p.ChunkSize = int(n)
			}
			if p.Chunker != "" {
				if _, err := content.MaxLeaf(p.Chunker); err != nil {
					return fmt.Errorf("--chunker: %w", err)
				}
			}
			p.Now = time.Now()
			if deadlineDays > 0 {
				p.Deadline = p.Now.Add(time.Duration(deadlineDays) * 24 * time.Hour).UTC()
			}
			if exploited != "" {
				if deadlineDays > 0 {
					return fmt.Errorf("give --deadline-days or --exploited, not both")
				}
				d, err := deliveryDecision(p.CVSS, exploited, workaround, deployed)
				if err != nil {
					return err
				}
				p.Deadline = policy.Deadline(p.Now.UTC(), d)
				fmt.Fprintf(cmd.ErrOrStderr(), "delivery: %s, %d days (%s)\n", d.Class, d.Days, d.Reason)
			}
			p.Progress = cmd.ErrOrStderr() // a bar while the file is chunked, on a terminal only
			res, err := seed.Publish(cmd.Context(), p)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				return enc.Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %s: root %s, %s, sha256 %s\n", res.ReleaseID, res.RootCID, units.Bytes(res.Size), res.SHA256)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&p.Product, "product", "", "product id")
	f.StringVar(&p.Version, "version", "", "release version")
	f.StringVar(&p.File, "file", "", "the release file")
	f.StringVar(&p.KeyPath, "key", "supplier.key", "release signing key")
	f.StringVar(&p.AdvisoryKeyPath, "advisory-key", "", "advisory signing key (default: --key)")
	f.StringVar(&p.RootPath, "root", "root.json", "trust root for a seed started with --start-seed")
	f.StringSliceVar(&p.Hardware, "hardware", nil, "hardware id the release is for (repeatable; default any)")
	f.StringSliceVar(&p.AppliesTo, "applies-to", nil, `versions it may be applied to, e.g. ">=2.0 <2.4" (repeatable; default any)`)
	f.Uint64Var(&p.Seq, "seq", 0, "sequence number (default: now in Unix milliseconds)")
	f.StringVar(&p.DeltaFrom, "delta-from", "", "the previous version's file: also publish a delta from it")
	f.StringVar(&p.DeltaFromVersion, "delta-from-version", "", "the version --delta-from is")
	f.DurationVar(&p.ValidFor, "valid-for", 365*24*time.Hour, "how long the manifest stays valid")
	f.StringVar(&p.SeedDir, "seed-dir", "seed-data", "the seed's data dir")
	f.StringVar(&chunk, "chunk-size", "auto", "DAG leaf size; auto: the power of two giving at most 256 leaves, 16 KiB to 256 KiB")
	f.StringVar(&p.Chunker, "chunker", "", "content-defined leaves instead of fixed ones, e.g. rabin-16384-65536-262144 (MIN-AVG-MAX bytes): versions that moved code share more blocks")
	f.StringVar(&p.AdvisoryID, "advisory-id", "", "advisory id (default TSA-<product>-<version>)")
	f.StringVar(&p.Title, "title", "", "advisory title")
	f.StringVar(&p.CVSS, "cvss", "", "CVSS 3.x or 4.0 vector")
	f.StringSliceVar(&p.CVEs, "cve", nil, "CVE id (repeatable)")
	f.IntVar(&deadlineDays, "deadline-days", 0, "delivery deadline in days from now (0 = none)")
	f.StringVar(&exploited, "exploited", "", "active, poc or none: set the deadline by the SUM-5 decision tree (as tocsin decide)")
	f.StringVar(&workaround, "workaround", "no", "with --exploited: is there a workaround, yes or no")
	f.IntVar(&deployed, "deployed", 0, "with --exploited: number of deployed systems affected")
	f.BoolVar(&p.StartSeed, "start-seed", false, "start a seed in the background if none runs")
	f.StringSliceVar(&p.Listen, "listen", nil, "listen multiaddrs for a seed started with --start-seed")
	f.BoolVar(&asJSON, "json", false, `print {"release_id","root_cid","sha256","size"}`)
	return c
}
