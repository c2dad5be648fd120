package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tocsin-iiot/tocsin/internal/cli"
)

// deltaCmdRun runs the whole CLI in process and returns the exit code,
// standard output and standard error.
func deltaCmdRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// deltaFiles writes an old and a new version of a 200 KiB file into a fresh
// directory: the new one is the old one with scattered edits and an
// insertion. The old file is executable, so the mode carried to NEW shows.
func deltaFiles(t *testing.T) (dir, oldPath, newPath string, oldData, newData []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	oldData = make([]byte, 200<<10)
	for i := range oldData {
		oldData[i] = byte(r.IntN(30) * r.IntN(5))
	}
	newData = bytes.Clone(oldData)
	for range 300 {
		newData[r.IntN(len(newData))] = byte(r.Uint32())
	}
	newData = append(newData[:1000:1000], append([]byte("inserted in the new version"), newData[1000:]...)...)
	dir = t.TempDir()
	oldPath, newPath = filepath.Join(dir, "fw-1.0.bin"), filepath.Join(dir, "fw-1.1.bin")
	if err := os.WriteFile(oldPath, oldData, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, newData, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, oldPath, newPath, oldData, newData
}

// noTempFiles checks the atomic writer left nothing behind in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

func TestDeltaMakeApplyCommands(t *testing.T) {
	dir, oldPath, newPath, _, newData := deltaFiles(t)
	patchPath := filepath.Join(dir, "fw-1.1.delta")
	code, out, errOut := deltaCmdRun(t, "delta", "make", oldPath, newPath, "-o", patchPath)
	if code != 0 || errOut != "" {
		t.Fatalf("delta make: exit %d, stderr %q", code, errOut)
	}
	patch, err := os.ReadFile(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s: %d bytes, %.2f%% of new (old %d bytes, new %d bytes)\n",
		patchPath, len(patch), 100*float64(len(patch))/float64(len(newData)), 200<<10, len(newData))
	if out != want {
		t.Errorf("delta make printed %q, want %q", out, want)
	}
	if len(patch) > len(newData)/4 {
		t.Errorf("patch is %d bytes for a %d-byte file with few edits", len(patch), len(newData))
	}

	rebuilt := filepath.Join(dir, "rebuilt.bin")
	code, out, errOut = deltaCmdRun(t, "delta", "apply", oldPath, patchPath, "-o", rebuilt)
	if code != 0 || errOut != "" {
		t.Fatalf("delta apply: exit %d, stderr %q", code, errOut)
	}
	want = fmt.Sprintf("%s: %d bytes, sha256 %x (patch %d bytes, %.2f%% of new)\n",
		rebuilt, len(newData), sha256.Sum256(newData), len(patch), 100*float64(len(patch))/float64(len(newData)))
	if out != want {
		t.Errorf("delta apply printed %q, want %q", out, want)
	}
	got, err := os.ReadFile(rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, newData) {
		t.Error("rebuilt file differs from the new file")
	}
	if fi, err := os.Stat(rebuilt); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("rebuilt file mode %v (%v), want OLD's 0755", fi.Mode().Perm(), err)
	}

	// In place: -o names OLD itself.
	code, _, errOut = deltaCmdRun(t, "delta", "apply", oldPath, patchPath, "-o", oldPath)
	if code != 0 || errOut != "" {
		t.Fatalf("delta apply in place: exit %d, stderr %q", code, errOut)
	}
	if got, _ := os.ReadFile(oldPath); !bytes.Equal(got, newData) {
		t.Error("in-place apply did not leave the new file at OLD")
	}
	noTempFiles(t, dir)
}

func TestDeltaLibcryptoCommand(t *testing.T) {
	const (
		oldPath = "../../../shared/testdata/binaries/libcrypto/libcrypto.so.3-3.0.20"
		newPath = "../../../shared/testdata/binaries/libcrypto/libcrypto.so.3-3.0.22"
	)
	newData, err := os.ReadFile(newPath)
	if err != nil {
		t.Skipf("test binaries not available: %v", err)
	}
	dir := t.TempDir()
	patchPath, rebuilt := filepath.Join(dir, "libcrypto.delta"), filepath.Join(dir, "libcrypto.so.3")
	if code, out, errOut := deltaCmdRun(t, "delta", "make", oldPath, newPath, "-o", patchPath); code != 0 {
		t.Fatalf("delta make: exit %d, stdout %q, stderr %q", code, out, errOut)
	} else if !regexp.MustCompile(`^\S+: \d+ bytes, \d+\.\d\d% of new \(old 4734232 bytes, new 4742424 bytes\)\n$`).MatchString(out) {
		t.Errorf("summary %q", out)
	}
	if code, _, errOut := deltaCmdRun(t, "delta", "apply", oldPath, patchPath, "-o", rebuilt); code != 0 {
		t.Fatalf("delta apply: exit %d, stderr %q", code, errOut)
	}
	got, err := os.ReadFile(rebuilt)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(newData) {
		t.Fatalf("rebuilt libcrypto does not match (%v)", err)
	}
}

func TestDeltaCommandErrors(t *testing.T) {
	dir, oldPath, newPath, oldData, newData := deltaFiles(t)
	patchPath := filepath.Join(dir, "fw.delta")
	if code, _, errOut := deltaCmdRun(t, "delta", "make", oldPath, newPath, "-o", patchPath); code != 0 {
		t.Fatalf("delta make: %s", errOut)
	}
	patch, err := os.ReadFile(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.delta")
	if err := os.WriteFile(truncated, patch[:len(patch)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(dir, "flipped.delta")
	bad := bytes.Clone(patch)
	bad[len(bad)/2] ^= 0x40
	if err := os.WriteFile(flipped, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	wrongOld := filepath.Join(dir, "wrong-old.bin")
	if err := os.WriteFile(wrongOld, append(bytes.Clone(oldData[:len(oldData)-1]), 'x'), 0o644); err != nil {
		t.Fatal(err)
	}
	// The output of a failed apply must keep its previous content.
	out := filepath.Join(dir, "out.bin")
	const previous = "previous content"
	if err := os.WriteFile(out, []byte(previous), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	huge := filepath.Join(dir, "huge.delta") // sparse, 2 MiB
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 2<<20); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"delta", "apply", wrongOld, patchPath, "-o", out}, "different old file"},
		{[]string{"delta", "apply", newPath, patchPath, "-o", out}, "different old file"},
		{[]string{"delta", "apply", oldPath, truncated, "-o", out}, "truncated"},
		{[]string{"delta", "apply", oldPath, flipped, "-o", out}, "corrupt"},
		{[]string{"delta", "apply", oldPath, newPath, "-o", out}, "not a tocsin delta"},
		{[]string{"delta", "apply", oldPath, patchPath, "-o", out, "--max-size", fmt.Sprint(len(newData) - 1)}, "above the cap"},
		{[]string{"delta", "apply", oldPath, patchPath, "-o", out, "--max-size", "0"}, "must be positive"},
		{[]string{"delta", "apply", oldPath, huge, "-o", out, "--max-size", "1000"}, "too large for a delta building at most 1000 bytes"},
		{[]string{"delta", "apply", missing, patchPath, "-o", out}, "no such file"},
		{[]string{"delta", "apply", oldPath, dir, "-o", out}, "not a regular file"},
		{[]string{"delta", "apply", oldPath, patchPath}, `required flag(s) "out" not set`},
		{[]string{"delta", "apply", oldPath, "-o", out}, "accepts 2 arg(s)"},
		{[]string{"delta", "make", oldPath, missing, "-o", out}, "no such file"},
		{[]string{"delta", "make", oldPath, newPath}, `required flag(s) "out" not set`},
		{[]string{"delta", "make", oldPath, newPath, "-o", filepath.Join(missing, "p.delta")}, "no such file"},
	} {
		code, stdout, stderr := deltaCmdRun(t, c.args...)
		assertOneLineError(t, code, stdout, stderr, c.want)
	}
	if got, _ := os.ReadFile(out); string(got) != previous {
		t.Errorf("a failed apply changed its output file to %d bytes", len(got))
	}
	noTempFiles(t, dir)
}

func TestDeltaHelp(t *testing.T) {
	for _, args := range [][]string{{"delta"}, {"delta", "make", "--help"}, {"delta", "apply", "--help"}} {
		code, out, errOut := deltaCmdRun(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage:") {
			t.Errorf("tocsin %s: exit %d, stderr %q, stdout %q", strings.Join(args, " "), code, errOut, out)
		}
	}
}
