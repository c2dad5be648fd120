package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

func init() { register(newRootCmd) }

// roleFlags are the key and threshold flags shared by root init and rotate.
type roleFlags struct {
	keys       map[string]*[]string
	thresholds map[string]*int
	scopes     []string
	expires    time.Duration
}

func addRoleFlags(c *cobra.Command) *roleFlags {
	rf := &roleFlags{keys: map[string]*[]string{}, thresholds: map[string]*int{}}
	f := c.Flags()
	for _, role := range trust.Roles {
		rf.keys[role] = f.StringSlice(role+"-key", nil, "key file (public or private PEM) for the "+role+" role (repeatable)")
		rf.thresholds[role] = f.Int(role+"-threshold", 1, "signatures the "+role+" role needs")
	}
	f.StringSliceVar(&rf.scopes, "scope", nil, "limit a key to products: KEYFILE=prod1,prod2 (repeatable)")
	f.DurationVar(&rf.expires, "expires", 365*24*time.Hour, "how long the root is valid")
	return rf
}

// loadAnyPublic reads a public key from a public or a private PEM file.
func loadAnyPublic(path string) (trust.PublicKey, error) {
	pk, err := trust.LoadPublicKey(path)
	if err == nil {
		return pk, nil
	}
	k, kerr := trust.LoadPrivateKey(path)
	if kerr != nil {
		return trust.PublicKey{}, err
	}
	return k.Public(), nil
}

// apply builds the roles given on the command line into r (keeping roles
// whose flags were not given when r already has them).
func (rf *roleFlags) apply(cmd *cobra.Command, r *trust.Root, version int64, now time.Time) error {
	roles := map[string]trust.RoleKeys{}
	for _, role := range trust.Roles {
		given := cmd.Flags().Changed(role+"-key") || cmd.Flags().Changed(role+"-threshold")
		if !given && r.Roles != nil {
			continue
		}
		paths := *rf.keys[role]
		if len(paths) == 0 {
			paths = *rf.keys[trust.RoleRoot]
		}
		rk := trust.RoleKeys{Threshold: *rf.thresholds[role]}
		for _, p := range paths {
			pk, err := loadAnyPublic(p)
			if err != nil {
				return fmt.Errorf("--%s-key: %w", role, err)
			}
			rk.Keys = append(rk.Keys, pk)
		}
		roles[role] = rk
	}
	fresh := trust.NewRoot(version, now.Add(rf.expires), roles)
	if r.Roles == nil {
		*r = fresh
	} else {
		r.Version, r.Expires = version, fresh.Expires
		for id, k := range fresh.Keys {
			r.Keys[id] = k
		}
		for name, role := range fresh.Roles {
			r.Roles[name] = role
		}
		// Drop keys no role names any more (revoked).
		used := map[string]bool{}
		for _, role := range r.Roles {
			for _, id := range role.KeyIDs {
				used[id] = true
			}
		}
		for id := range r.Keys {
			if !used[id] {
				delete(r.Keys, id)
			}
		}
	}
	for _, s := range rf.scopes {
		path, prods, ok := strings.Cut(s, "=")
		if !ok || prods == "" {
			return fmt.Errorf("--scope %q: want KEYFILE=product[,product]", s)
		}
		pk, err := loadAnyPublic(path)
		if err != nil {
			return fmt.Errorf("--scope: %w", err)
		}
		k, ok := r.Keys[pk.KeyID()]
		if !ok {
			return fmt.Errorf("--scope: %s is not a key of this root", path)
		}
		k.Products = strings.Split(prods, ",")
		r.Keys[pk.KeyID()] = k
	}
	return r.Validate()
}

// readEnvelope reads a signed document file.
func readEnvelope(path string) (trust.Envelope, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return trust.Envelope{}, err
	}
	env, err := trust.ParseEnvelope(data)
	if err != nil {
		return trust.Envelope{}, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

func loadPrivateKeys(paths []string) ([]*trust.PrivateKey, error) {
	var out []*trust.PrivateKey
	for _, p := range paths {
		k, err := trust.LoadPrivateKey(p)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func newRootCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "root",
		Short: "Create, rotate, sign and show the supplier's trust root",
		Long: `The trust root is the supplier's root.json: which keys may sign roots,
releases (and recalls), advisories and heartbeats, how many of them must sign
(the threshold), and until when it is valid. Devices are given it at
enrolment (node config trust_root) and follow rotations: a new root must be
signed by a threshold of the old root's root keys and of its own.`,
	}
	c.AddCommand(newRootInitCmd(), newRootRotateCmd(), newRootSignCmd(), newRootShowCmd())
	return c
}

func newRootInitCmd() *cobra.Command {
	var out string
	var rf *roleFlags
	c := &cobra.Command{
		Use:   "init --root-key KEY... -o root.json",
		Short: "Write version 1 of a trust root, signed by its root keys",
		Long: `Write version 1 of a trust root. Every --root-key must be a private key: they
sign the root. Roles without keys of their own use the root keys. For a
single-key lab setup, one --root-key is enough.`,
		Example: `  tocsin root init --root-key ca1.key --root-key ca2.key --root-key ca3.key --root-threshold 2 \
      --release-key release.key.pub --advisory-key psirt.key.pub --heartbeat-key seed-hb.key.pub \
      --scope release.key.pub=acme-plc-fw -o root.json
  tocsin root init --root-key supplier.key -o root.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" || len(*rf.keys[trust.RoleRoot]) == 0 {
				return fmt.Errorf("--root-key and -o are required")
			}
			signers, err := loadPrivateKeys(*rf.keys[trust.RoleRoot])
			if err != nil {
				return err
			}
			var r trust.Root
			if err := rf.apply(cmd, &r, 1, time.Now().UTC()); err != nil {
				return err
			}
			env, err := trust.SignRoot(r, signers...)
			if err != nil {
				return err
			}
			if err := fsutil.WriteNew(out, env.Marshal(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: root v1, %d keys, valid until %s\n", out, len(r.Keys), r.Expires.Format(time.RFC3339))
			return nil
		},
	}
	rf = addRoleFlags(c)
	c.Flags().StringVarP(&out, "out", "o", "", "output file (never overwritten)")
	return c
}

func newRootRotateCmd() *cobra.Command {
	var from, out string
	var sign []string
	var rf *roleFlags
	c := &cobra.Command{
		Use:   "rotate --from root.json --sign KEY... -o root-v2.json",
		Short: "Write the next root version: new keys, revocations, a new expiry",
		Long: `Write the next version of a root. Roles given on the command line are replaced;
the others are kept. A key no role names any more is dropped (revoked): the
documents it signed stop verifying on every device that takes the new root.
Sign with a threshold of the old root's root keys and of the new one's (or
add signatures later with 'tocsin root sign'), then hand it to the seed with
'tocsin announce'.`,
		Example: `  # revoke a leaked release key
  tocsin root rotate --from root.json --release-key release2.key.pub \
      --sign ca1.key --sign ca2.key -o root-v2.json
  tocsin announce --seed-dir ./seed-data root-v2.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || out == "" {
				return fmt.Errorf("--from and -o are required")
			}
			data, err := os.ReadFile(from)
			if err != nil {
				return err
			}
			old, _, err := trust.OpenRoot(data)
			if err != nil {
				return fmt.Errorf("%s: %w", from, err)
			}
			signers, err := loadPrivateKeys(sign)
			if err != nil {
				return err
			}
			next := old
			next.Keys, next.Roles = map[string]trust.RootKey{}, map[string]trust.Role{}
			for k, v := range old.Keys {
				next.Keys[k] = v
			}
			for k, v := range old.Roles {
				next.Roles[k] = v
			}
			if err := rf.apply(cmd, &next, old.Version+1, time.Now().UTC()); err != nil {
				return err
			}
			env, err := trust.SignRoot(next, signers...)
			if err != nil {
				return err
			}
			if err := fsutil.WriteNew(out, env.Marshal(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: root v%d, %d signatures\n", out, next.Version, len(env.Signatures))
			return nil
		},
	}
	rf = addRoleFlags(c)
	c.Flags().StringVar(&from, "from", "", "the current root")
	c.Flags().StringSliceVar(&sign, "sign", nil, "private key to sign with (repeatable)")
	c.Flags().StringVarP(&out, "out", "o", "", "output file (never overwritten)")
	return c
}

func newRootSignCmd() *cobra.Command {
	var keys []string
	c := &cobra.Command{
		Use:     "sign FILE --key KEY...",
		Short:   "Add signatures to a signed document (a root awaiting its threshold)",
		Example: `  tocsin root sign root-v2.json --key ca3.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := readEnvelope(args[0])
			if err != nil {
				return err
			}
			ks, err := loadPrivateKeys(keys)
			if err != nil {
				return err
			}
			if len(ks) == 0 {
				return fmt.Errorf("--key is required")
			}
			for _, k := range ks {
				env = env.AddSignature(k)
			}
			if err := fsutil.WriteAtomic(args[0], env.Marshal(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d signatures\n", args[0], len(env.Signatures))
			return nil
		},
	}
	c.Flags().StringSliceVar(&keys, "key", nil, "private key (repeatable)")
	return c
}

func newRootShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "show FILE",
		Short:   "Print a root's version, expiry, roles and keys",
		Example: "  tocsin root show root.json\n  tocsin root show root-v2.json --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := readEnvelope(args[0])
			if err != nil {
				return err
			}
			r, err := trust.ParseRoot(env.Payload)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			_, verr := r.VerifyRole(env, trust.RoleRoot, "")
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "root v%d, expires %s\n", r.Version, r.Expires.Format(time.RFC3339))
			if verr != nil {
				fmt.Fprintf(w, "self-signature: NOT VALID: %v\n", verr)
			} else {
				fmt.Fprintf(w, "self-signature: valid (%d signatures)\n", len(env.Signatures))
			}
			for _, name := range trust.Roles {
				role := r.Roles[name]
				ids := append([]string(nil), role.KeyIDs...)
				sort.Strings(ids)
				fmt.Fprintf(w, "%-10s %d of %d:", name, role.Threshold, len(ids))
				for _, id := range ids {
					fmt.Fprintf(w, " %s", id[:16])
					if p := r.Keys[id].Products; len(p) > 0 {
						fmt.Fprintf(w, "[%s]", strings.Join(p, ","))
					}
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the root as JSON")
	return c
}
