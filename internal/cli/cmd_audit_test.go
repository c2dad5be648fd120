package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/cli"
	"github.com/tocsin-iiot/tocsin/node"
)

var auditT0 = time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC)

func auditRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// auditFail checks a failed run: exit 1, nothing on stdout, one
// "tocsin: ..." line on stderr containing want.
func auditFail(t *testing.T, code int, stdout, stderr, want string) {
	t.Helper()
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "tocsin: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line mentioning %q", code, stdout, stderr, want)
	}
}

// auditDataDir makes a node data dir: an identity key written as the node
// writes it, and a store holding an audit log of a release's lifecycle
// with n records in all.
func auditDataDir(t *testing.T, n int) (string, audit.Head) {
	t.Helper()
	dir := t.TempDir()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.WriteIdentity(filepath.Join(dir, "identity.key"), key); err != nil {
		t.Fatal(err)
	}
	st, err := content.OpenStore(filepath.Join(dir, "store"), content.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	l, err := audit.Open(ctx, st.DS, key)
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return auditT0.Add(time.Duration(h) * time.Hour) }
	es := []audit.Entry{
		{Time: at(0), Actor: "node", Event: audit.EventAdvisoryReceived, Release: "fw-2.1.4"},
		{Time: at(1), Actor: "owner-console", Event: audit.EventAuthorised, Release: "fw-2.1.4", Details: map[string]string{
			audit.DetailBy: "alice@plant-owner", audit.DetailSIA: "SIA-2025-014", audit.DetailDeadline: at(72).Format(time.RFC3339)}},
		{Time: at(1), Actor: "node", Event: audit.EventTransition, Release: "fw-2.1.4", Details: map[string]string{audit.DetailFrom: "announced", audit.DetailTo: "authorised"}},
		{Time: at(90), Actor: "node", Event: audit.EventInstalled, Release: "fw-2.1.4", Device: "plc-7"},
	}
	for i := 0; len(es) < n; i++ {
		es = append(es, audit.Entry{Time: at(100 + i), Actor: "node", Event: audit.EventAdvisoryReceived, Release: "other"})
	}
	for _, e := range es[:n] {
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	return dir, l.Head()
}

// auditEdit changes record seq's stored value with f.
func auditEdit(t *testing.T, dir string, seq uint64, f func([]byte) []byte) {
	t.Helper()
	st, err := content.OpenStore(filepath.Join(dir, "store"), content.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	v, err := st.DS.Get(ctx, audit.RecordKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DS.Put(ctx, audit.RecordKey(seq), f(bytes.Clone(v))); err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyOK(t *testing.T) {
	dir, head := auditDataDir(t, 20)
	code, out, errOut := auditRun(t, "audit", "verify", "--data", dir)
	if want := "audit log ok: 20 records, head " + head.Hash[:16] + "\n"; code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	// The same with the key named explicitly.
	code, out, _ = auditRun(t, "audit", "verify", "--data", dir, "--identity", filepath.Join(dir, "identity.key"))
	if code != 0 || !strings.HasPrefix(out, "audit log ok: 20 records") {
		t.Fatalf("--identity: exit %d, stdout %q", code, out)
	}
}

func TestAuditVerifyNamesChangedRecord(t *testing.T) {
	dir, _ := auditDataDir(t, 20)
	// One byte of record 7: "actor":"node" becomes "actor":"nodf".
	auditEdit(t, dir, 7, func(v []byte) []byte {
		i := bytes.Index(v, []byte(`"node"`))
		if i < 0 {
			t.Fatalf("record 7 %s", v)
		}
		v[i+4]++
		return v
	})
	code, out, errOut := auditRun(t, "audit", "verify", "--data", dir)
	auditFail(t, code, out, errOut, "record 7: signature does not verify")
	// Export refuses a log that fails verification.
	code, out, errOut = auditRun(t, "audit", "export", "fw-2.1.4", "--data", dir, "-o", filepath.Join(t.TempDir(), "ev"))
	auditFail(t, code, out, errOut, "record 7")

	// A byte that breaks the JSON.
	dir, _ = auditDataDir(t, 20)
	auditEdit(t, dir, 12, func(v []byte) []byte { v[0] = 'x'; return v })
	code, out, errOut = auditRun(t, "audit", "verify", "--data", dir)
	auditFail(t, code, out, errOut, "record 12: corrupt")
}

func TestAuditVerifyWhileNodeRuns(t *testing.T) {
	dir, _ := auditDataDir(t, 3)
	st, err := content.OpenStore(filepath.Join(dir, "store"), content.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, out, errOut := auditRun(t, "audit", "verify", "--data", dir)
	auditFail(t, code, out, errOut, "the node on "+dir+" is running; stop it first")
}

func TestAuditVerifyBadDataDir(t *testing.T) {
	empty := t.TempDir()
	code, out, errOut := auditRun(t, "audit", "verify", "--data", empty)
	auditFail(t, code, out, errOut, "no identity key at")

	// An identity key but no store: reported, and no store created.
	key, _, _ := crypto.GenerateEd25519Key(nil)
	if err := node.WriteIdentity(filepath.Join(empty, "identity.key"), key); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = auditRun(t, "audit", "verify", "--data", empty)
	auditFail(t, code, out, errOut, "no node store at")
	if _, err := os.Stat(filepath.Join(empty, "store")); !os.IsNotExist(err) {
		t.Fatalf("verify created a store: %v", err)
	}

	code, out, errOut = auditRun(t, "audit", "verify")
	auditFail(t, code, out, errOut, "--data is required")

	// Another node's key.
	dir, _ := auditDataDir(t, 5)
	other := filepath.Join(t.TempDir(), "other.key")
	if err := node.WriteIdentity(other, key); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = auditRun(t, "audit", "verify", "--data", dir, "--identity", other)
	auditFail(t, code, out, errOut, "record 1: signature does not verify")
}

func TestAuditVerifyEmptyLog(t *testing.T) {
	dir, _ := auditDataDir(t, 0)
	code, out, errOut := auditRun(t, "audit", "verify", "--data", dir)
	if code != 0 || out != "audit log ok: 0 records, no head (empty log)\n" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestAuditExport(t *testing.T) {
	dir, head := auditDataDir(t, 6)
	prefix := filepath.Join(t.TempDir(), "fw-2.1.4-evidence")
	code, out, errOut := auditRun(t, "audit", "export", "fw-2.1.4", "--data", dir, "-o", prefix)
	if code != 0 || errOut != "" || !strings.Contains(out, "deadline missed") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	js, err := os.ReadFile(prefix + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var ev audit.Evidence
	if err := json.Unmarshal(js, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Release != "fw-2.1.4" || ev.AuthorisedBy != "alice@plant-owner" || ev.SIA != "SIA-2025-014" ||
		ev.DeadlineStatus != audit.DeadlineMissed || ev.LogRecords != 6 || ev.LogHead != head.Hash || ev.Node == "" || len(ev.Timeline) != 4 {
		t.Fatalf("evidence %+v", ev)
	}
	md, err := os.ReadFile(prefix + ".md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| Authorised by | alice@plant-owner |", "| SIA reference | SIA-2025-014 |", "| Deadline | **missed** |", ev.Node} {
		if !strings.Contains(string(md), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}

	code, out, errOut = auditRun(t, "audit", "export", "fw-9", "--data", dir, "-o", prefix)
	auditFail(t, code, out, errOut, `no audit records about release "fw-9"`)
	code, out, errOut = auditRun(t, "audit", "export", "fw-2.1.4", "--data", dir)
	auditFail(t, code, out, errOut, "-o PREFIX is required")
	code, out, errOut = auditRun(t, "audit", "export", "--data", dir, "-o", prefix)
	auditFail(t, code, out, errOut, "accepts 1 arg")
}
