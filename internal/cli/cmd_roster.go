package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

func init() { register(newRosterCmd) }

func newRosterCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "roster",
		Short: "Enrol and revoke devices: the owner's signed fleet roster",
		Long: `The fleet roster is the asset owner's signed list of enrolled peers: each
peer's zone and role (device, gateway, seed), the zones a gateway joins
(conduits, IEC 62443-3-2), and revoked peers. Nodes with admission
"enrolled" refuse any other peer before a single protocol stream opens, and
peer only within their zone or through a conduit. Every change is a new
roster version, signed with an operator key from the owner policy; hand it to
the fleet with 'tocsin announce --seed-dir DIR roster.json' (any node's data
dir) and give the file to new devices as their config's roster.`,
	}
	var key, file string
	var fleet string
	var zone, role string
	var conduits []string
	edit := func(use, short string, change func(r *trust.Roster, args []string) error) *cobra.Command {
		cmd := &cobra.Command{
			Use:     use,
			Short:   short,
			Example: rosterExamples,
			RunE: func(cmd *cobra.Command, args []string) error {
				k, err := trust.LoadPrivateKey(key)
				if err != nil {
					return err
				}
				var r trust.Roster
				if cmd.Name() != "new" {
					env, err := readEnvelope(file)
					if err != nil {
						return err
					}
					doc, err := trust.OpenOwner(env.Marshal(), []trust.PublicKey{k.Public()})
					if err != nil || doc.Roster == nil {
						return fmt.Errorf("%s: not a roster signed by this key: %v", file, err)
					}
					r = *doc.Roster
				}
				if err := change(&r, args); err != nil {
					return err
				}
				now := time.Now().UTC()
				r.Issued, r.Seq = now, max(r.Seq+1, uint64(now.UnixMilli()))
				env, err := trust.SignRoster(r, k)
				if err != nil {
					return err
				}
				if cmd.Name() == "new" {
					err = fsutil.WriteNew(file, env.Marshal(), 0o644)
				} else {
					err = fsutil.WriteAtomic(file, env.Marshal(), 0o644)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: roster %s seq %d, %d members, %d revoked\n", file, r.Fleet, r.Seq, len(r.Members), len(r.Revoked))
				return nil
			},
		}
		cmd.Flags().StringVar(&key, "key", "operator.key", "operator signing key (named in the owner policy)")
		cmd.Flags().StringVar(&file, "roster", "roster.json", "the roster file")
		return cmd
	}
	newCmd := edit("new --fleet NAME --roster roster.json", "Start an empty roster", func(r *trust.Roster, _ []string) error {
		r.Fleet = fleet
		return nil
	})
	newCmd.Flags().StringVar(&fleet, "fleet", "", "fleet name")
	add := edit("add PEER_ID --zone Z [--role device|gateway|seed] [--conduit ZONE]...", "Enrol a peer (or change its zone, role, conduits)",
		func(r *trust.Roster, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one peer ID")
			}
			if _, err := peer.Decode(args[0]); err != nil {
				return fmt.Errorf("peer ID %q: %w", args[0], err)
			}
			m := trust.Member{Peer: args[0], Zone: zone, Role: role, Conduits: conduits}
			r.Members = slices.DeleteFunc(r.Members, func(x trust.Member) bool { return x.Peer == m.Peer })
			r.Members = append(r.Members, m)
			r.Revoked = slices.DeleteFunc(r.Revoked, func(p string) bool { return p == m.Peer })
			return nil
		})
	add.Flags().StringVar(&zone, "zone", "", "the peer's zone")
	add.Flags().StringVar(&role, "role", trust.MemberDevice, "device, gateway or seed")
	add.Flags().StringSliceVar(&conduits, "conduit", nil, "for a gateway: another zone it joins (repeatable)")
	revoke := edit("revoke PEER_ID", "Revoke a peer: every node refuses it and drops its connections", func(r *trust.Roster, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("want one peer ID")
		}
		if !slices.Contains(r.Revoked, args[0]) {
			r.Revoked = append(r.Revoked, args[0])
		}
		return nil
	})
	show := &cobra.Command{
		Use:     "show FILE",
		Short:   "Print a roster",
		Example: "  tocsin roster show roster.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := readEnvelope(args[0])
			if err != nil {
				return err
			}
			if env.PayloadType != trust.TypeRoster {
				return fmt.Errorf("%s is a %s, not a roster", args[0], env.PayloadType)
			}
			var r trust.Roster
			if err := json.Unmarshal(env.Payload, &r); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "roster %s seq %d issued %s (signature not checked: show does not know the operator keys)\n", r.Fleet, r.Seq, r.Issued.Format(time.RFC3339))
			for _, m := range r.Members {
				state := ""
				if r.IsRevoked(m.Peer) {
					state = " REVOKED"
				}
				fmt.Fprintf(w, "  %-52s %-8s zone %s%s%s\n", m.Peer, m.Role, m.Zone, conduitList(m.Conduits), state)
			}
			return nil
		},
	}
	c.AddCommand(newCmd, add, revoke, show)
	return c
}

func conduitList(z []string) string {
	if len(z) == 0 {
		return ""
	}
	return " conduits " + strings.Join(z, ",")
}

const rosterExamples = `  tocsin roster new --key operator.key --fleet plant-a --roster roster.json
  tocsin roster add 12D3KooW... --zone cell-1 --role device --key operator.key --roster roster.json
  tocsin roster add 12D3KooW... --zone dmz --role gateway --conduit cell-1 --key operator.key --roster roster.json
  tocsin roster revoke 12D3KooW... --key operator.key --roster roster.json
  tocsin announce --seed-dir /var/lib/tocsin roster.json`
