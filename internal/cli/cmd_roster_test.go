package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

func TestRosterCommands(t *testing.T) {
	dir := t.TempDir()
	op, other, r := filepath.Join(dir, "op.key"), filepath.Join(dir, "other.key"), filepath.Join(dir, "roster.json")
	for _, k := range []string{op, other} {
		key, _ := trust.GenerateKey(nil)
		if err := trust.WriteKeyPair(key, k, k+".pub"); err != nil {
			t.Fatal(err)
		}
	}
	dev, gw := "12D3KooWCTQoDLpGNw82QSnE1Mmpeau4WRqjWB3mWayGnt2RpMkr", "12D3KooWLe3u5BxRE8iBMRj7t7AYZsB6agMKk8wUGKcDCxRU9a97"
	for _, args := range [][]string{
		{"roster", "new", "--fleet", "plant", "--key", op, "--roster", r},
		{"roster", "add", dev, "--zone", "cell-a", "--key", op, "--roster", r},
		{"roster", "add", gw, "--zone", "cell-a", "--role", "gateway", "--conduit", "cell-b", "--key", op, "--roster", r},
		{"roster", "revoke", dev, "--key", op, "--roster", r},
	} {
		if code, out, errOut := cvssCmdRun(t, args...); code != 0 {
			t.Fatalf("%v: %s %s", args, out, errOut)
		}
	}
	b, _ := os.ReadFile(r)
	pk, _ := trust.LoadPublicKey(op + ".pub")
	doc, err := trust.OpenOwner(b, []trust.PublicKey{pk})
	if err != nil || doc.Roster == nil {
		t.Fatalf("roster does not verify: %v", err)
	}
	if _, ok := doc.Roster.Member(dev); ok || !doc.Roster.IsRevoked(dev) {
		t.Fatal("revoked device still a member")
	}
	if m, ok := doc.Roster.Member(gw); !ok || m.Role != trust.MemberGateway || m.Conduits[0] != "cell-b" {
		t.Fatalf("gateway %+v", m)
	}
	code, out, _ := cvssCmdRun(t, "roster", "show", r)
	if code != 0 || !strings.Contains(out, "REVOKED") || !strings.Contains(out, "conduits cell-b") {
		t.Fatalf("show: %s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"roster", "add", "nonsense", "--zone", "a", "--key", op, "--roster", r}, "peer ID"},
		{[]string{"roster", "add", gw, "--zone", "a", "--role", "boss", "--key", op, "--roster", r}, "role"},
		{[]string{"roster", "revoke", gw, "--key", other, "--roster", r}, "not a roster signed by this key"},
		{[]string{"roster", "new", "--fleet", "plant", "--key", op, "--roster", r}, "exists"},
	} {
		code, out, errOut := cvssCmdRun(t, c.args...)
		assertOneLineError(t, code, out, errOut, c.want)
	}
}
