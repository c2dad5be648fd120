package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "audit",
		Short: "Verify a node's audit log, or export the evidence about a release",
		Long: `Every node keeps a hash-chained audit log in its store, each record signed
with the node's identity key: advisories received, authorisations and
rejections, lifecycle transitions, installations, rollbacks and recalls
(IEC 62443-2-3 evidence).

'audit verify' checks every record and the signed head and names the first
record that was changed, removed or moved. 'audit export' writes the evidence
about one release for an auditor, as JSON and Markdown.

Both read the node's data dir and need the node stopped: the store is locked
while it runs.`,
	}
	c.AddCommand(newAuditVerifyCmd(), newAuditExportCmd())
	return c
}

// auditSource is the node data dir an audit command reads.
type auditSource struct {
	data     string
	identity string
}

func (s *auditSource) flags(c *cobra.Command) {
	c.Flags().StringVar(&s.data, "data", "", "the node's data dir (holds store/ and identity.key)")
	c.Flags().StringVar(&s.identity, "identity", "", "the node's identity key (default DIR/identity.key)")
}

// auditLockMsg is how badger says another process holds the store.
const auditLockMsg = "Another process is using this Badger database"

// read opens the node's store, verifies its audit log against the node's
// identity key and returns the records, the head (nil for an empty log) and
// the node's peer ID.
func (s *auditSource) read(ctx context.Context) ([]audit.Record, *audit.Head, peer.ID, error) {
	if s.data == "" {
		return nil, nil, "", errors.New("--data is required: the node's data dir")
	}
	idPath := s.identity
	if idPath == "" {
		idPath = filepath.Join(s.data, "identity.key")
	}
	raw, err := os.ReadFile(idPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, "", fmt.Errorf("no identity key at %s: is %s a node's data dir?", idPath, s.data)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("read identity key: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, nil, "", fmt.Errorf("identity key %s: %w", idPath, err)
	}
	pub := key.GetPublic()
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return nil, nil, "", fmt.Errorf("identity key %s: %w", idPath, err)
	}

	storeDir := filepath.Join(s.data, "store")
	// content.OpenStore creates a missing store: check first, so a wrong
	// --data is reported instead of verified as an empty log.
	if fi, err := os.Stat(storeDir); err != nil || !fi.IsDir() {
		return nil, nil, "", fmt.Errorf("no node store at %s: is %s a node's data dir?", storeDir, s.data)
	}
	st, err := content.OpenStore(storeDir, content.StoreConfig{})
	if err != nil {
		if strings.Contains(err.Error(), auditLockMsg) {
			return nil, nil, "", fmt.Errorf("the node on %s is running; stop it first", s.data)
		}
		return nil, nil, "", err
	}
	defer st.Close()

	recs, head, err := audit.VerifyStore(ctx, st.DS, pub)
	if errors.Is(err, audit.ErrTampered) {
		return nil, nil, "", fmt.Errorf("audit log in %s fails verification: %w", s.data, err)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("read audit log in %s: %w", s.data, err)
	}
	return recs, head, id, nil
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func newAuditVerifyCmd() *cobra.Command {
	var src auditSource
	c := &cobra.Command{
		Use:   "verify --data DIR",
		Short: "Verify a node's audit log",
		Long: `Verify every record of the node's audit log and its signed head against the
node's identity key (DIR/identity.key): signatures, sequence numbers, the
hash chain, and that every stored value is exactly what the node wrote.

On success it prints

  audit log ok: N records, head HASH-PREFIX

On failure it exits 1 naming the record, for example

  tocsin: audit log in DIR fails verification: record 17: signature does not verify

The log cannot by itself detect an older genuine state put back (records
after an old head removed together with the head, or the whole log wiped);
compare the head with one recorded elsewhere for that.`,
		Example: `  tocsin audit verify --data /var/lib/tocsin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			recs, head, _, err := src.read(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if head == nil {
				_, err = fmt.Fprintf(out, "audit log ok: 0 records, no head (empty log)\n")
				return err
			}
			_, err = fmt.Fprintf(out, "audit log ok: %d records, head %s\n", len(recs), shortHash(head.Hash))
			return err
		},
	}
	src.flags(c)
	return c
}

func newAuditExportCmd() *cobra.Command {
	var src auditSource
	var prefix string
	c := &cobra.Command{
		Use:   "export RELEASE --data DIR -o PREFIX",
		Short: "Export the audit evidence about one release",
		Long: `Verify the node's audit log (as 'audit verify' does; a log that fails is not
exported), then write the evidence about RELEASE to PREFIX.json and
PREFIX.md: who authorised it and when, the SIA reference, the delivery
deadline and whether it was met, every lifecycle transition with its time and
actor, and every installation outcome.`,
		Example: `  tocsin audit export fw-2.1.4 --data /var/lib/tocsin -o evidence/fw-2.1.4`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release := args[0]
			if prefix == "" {
				return errors.New("-o PREFIX is required: the evidence goes to PREFIX.json and PREFIX.md")
			}
			recs, head, id, err := src.read(cmd.Context())
			if err != nil {
				return err
			}
			ev := audit.Export(recs, release)
			if len(ev.Timeline) == 0 {
				return fmt.Errorf("no audit records about release %q in %s (%d records in the log)", release, src.data, len(recs))
			}
			ev.Node = id.String()
			ev.LogRecords = head.Seq
			ev.LogHead = head.Hash
			js, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				return err
			}
			jsonPath, mdPath := prefix+".json", prefix+".md"
			if err := fsutil.WriteAtomic(jsonPath, append(js, '\n'), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", jsonPath, err)
			}
			if err := fsutil.WriteAtomic(mdPath, []byte(ev.Markdown()), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", mdPath, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s: release %s, %d records, deadline %s\n",
				jsonPath, mdPath, release, len(ev.Timeline), ev.DeadlineStatus)
			return err
		},
	}
	src.flags(c)
	c.Flags().StringVarP(&prefix, "output", "o", "", "write PREFIX.json and PREFIX.md")
	return c
}
