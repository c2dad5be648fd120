package cli

import (
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/node"
)

func init() { register(newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	var typ, out string
	c := &cobra.Command{
		Use:   "keygen --type supplier|device -o FILE",
		Short: "Make a supplier signing key or a device identity",
		Long: `Make a new Ed25519 key. The private key is written with mode 0600 and
never printed.

  --type supplier   a supplier signing key: FILE (PKCS#8 PEM, private) and
                    FILE.pub (PEM, public: give it to devices as a trusted key)
  --type device     a libp2p device identity: FILE; its peer ID is printed.

Existing files are never overwritten.`,
		Example: `  tocsin keygen --type supplier -o supplier.key
  tocsin keygen --type device -o /var/lib/tocsin/identity.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("-o FILE is required")
			}
			switch strings.ToLower(typ) {
			case "supplier", "operator":
				k, err := trust.GenerateKey(nil)
				if err != nil {
					return err
				}
				if err := trust.WriteKeyPair(k, out, out+".pub"); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private, 0600) and %s.pub; key id %s\n", out, out, k.Public().KeyID())
			case "device":
				k, _, err := crypto.GenerateEd25519Key(nil)
				if err != nil {
					return err
				}
				if err := node.WriteIdentity(out, k); err != nil {
					return err
				}
				id, err := peer.IDFromPrivateKey(k)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (0600); peer id %s\n", out, id)
			default:
				return fmt.Errorf("--type must be supplier or device, not %q", typ)
			}
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "supplier", "supplier or device")
	c.Flags().StringVarP(&out, "out", "o", "", "output file")
	return c
}
