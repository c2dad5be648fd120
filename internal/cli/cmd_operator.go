package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/node"
)

func init() {
	register(func() *cobra.Command { return newDecisionCmd(trust.DecisionAuthorise) })
	register(func() *cobra.Command { return newDecisionCmd(trust.DecisionReject) })
}

// newDecisionCmd builds `tocsin authorise` and `tocsin reject`.
func newDecisionCmd(action string) *cobra.Command {
	var d trust.Decision
	var key, dataDir string
	short := "Authorise a release for a device group (signed operator decision)"
	if action == trust.DecisionReject {
		short = "Reject a release for a device group (signed operator decision)"
	}
	c := &cobra.Command{
		Use:   action + " --key OPERATOR.key --release PRODUCT@VERSION [--group G] [--sia REF] --data DIR",
		Short: short,
		Long: `Sign an operator decision with the asset owner's operator key and hand it to
the node running on --data, which verifies it against the operator keys in
its owner policy and gossips it to the fleet. A later decision for the same
release and group supersedes an earlier one. Safety-related groups install
only after an authorisation that carries a safety impact analysis reference
(--sia), per IEC TR 63069.`,
		Example: `  tocsin authorise --key operator.key --release acme-plc-fw@2.4.1 --group line-a --sia SIA-2026-017 --data /var/lib/tocsin
  tocsin reject --key operator.key --release acme-plc-fw@2.4.1 --reason "breaks the OPC UA gateway" --data /var/lib/tocsin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := trust.LoadPrivateKey(key)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			d.Action, d.Issued, d.Seq = action, now, uint64(now.UnixMilli())
			env, err := trust.SignDecision(d, k)
			if err != nil {
				return err
			}
			keys, err := node.NewControlClient(dataDir).Announce(cmd.Context(), env.Marshal())
			if err != nil {
				return err
			}
			printAnnounced(cmd, keys)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&key, "key", "operator.key", "the operator's signing key")
	f.StringVar(&d.Release, "release", "", "release id, product@version")
	f.StringVar(&d.Group, "group", "", "device group (default: every group)")
	f.StringVar(&d.SIA, "sia", "", "safety impact analysis reference")
	f.StringVar(&d.Reason, "reason", "", "why (kept in the audit trail)")
	f.StringVar(&dataDir, "data", "/var/lib/tocsin", "data dir of a node of the fleet on this machine")
	return c
}
