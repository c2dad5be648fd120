package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	// Embed the IANA time zone database, so that the time zones an owner
	// policy names resolve the same on every machine, including devices
	// without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

func init() { register(newPolicyCmd) }

// Defaults of the built-in sample advisory of `tocsin policy check`.
const (
	policySampleSeverity = "CRITICAL"
	policySampleRelease  = "example-fw@1.0.1"
)

func newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Check the asset owner's policy file",
		Long: `Work with the asset owner's policy file (IEC 62443-2-3 patch management): the
operator keys whose signed decisions count, the zones and their target
security levels, the device groups with their maintenance windows and
safety classification (IEC TR 63069), the rules that authorise releases
without an operator, and the staged rollout.

  check  validate a policy file and show what it does with an advisory`,
		Example: `  tocsin policy check owner-policy.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	c.AddCommand(newPolicyCheckCmd())
	return c
}

func newPolicyCheckCmd() *cobra.Command {
	var advisoryFile, severity, release, at string
	c := &cobra.Command{
		Use:   "check FILE [--advisory CSAF.json | --severity SEV --release PRODUCT@VERSION]",
		Short: "Validate an owner policy file and show what it does with an advisory",
		Long: `Read an asset-owner policy file (FILE, or - for standard input), check it
strictly and print, for one advisory, what happens in each device group:

  zone       the group's zone and its target security level (SL-T)
  mandatory  whether the advisory's severity must be fixed at that SL
             (SL1: CRITICAL, SL2: HIGH+, SL3: MEDIUM+, SL4: LOW+)
  decision   the authorisation before any operator decision: authorised by
             an auto_authorise rule, or in-internal-test awaiting an
             operator ('tocsin authorise' / 'tocsin reject'); safety-related
             groups always wait for an authorisation carrying a safety
             impact analysis reference (--sia)
  windows    the maintenance windows, and whether they are open now
  waves      when each rollout wave opens

The advisory is a built-in sample (severity ` + policySampleSeverity + `, release ` + policySampleRelease + `,
published now) unless --severity and --release change it, or --advisory
reads a CSAF 2.0 advisory whose vendor_fix names the Tocsin release.

The file is YAML; unknown keys, duplicate keys, undefined zones or groups,
bad windows and out-of-range values are errors that name the line, e.g.

  tocsin: plant.yaml: invalid policy file: line 12: unknown key "windws" in group "line-a-plcs" (...)

A commented example with every field and its default is in the repository
at policy/testdata/owner-policy.yaml:

  version: 1
  fleet: acme-plant-3
  operator_keys: [operator.pub]      # relative to the policy file
  zones:
    - name: cell-1
      target_sl: 2                   # 1..4
  groups:
    - name: line-a-plcs
      zone: cell-1
      safety_related: true           # needs an SIA reference, never automatic
      windows: ["Sat 02:00-06:00"]   # default: any time
      timezone: Europe/Berlin        # default UTC
  auto_authorise:                    # first match wins; default: none
    - min_severity: HIGH
      groups: [line-b-hmis]          # default: every non-safety group
  rollout:                           # defaults shown
    waves: [0.05, 0.25, 1.0]
    soak: 24h
    failure_threshold: 0.1
    min_failures: 1

Operator key files are looked up relative to the policy file and reported
when missing or unreadable; that is a warning, not an error, as the check
may run away from the node. --now evaluates windows at another time (RFC
3339).`,
		Example: `  tocsin policy check owner-policy.yaml
  tocsin policy check owner-policy.yaml --severity MEDIUM --release acme-plc-fw@2.4.1
  tocsin policy check owner-policy.yaml --advisory acme-sa-2025-001.json --now 2025-03-08T02:30:00+01:00`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			now := time.Now().UTC()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return fmt.Errorf("--now must be an RFC 3339 time such as 2025-03-08T02:30:00Z, not %q", at)
				}
				now = t
			}
			data, err := readPolicyFile(cmd, file)
			if err != nil {
				return err
			}
			p, err := policy.ParseOwnerPolicy(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			var adv trust.Advisory
			source := "built-in sample"
			if advisoryFile != "" {
				raw, err := readAdvisoryFile(cmd, advisoryFile)
				if err != nil {
					return err
				}
				if adv, err = csaf.Advisory(raw); err != nil {
					return fmt.Errorf("%s: %w", advisoryFile, err)
				}
				source = advisoryFile
			} else {
				if adv, err = sampleAdvisory(severity, release, now); err != nil {
					return err
				}
			}
			return printPolicyCheck(cmd.OutOrStdout(), file, p, adv, source, now)
		},
	}
	f := c.Flags()
	f.StringVar(&advisoryFile, "advisory", "", "a CSAF 2.0 advisory to evaluate (- for standard input) instead of the sample")
	f.StringVar(&severity, "severity", policySampleSeverity, "severity of the sample advisory: NONE, LOW, MEDIUM, HIGH or CRITICAL")
	f.StringVar(&release, "release", policySampleRelease, "release of the sample advisory, PRODUCT@VERSION")
	f.StringVar(&at, "now", "", "evaluate at this time (RFC 3339) instead of now")
	c.MarkFlagsMutuallyExclusive("advisory", "severity")
	c.MarkFlagsMutuallyExclusive("advisory", "release")
	return c
}

// readPolicyFile reads a policy file or standard input ("-"), reading one
// byte more than policy.MaxPolicyFileSize so that the parser can refuse it.
func readPolicyFile(cmd *cobra.Command, path string) ([]byte, error) {
	return readInput(cmd, path, policy.MaxPolicyFileSize+1)
}

// sampleAdvisory builds the advisory `policy check` evaluates without
// --advisory.
func sampleAdvisory(severity, release string, now time.Time) (trust.Advisory, error) {
	sev := strings.ToUpper(strings.TrimSpace(severity))
	if _, err := policy.Mandatory(1, sev); errors.Is(err, policy.ErrUnknownSeverity) {
		return trust.Advisory{}, fmt.Errorf("--severity must be NONE, LOW, MEDIUM, HIGH or CRITICAL, not %q", severity)
	}
	product, version, ok := strings.Cut(release, "@")
	if !ok || trust.CheckProduct(product) != nil || trust.CheckVersion(version) != nil {
		return trust.Advisory{}, fmt.Errorf("--release must be PRODUCT@VERSION, e.g. acme-plc-fw@2.4.1, not %q", release)
	}
	return trust.Advisory{
		ID: "SAMPLE-" + sev, Title: "sample " + strings.ToLower(sev) + " advisory",
		Product: product, FixedVersion: version, ReleaseID: trust.ReleaseID(product, version),
		Severity: sev, Published: now, Seq: 1,
	}, nil
}

func printPolicyCheck(w io.Writer, file string, p *policy.OwnerPolicy, adv trust.Advisory, source string, now time.Time) error {
	var b strings.Builder
	fleet := ""
	if p.Fleet != "" {
		fleet = ", fleet " + p.Fleet
	}
	fmt.Fprintf(&b, "%s: valid owner policy, version %d%s: %d zones, %d groups, %d auto_authorise rules\n",
		file, p.Version, fleet, len(p.Zones), len(p.Groups), len(p.AutoAuthorise))
	if len(p.OperatorKeys) == 0 {
		b.WriteString("operator keys: none (no operator decision is accepted; only auto_authorise rules authorise)\n")
	} else {
		dir := "."
		if file != "-" {
			dir = filepath.Dir(file)
		}
		for _, k := range p.OperatorKeys {
			path := k
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, k)
			}
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(&b, "operator key: %s: warning: %s does not exist\n", k, path)
			} else if pk, err := trust.LoadPublicKey(path); err != nil {
				fmt.Fprintf(&b, "operator key: %s: warning: %s\n", k, oneLine(err.Error()))
			} else {
				fmt.Fprintf(&b, "operator key: %s (key id %s)\n", k, pk.KeyID())
			}
		}
	}
	fmt.Fprintf(&b, "rollout: %s\n", describeRollout(p.Rollout))
	sev := adv.Severity
	if sev == "" {
		sev = "none given"
	}
	fmt.Fprintf(&b, "advisory: %s (%s), release %s, severity %s, published %s\n",
		adv.ID, source, adv.ReleaseID, sev, adv.Published.Format(time.RFC3339))
	fmt.Fprintf(&b, "evaluated at: %s\n", now.Format(time.RFC3339))
	for _, o := range policy.Sample(p, adv) {
		g := o.Group
		safety := ""
		if g.SafetyRelated {
			safety = " (safety-related)"
		}
		fmt.Fprintf(&b, "\ngroup %s%s\n", g.Name, safety)
		fmt.Fprintf(&b, "  zone:       %s, target SL %d\n", o.Zone.Name, o.Zone.TargetSL)
		switch {
		case o.Severity == "":
			b.WriteString("  mandatory:  unknown: the advisory has no severity\n")
		case o.Mandatory:
			fmt.Fprintf(&b, "  mandatory:  yes, %s must be fixed at SL %d\n", o.Severity, o.Zone.TargetSL)
		default:
			fmt.Fprintf(&b, "  mandatory:  no, %s is below what SL %d requires\n", o.Severity, o.Zone.TargetSL)
		}
		a := o.Authorisation
		fmt.Fprintf(&b, "  decision:   %s: %s\n", a.State, a.Reason)
		fmt.Fprintf(&b, "  windows:    %s\n", policy.WindowReason(g, now))
		fmt.Fprintf(&b, "  waves:      %s\n", describeWaves(p.Rollout, a))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// percent formats a share of the fleet.
func percent(share float64) string {
	return strconv.FormatFloat(share*100, 'g', 4, 64) + "%"
}

// shortDuration prints whole hours as "24h" rather than "24h0m0s".
func shortDuration(d time.Duration) string {
	if d != 0 && d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

func describeRollout(r policy.Rollout) string {
	plan, err := r.Plan()
	if err != nil {
		return err.Error()
	}
	shares := make([]string, len(plan))
	for i, s := range plan {
		shares[i] = percent(s)
	}
	return fmt.Sprintf("waves %s of the fleet, %s soak between waves, halt when more than %s of a wave's installations fail (and at least %d)",
		strings.Join(shares, ", "), shortDuration(r.Soak), percent(r.FailureThreshold), max(r.MinFailures, 1))
}

// describeWaves says when each wave opens: as times when the release is
// authorised, as offsets from the authorisation otherwise.
func describeWaves(r policy.Rollout, a policy.Authorisation) string {
	plan, err := r.Plan()
	if err != nil {
		return err.Error()
	}
	parts := make([]string, len(plan))
	for i, s := range plan {
		off := time.Duration(i) * r.Soak
		switch {
		case a.State == policy.StateAuthorised:
			parts[i] = fmt.Sprintf("%s from %s", percent(s), a.At.Add(off).Format(time.RFC3339))
		case i == 0:
			parts[i] = percent(s) + " at authorisation"
		default:
			parts[i] = fmt.Sprintf("%s %s later", percent(s), shortDuration(off))
		}
	}
	return strings.Join(parts, ", ")
}
