package content

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// leafRecorder is a DAG service that remembers the size of every raw leaf.
type leafRecorder struct {
	discardDAG
	leaves map[cid.Cid]int
}

func (l *leafRecorder) Add(_ context.Context, n ipld.Node) error {
	if n.Cid().Type() == cid.Raw {
		l.leaves[n.Cid()] = len(n.RawData())
	}
	return nil
}

func (l *leafRecorder) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		_ = l.Add(ctx, n)
	}
	return nil
}

// TestContentDefinedChunkingSharesBlocks measures, on two pairs of
// consecutive real releases (OpenSSL's libcrypto 3.0.20 and 3.0.22, and an
// OVMF firmware image; ../shared/testdata),
// how many bytes of the new version's leaves a device holding the old one
// already has: with fixed-size leaves an insertion shifts every later leaf,
// with content-defined (rabin) leaves the unchanged regions keep their
// blocks.
func TestContentDefinedChunkingSharesBlocks(t *testing.T) {
	// libcrypto's code moved: every fixed leaf after the first change
	// differs, so content-defined leaves must do better. The firmware
	// image changed in place: fixed leaves stay aligned and share as much
	// or more, which is why fixed size stays the default.
	cdcShares(t, "libcrypto", "libcrypto.so.3-3.0.20", "libcrypto.so.3-3.0.22", true)
	cdcShares(t, "ovmf", "OVMF_CODE_4M.fd-deb12u1", "OVMF_CODE_4M.fd-deb12u2", false)
}

func cdcShares(t *testing.T, name, oldName, newName string, cdcMustWin bool) {
	dir := filepath.Join("..", "..", "shared", "testdata", "binaries", name)
	oldData, err1 := os.ReadFile(filepath.Join(dir, oldName))
	newData, err2 := os.ReadFile(filepath.Join(dir, newName))
	if err1 != nil || err2 != nil {
		t.Skipf("%s: test data not found (%v, %v): needs ../shared/testdata next to the repository", name, err1, err2)
	}
	shared := func(spec string) (reused, total int, leaves int) {
		a, b := &leafRecorder{leaves: map[cid.Cid]int{}}, &leafRecorder{leaves: map[cid.Cid]int{}}
		if _, err := ImportChunked(context.Background(), a, bytes.NewReader(oldData), spec); err != nil {
			t.Fatal(err)
		}
		if _, err := ImportChunked(context.Background(), b, bytes.NewReader(newData), spec); err != nil {
			t.Fatal(err)
		}
		for c, n := range b.leaves {
			total += n
			if _, ok := a.leaves[c]; ok {
				reused += n
			}
		}
		return reused, total, len(b.leaves)
	}
	fixedReused, fixedTotal, _ := shared("size-262144")
	cdcReused, cdcTotal, cdcLeaves := shared("rabin-16384-65536-262144")
	t.Logf("%s -> %s: fixed 256 KiB leaves reuse %d of %d bytes (%.1f%%); rabin 16/64/256 KiB reuses %d of %d (%.1f%%, %d leaves)", oldName, newName,
		fixedReused, fixedTotal, 100*float64(fixedReused)/float64(fixedTotal), cdcReused, cdcTotal, 100*float64(cdcReused)/float64(cdcTotal), cdcLeaves)
	if cdcMustWin && cdcReused <= fixedReused {
		t.Errorf("content-defined chunking reused %d bytes, fixed-size %d: it should share more across versions", cdcReused, fixedReused)
	}
}

func TestMaxLeaf(t *testing.T) {
	for spec, ok := range map[string]bool{
		"size-262144": true, "rabin-16384-65536-262144": true,
		"size-0": false, "size-4194304": false, "rabin-65536-16384-262144": false, "rabin-1-2": false,
		"buzhash": false, "size-12abc": false, "": false,
	} {
		if _, err := MaxLeaf(spec); (err == nil) != ok {
			t.Errorf("MaxLeaf(%q) = %v, want ok=%v", spec, err, ok)
		}
	}
}

func TestMaxLeafValue(t *testing.T) {
	if n, _ := MaxLeaf("rabin-16384-65536-262144"); n != 262144 {
		t.Errorf("rabin max leaf %d, want 262144", n)
	}
	if n, _ := MaxLeaf("size-1024"); n != 1024 {
		t.Errorf("size max leaf %d, want 1024", n)
	}
}
