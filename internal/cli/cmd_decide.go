package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/cvss"
	"github.com/tocsin-iiot/tocsin/policy"
)

func init() { register(newDecideCmd) }

// decideJSON is the --json output of tocsin decide.
type decideJSON struct {
	Class        string  `json:"class"`
	DeadlineDays int     `json:"deadline_days"`
	BaseScore    float64 `json:"base_score"`
	Severity     string  `json:"severity"`
	Due          string  `json:"due,omitempty"`
}

func newDecideCmd() *cobra.Command {
	var (
		vector, exploited, workaround, published string
		deployed                                 int
		asJSON                                   bool
	)
	c := &cobra.Command{
		Use:   "decide --cvss VECTOR --exploited active|poc|none --workaround yes|no --deployed N",
		Short: "Decide how fast a supplier must deliver a security fix (IEC 62443-4-1 SUM-5)",
		Long: `Score a CVSS 3.0, 3.1 or 4.0 vector and decide the delivery class and
deadline of the fix, following the supplier's delivery decision tree
(IEC 62443-4-1 SUM-5):

  1. base class by severity and exploitation:
       severity            none          poc           active
       CRITICAL 9.0-10.0   expedited     expedited     immediate
       HIGH     7.0-8.9    scheduled     expedited     immediate
       MEDIUM   4.0-6.9    next-release  scheduled     expedited
       LOW      0.1-3.9    next-release  next-release  scheduled
       NONE     0.0        next-release  (final)
  2. no workaround: one class more urgent
  3. 1000 or more deployed systems, MEDIUM or above: one class more urgent
  4. not exploited at all: at most expedited

  immediate 7 days, expedited 30, scheduled 90, next-release 180.

The last line of the output starts with the deadline in days, e.g.
"30 days (class: expedited)". With --published the deadline date is printed
too. With --json one JSON object is printed instead:
{"class", "deadline_days", "base_score", "severity"} (and "due" with
--published).`,
		Example: `  tocsin decide --cvss 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' \
      --exploited active --workaround no --deployed 1200
  tocsin decide --cvss 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H' \
      --exploited none --workaround yes --deployed 40 --published 2025-03-01 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := cvss.Score(vector)
			if err != nil {
				return fmt.Errorf("--cvss: %w", err)
			}
			x, _ := policy.ParseExploitation(exploited)
			wa, _ := parseYesNo(workaround)
			d, err := deliveryDecision(vector, exploited, workaround, deployed)
			if err != nil {
				return err
			}
			var pub time.Time
			dateOnly := false
			if published != "" {
				if pub, dateOnly, err = parsePublished(published); err != nil {
					return err
				}
			}
			due := ""
			if published != "" {
				layout := time.RFC3339
				if dateOnly {
					layout = time.DateOnly
				}
				due = policy.Deadline(pub, d).Format(layout)
			}

			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(decideJSON{
					Class: d.Class.String(), DeadlineDays: d.Days, BaseScore: res.BaseScore, Severity: res.Severity, Due: due,
				})
			}
			yn := map[bool]string{true: "yes", false: "no"}
			fmt.Fprintf(out, "score:      %.1f %s (CVSS %s)\n", res.BaseScore, res.Severity, res.Version)
			fmt.Fprintf(out, "exploited:  %s\n", x)
			fmt.Fprintf(out, "workaround: %s\n", yn[wa])
			fmt.Fprintf(out, "deployed:   %d\n", deployed)
			fmt.Fprintf(out, "reason:     %s\n", d.Reason)
			if due != "" {
				fmt.Fprintf(out, "due:        %s\n", due)
			}
			fmt.Fprintf(out, "%d days (class: %s)\n", d.Days, d.Class)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&vector, "cvss", "", "CVSS 3.0, 3.1 or 4.0 vector, e.g. CVSS:3.1/AV:N/...")
	f.StringVar(&exploited, "exploited", "", "known exploitation: active, poc or none")
	f.StringVar(&workaround, "workaround", "", "whether a workaround exists: yes or no")
	f.IntVar(&deployed, "deployed", 0, "number of deployed systems affected")
	f.StringVar(&published, "published", "", "publication date (YYYY-MM-DD or RFC 3339) to print the due date")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	for _, name := range []string{"cvss", "exploited", "workaround", "deployed"} {
		_ = c.MarkFlagRequired(name) // cannot fail: the flags exist
	}
	return c
}

func parseYesNo(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "true":
		return true, nil
	case "no", "n", "false":
		return false, nil
	}
	return false, fmt.Errorf("not yes or no: %q", s)
}

// parsePublished reads YYYY-MM-DD (UTC midnight) or an RFC 3339 time and
// reports whether it was a bare date.
func parsePublished(s string) (time.Time, bool, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, fmt.Errorf("--published must be YYYY-MM-DD or RFC 3339, not %q", s)
}

// deliveryDecision runs the SUM-5 decision tree from command-line values.
func deliveryDecision(vector, exploited, workaround string, deployed int) (policy.DeliveryDecision, error) {
	res, err := cvss.Score(vector)
	if err != nil {
		return policy.DeliveryDecision{}, fmt.Errorf("--cvss: %w", err)
	}
	x, err := policy.ParseExploitation(exploited)
	if err != nil {
		return policy.DeliveryDecision{}, fmt.Errorf("--exploited must be active, poc or none, not %q", exploited)
	}
	wa, err := parseYesNo(workaround)
	if err != nil {
		return policy.DeliveryDecision{}, fmt.Errorf("--workaround must be yes or no, not %q", workaround)
	}
	if deployed < 0 {
		return policy.DeliveryDecision{}, fmt.Errorf("--deployed must be 0 or more, not %d", deployed)
	}
	return policy.DecideDelivery(policy.DeliveryInput{Score: res.BaseScore, Exploitation: x, Workaround: wa, Deployed: deployed})
}
