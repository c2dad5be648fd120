package node

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

const libcryptoDir = "../../shared/testdata/binaries/libcrypto"

// TestDeltaRebuildsRelease: a device running libcrypto 3.0.20 gets 3.0.22 by
// fetching the published delta (at most 526,000 bytes: 1.25x the 421,038 of
// `zstd -19 --patch-from`), rebuilds the file and verifies its sha256; a
// device whose old file is not the one the delta was made from fetches the
// whole release instead.
func TestDeltaRebuildsRelease(t *testing.T) {
	oldPath := filepath.Join(libcryptoDir, "libcrypto.so.3-3.0.20")
	oldData, err := os.ReadFile(oldPath)
	if err != nil {
		t.Skipf("shared test data not found (%v): the libcrypto pair lives in ../shared/testdata/binaries", err)
	}
	newData, err := os.ReadFile(filepath.Join(libcryptoDir, "libcrypto.so.3-3.0.22"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, 0)
	good := f.deviceConfig(filepath.Join(t.TempDir(), "good"))
	good.Products = []Product{{ID: "plc-fw", Version: "3.0.20", File: oldPath}}
	wrongOld := filepath.Join(t.TempDir(), "not-3.0.20.bin")
	os.WriteFile(wrongOld, append(bytes.Clone(oldData[:len(oldData)/2]), 0x42), 0o600)
	bad := f.deviceConfig(filepath.Join(t.TempDir(), "bad"))
	bad.Products = []Product{{ID: "plc-fw", Version: "3.0.20", File: wrongOld}}
	withDelta, fallback := f.start(good), f.start(bad)
	for _, d := range []*Node{withDelta, fallback} {
		f.connect(f.seed.Host(), d.Host())
	}

	rel := f.release(newData, "3.0.22")
	patch, err := content.MakeDelta(oldData, newData)
	if err != nil {
		t.Fatal(err)
	}
	patchPath := filepath.Join(t.TempDir(), "patch.tdzp")
	os.WriteFile(patchPath, patch, 0o600)
	imp, err := f.seed.ImportFile(t.Context(), patchPath, rel.ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	oldSum := sha256.Sum256(oldData)
	rel.Delta = &trust.Delta{From: "3.0.20", FromSHA256: hexOf(oldSum[:]), RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256}
	f.announce(f.signRelease(rel), f.advisory(rel, 1, f.clk.now()))
	for _, d := range []*Node{withDelta, fallback} {
		waitFor(t, "install", 60*time.Second, func() bool {
			r := d.Status().Releases[rel.ID()]
			return r != nil && r.Lifecycle.State.String() == "installed"
		})
		got, err := os.ReadFile(filepath.Join(d.cfg.DataDir, "installed.bin"))
		if err != nil || !bytes.Equal(got, newData) {
			t.Fatal("installed file is not 3.0.22")
		}
	}
	ds := withDelta.Status().Releases[rel.ID()].Fetch
	t.Logf("delta device fetched %d bytes (patch %d, file %d); fallback device fetched %d", ds.BytesFetched, len(patch), len(newData),
		fallback.Status().Releases[rel.ID()].Fetch.BytesFetched)
	if !ds.Delta || ds.BytesFetched > 526000 || int64(len(patch)) > 526000 {
		t.Fatalf("delta fetch: delta %v, %d bytes fetched, patch %d bytes; want at most 526,000", ds.Delta, ds.BytesFetched, len(patch))
	}
	fb := fallback.Status().Releases[rel.ID()].Fetch
	if fb.Delta || fb.BytesFetched < int64(len(newData)) {
		t.Fatalf("fallback: delta %v, %d bytes fetched", fb.Delta, fb.BytesFetched)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
