package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimRunModelReproducible: the model engine run twice with the same
// scenario and seed writes byte-identical JSON with --reproducible, prints
// the summary (with the real wall time) and renders the report.
func TestSimRunModelReproducible(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for _, p := range []string{a, b} {
		code, out, errOut := deltaCmdRun(t, "sim", "run", "flat-1000", "--nodes", "60", "--patch-size", "1MiB", "--seed", "7",
			"--reproducible", "--json", p, "--report", filepath.Join(dir, "report"))
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(out, "flat-1000: model engine, 60 devices") || !strings.Contains(out, "x T_KR") {
			t.Fatalf("summary missing: %s", out)
		}
	}
	ja, _ := os.ReadFile(a)
	jb, _ := os.ReadFile(b)
	if len(ja) == 0 || !bytes.Equal(ja, jb) {
		t.Fatal("two runs of the same scenario and seed wrote different JSON")
	}
	var r map[string]any
	if err := json.Unmarshal(ja, &r); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"engine", "nodes", "wall_seconds", "advisory", "patch", "client_server_s", "scenario"} {
		if _, ok := r[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	p := r["patch"].(map[string]any)
	for _, k := range []string{"completed_fraction", "p50_s", "p99_s", "max_s", "bound_s", "chunk_bound_s", "ratio_to_bound", "seed_egress_ratio", "duplicate_ratio"} {
		if _, ok := p[k]; !ok {
			t.Errorf("patch lacks %q", k)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report", "index.html")); err != nil {
		t.Errorf("no report: %v", err)
	}
}

func TestSimRunBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "run", "no-such-scenario"},
		{"sim", "run", "./missing.yaml"},
		{"sim", "run", "--patch-size", "lots"},
		{"sim", "run", "--engine", "quantum"},
		{"sim", "run", "--with", "missing.json"},
	} {
		code, _, errOut := deltaCmdRun(t, args...)
		if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want a non-zero exit and one line", args, code, errOut)
		}
	}
}
