package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/node"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var dataDir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--data DIR] [--json]",
		Short: "Show this node and the fleet view: each release's devices per lifecycle state, overdue devices",
		Long: `Show the node on --data (asked over its control socket, or read from
status.json when it is not running) and the fleet view it builds from every
device's signed status report: per release, how many devices are in each
IEC 62443-2-3 lifecycle state, per rollout wave, and which are past the
advisory's delivery deadline without the release installed.`,
		Example: `  tocsin status --data /var/lib/tocsin
  tocsin status --data /var/lib/tocsin --json | jq .fleet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := node.NewControlClient(dataDir).Status(cmd.Context())
			if err != nil {
				if st, err = node.ReadStatus(dataDir); err != nil {
					return fmt.Errorf("no node answers on %s and %w", dataDir, err)
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "/var/lib/tocsin", "the node's data dir")
	c.Flags().BoolVar(&asJSON, "json", false, "print the whole status as JSON")
	return c
}

func printStatus(w io.Writer, st node.Status) {
	fmt.Fprintf(w, "node %s (%s", st.PeerID, st.Role)
	if st.Group != "" {
		fmt.Fprintf(w, ", group %s", st.Group)
	}
	fmt.Fprintf(w, "), %d peers, root v%d, %s\n", st.Peers, st.Trust.RootVersion, st.Trust.Freshness.Detail)
	ids := make([]string, 0, len(st.Releases))
	for id := range st.Releases {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := st.Releases[id]
		line := fmt.Sprintf("  %-28s %-10s lifecycle %-16s", id, r.Phase, r.Lifecycle.State)
		if r.Gate != "" {
			line += " waiting: " + r.Gate
		} else if r.Error != "" {
			line += " " + r.Error
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if len(st.Fleet) == 0 {
		return
	}
	fmt.Fprintln(w, "fleet:")
	ids = ids[:0]
	for id := range st.Fleet {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fr := st.Fleet[id]
		states := make([]string, 0, len(fr.States))
		for s, n := range fr.States {
			states = append(states, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(states)
		fmt.Fprintf(w, "  %-28s %s\n", id, strings.Join(states, ", "))
		for _, o := range fr.Overdue {
			fmt.Fprintf(w, "    overdue: %s\n", o)
		}
	}
}
