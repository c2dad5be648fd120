package cli

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/progress"
	"github.com/tocsin-iiot/tocsin/internal/units"
	"github.com/tocsin-iiot/tocsin/node"
)

func init() { register(newExportCmd); register(newImportCmd) }

func newExportCmd() *cobra.Command {
	var dataDir, out string
	c := &cobra.Command{
		Use:   "export RELEASE --data DIR -o FILE.car",
		Short: "Write a release, its signed documents and every block as a CAR file (air gap)",
		Long: `Write release PRODUCT@VERSION from the node (or seed) on --data as one CAR file:
the release's whole DAG and the signed documents a device needs (roots, the
manifest, its advisories and recalls, the owner's decisions and roster). Carry
it across the air gap and 'tocsin import' it on any node there, which verifies
everything before it stores anything. Works with the node running (through its
control socket) or stopped (reading its store).`,
		Example: `  tocsin export acme-plc-fw@2.4.1 --data ./seed-data -o acme-plc-fw-2.4.1.car`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("-o FILE.car is required")
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			var st content.BundleStats
			ctl := node.NewControlClient(dataDir)
			if ctl.Alive(cmd.Context()) {
				err = ctl.Call(cmd.Context(), http.MethodPost, "/v1/export", node.ExportRequest{Release: args[0], Path: abs}, &st)
			} else {
				bar := progress.New(cmd.ErrOrStderr(), 0, "export "+args[0])
				err = fsutil.WriteAtomicFunc(abs, 0o644, func(w io.Writer) error {
					var err error
					st, err = node.ExportCAROffline(cmd.Context(), dataDir, bar.Writer(w), args[0])
					return err
				})
				bar.Finish()
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d blocks (%s of DAG)\n", out, args[0], st.Blocks, units.Bytes(st.DAGBytes))
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "seed-data", "data dir of the node or seed holding the release")
	c.Flags().StringVarP(&out, "out", "o", "", "output CAR file")
	return c
}

func newImportCmd() *cobra.Command {
	var dataDir string
	c := &cobra.Command{
		Use:   "import FILE.car --data DIR",
		Short: "Verify a CAR file from 'tocsin export' and hand it to the running node",
		Long: `Hand a CAR file written by 'tocsin export' to the node running on --data. The
node verifies every signed document exactly as if it had come by gossip and
every block against its content address, checks the DAG is the one the signed
manifest names, and only then stores the blocks. It then installs the release
if it applies and is authorised, and serves the blocks to its neighbours.`,
		Example: `  tocsin import /media/usb/acme-plc-fw-2.4.1.car --data /var/lib/tocsin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			var res node.ImportResult
			if err := node.NewControlClient(dataDir).Call(cmd.Context(), http.MethodPost, "/v1/import", node.ImportRequest{Path: abs}, &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s: %d blocks (%s), %d documents\n", res.Release, res.Blocks, units.Bytes(res.Bytes), len(res.Documents))
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "/var/lib/tocsin", "data dir of the running node")
	return c
}
