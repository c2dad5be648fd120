package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

func init() { register(newCVSSCmd) }

func newCVSSCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "cvss VECTOR",
		Short: "Print the base score and severity of a CVSS vector",
		Long: `Score a CVSS 3.0, 3.1 or 4.0 vector and print its base score, severity and
version. The first token of the output is the score, so scripts can cut it:

  9.8 CRITICAL (CVSS 3.1)

For a CVSS 4.0 vector carrying threat or environmental metrics the score is
the CVSS-BT, -BE or -BTE score of the vector. Scores come from the
github.com/pandatix/go-cvss library. Where the exact CVSS 4.0 score is a tie
at x.x5 the library can print a tenth less than Red Hat's reference
implementation: it rounds the floating-point value, as FIRST's calculator code
does, and that value may sit just below the tie.

--json prints {"version", "vector", "base_score", "severity"}.`,
		Example: `  tocsin cvss 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'
  tocsin cvss --json 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := cvss.Score(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(cvssJSON{Version: r.Version, Vector: r.Vector, BaseScore: r.BaseScore, Severity: r.Severity})
			}
			_, err = fmt.Fprintf(out, "%.1f %s (CVSS %s)\n", r.BaseScore, r.Severity, r.Version)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

type cvssJSON struct {
	Version   string  `json:"version"`
	Vector    string  `json:"vector"`
	BaseScore float64 `json:"base_score"`
	Severity  string  `json:"severity"`
}
