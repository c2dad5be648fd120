// Package deptest enforces the dependency direction: the pure packages stay
// pure, and nothing below the node imports the node.
package deptest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/tocsin-iiot/tocsin/"

// rules: package → import path prefixes it must not depend on (directly or
// transitively).
var rules = map[string][]string{
	// Pure decision code: no network, no store, no other Tocsin layer.
	"policy":         {"github.com/libp2p/", "github.com/ipfs/", "github.com/dgraph-io/", "net/http", "os/exec", mod + "node", mod + "seed", mod + "overlay", mod + "content", mod + "sim"},
	"internal/trust": {"github.com/libp2p/", "github.com/ipfs/", "net/http", "os/exec", mod + "node", mod + "seed", mod + "overlay", mod + "content", mod + "policy", mod + "internal/cli"}, // (crypto/x509 pulls in net; net/http stays banned)
	"internal/csaf":  {"github.com/libp2p/", "github.com/ipfs/", "net/http", "os/exec", mod + "node"},
	"internal/cvss":  {"github.com/libp2p/", "github.com/ipfs/", "net/http", "os/exec", mod + "node"},
	// Content knows blocks, not peers' behaviour or policy.
	"internal/fsutil": {mod},
	"content":         {"github.com/libp2p/go-libp2p-pubsub", mod + "node", mod + "seed", mod + "overlay", mod + "policy", "os/exec"},
	// Overlay moves opaque bytes; it neither verifies nor stores.
	"overlay":        {mod + "node", mod + "seed", mod + "content", mod + "policy", mod + "internal/trust", "github.com/dgraph-io/"},
	"internal/audit": {"net/http", "os/exec", "github.com/dgraph-io/", "github.com/libp2p/go-libp2p/p2p/", "github.com/libp2p/go-libp2p-pubsub", "github.com/ipfs/boxo", mod + "node", mod + "seed", mod + "overlay", mod + "content", mod + "policy", mod + "sim", mod + "internal/cli"},
	// The distribution bounds are arithmetic: standard library only.
	"sim/bound": {"codeberg.org/", "filippo.io/", "git.sr.ht/", "github.com/", "go.etcd.io/", "go.opentelemetry.io/", "go.uber.org/", "golang.org/", "gonum.org/", "google.golang.org/", "gopkg.in/", "lukechampine.com/"},
	// The scenario format and the report are data and rendering: no
	// network, store or node code, so the model engine stays pure.
	"sim/scenario": {"github.com/libp2p/", "github.com/ipfs/", "github.com/dgraph-io/", "net/http", "os/exec", mod + "node", mod + "seed", mod + "overlay", mod + "content", mod + "policy"},
	"sim/model":    {"github.com/libp2p/", "github.com/ipfs/", "github.com/dgraph-io/", "net/http", "os/exec", mod + "node", mod + "seed", mod + "overlay", mod + "content", mod + "policy", mod + "sim/stack"},
	"sim/report":   {"github.com/libp2p/", "github.com/ipfs/", "github.com/dgraph-io/", mod + "node", mod + "seed", mod + "overlay", mod + "content", mod + "policy"},
	// The swarm scheduler is pure decision code shared by the node and the
	// model engine: standard library only.
	"content/swarm": {"codeberg.org/", "filippo.io/", "git.sr.ht/", "github.com/", "go.etcd.io/", "go.opentelemetry.io/", "go.uber.org/", "golang.org/", "gonum.org/", "google.golang.org/", "gopkg.in/", "lukechampine.com/", mod},
	// The node never depends on the supplier side.
	"node": {mod + "seed", mod + "internal/cli", mod + "internal/hostile"},
}

// allowed: exceptions to rules, import paths a package may use although a
// banned prefix covers them.
var allowed = map[string][]string{
	// The model runs the node's own swarm scheduler (pure, stdlib only).
	"sim/model": {mod + "content/swarm"},
}

func TestDependencyDirection(t *testing.T) {
	for pkg, banned := range rules {
		out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		for dec.More() {
			var p struct{ ImportPath string }
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.ImportPath == mod+pkg || slices.Contains(allowed[pkg], p.ImportPath) {
				continue
			}
			for _, b := range banned {
				if p.ImportPath == b || strings.HasPrefix(p.ImportPath, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(p.ImportPath, b)) {
					t.Errorf("%s depends on %s (banned: %s)", pkg, p.ImportPath, b)
				}
			}
		}
	}
}

// TestEveryPackageHasDoc: every package says in a doc.go what lives there
// and what may not.
func TestEveryPackageHasDoc(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}} {{.ImportPath}}", "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, pkg, _ := strings.Cut(line, " ")
		if _, err := os.Stat(filepath.Join(dir, "doc.go")); err != nil {
			t.Errorf("%s has no doc.go", pkg)
		}
	}
}
