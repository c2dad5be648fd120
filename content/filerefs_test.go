package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

func rawBlock(t *testing.T, data []byte) blocks.Block {
	t.Helper()
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openTestStore opens a store in dir, closed when the test ends.
func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := OpenStore(dir, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestFileRefs: a block held by reference into a file reads, lists and
// sizes like one held in badger; when the file's bytes change it is
// reported corrupt and forgotten, and when the file goes it is missing —
// never returned with the wrong bytes.
func TestFileRefs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openTestStore(t, filepath.Join(dir, "store"))
	var corrupt []cid.Cid
	st.Blocks.OnCorrupt = func(c cid.Cid, _ error) { corrupt = append(corrupt, c) }
	data := make([]byte, 3*1000)
	rand.Read(data)
	file := filepath.Join(dir, "release.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var bs []blocks.Block
	for i := range 3 {
		b := rawBlock(t, data[i*1000:(i+1)*1000])
		bs = append(bs, b)
		if err := st.AddFileRef(ctx, b.Cid(), FileRef{Path: file, Off: int64(i * 1000), Len: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	inBadger := rawBlock(t, []byte("held in badger"))
	if err := st.Blocks.Put(ctx, inBadger); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		got, err := st.Blocks.Get(ctx, b.Cid())
		if err != nil || !bytes.Equal(got.RawData(), b.RawData()) {
			t.Fatalf("get by reference: %v", err)
		}
		if got, err := st.Blocks.Served().Get(ctx, b.Cid()); err != nil || !bytes.Equal(got.RawData(), b.RawData()) {
			t.Fatalf("served get by reference: %v", err)
		}
		if n, err := st.Blocks.GetSize(ctx, b.Cid()); err != nil || n != 1000 {
			t.Fatalf("size %d, %v", n, err)
		}
	}
	keys, _ := st.Blocks.AllKeysChan(ctx)
	n := 0
	for range keys {
		n++
	}
	if n != 4 {
		t.Fatalf("AllKeysChan listed %d blocks, want 4 (3 by reference, 1 in badger)", n)
	}

	// The file changes under block 1: an upload reading it hashes it
	// (a file is not covered by badger's CRC).
	f, _ := os.OpenFile(file, os.O_WRONLY, 0)
	f.WriteAt([]byte{data[1500] ^ 1}, 1500)
	f.Close()
	if _, err := st.Blocks.Served().Get(ctx, bs[1].Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("changed bytes: got %v, want not found", err)
	}
	if len(corrupt) != 1 || !corrupt[0].Equals(bs[1].Cid()) {
		t.Fatalf("corrupt reports %v", corrupt)
	}
	if Has(ctx, st.Blocks, bs[1].Cid()) {
		t.Fatal("the changed block is still listed")
	}
	// The file goes away: its blocks are missing.
	os.Remove(file)
	if Has(ctx, st.Blocks, bs[0].Cid()) {
		t.Fatal("a block whose file is gone is still listed")
	}
	if _, err := st.Blocks.Get(ctx, bs[2].Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("file gone: got %v, want not found", err)
	}
	if !Has(ctx, st.Blocks, inBadger.Cid()) {
		t.Fatal("the badger block went too")
	}
}

// TestMoveFileRefs: references follow a renamed file.
func TestMoveFileRefs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openTestStore(t, filepath.Join(dir, "store"))
	data := []byte("a leaf that lives in a release file")
	b := rawBlock(t, data)
	from, to := filepath.Join(dir, ".partial"), filepath.Join(dir, "final")
	os.WriteFile(from, data, 0o600)
	st.AddFileRef(ctx, b.Cid(), FileRef{Path: from, Len: int64(len(data))})
	os.Rename(from, to)
	if Has(ctx, st.Blocks, b.Cid()) {
		t.Fatal("a reference to the old name still resolves")
	}
	st.AddFileRef(ctx, b.Cid(), FileRef{Path: from, Len: int64(len(data))})
	if err := st.MoveFileRefs(ctx, []cid.Cid{b.Cid()}, from, to); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Blocks.Get(ctx, b.Cid()); err != nil || !bytes.Equal(got.RawData(), data) {
		t.Fatalf("after the move: %v", err)
	}
}

// TestServedCatchesRot: uploads skip the SHA-256 of blocks this process
// already hashed, yet a byte that rots in the value log while the store is
// open fails badger's CRC, and one that rotted while it was closed is
// caught by the hash of the first read after opening (badger returns a
// torn last entry's bytes without an error). Either way the block is
// reported corrupt and not served.
func TestServedCatchesRot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var corrupt int
	st.Blocks.OnCorrupt = func(cid.Cid, error) { corrupt++ }
	put := func(st *Store) ([]byte, blocks.Block) {
		data := make([]byte, 64<<10) // above the value threshold: in the value log
		rand.Read(data)
		b := rawBlock(t, data)
		if err := st.Blocks.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		return data, b
	}
	flip := func(data []byte) {
		t.Helper()
		vlogs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
		for _, p := range vlogs {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.Index(raw, data[:64]); i >= 0 {
				f, _ := os.OpenFile(p, os.O_WRONLY, 0)
				defer f.Close()
				if _, err := f.WriteAt([]byte{raw[i+30000] ^ 0x10}, int64(i+30000)); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		t.Fatalf("the block is in none of the value logs %v", vlogs)
	}

	data, b := put(st)
	if _, err := st.Blocks.Served().Get(ctx, b.Cid()); err != nil {
		t.Fatal(err)
	}
	flip(data) // while open
	if _, err := st.Blocks.Served().Get(ctx, b.Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("rotten block served while the store is open: %v", err)
	}
	if corrupt != 1 {
		t.Fatalf("%d corrupt reports, want 1", corrupt)
	}

	data, b = put(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	flip(data) // while closed
	st, err = OpenStore(dir, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	corrupt = 0
	st.Blocks.OnCorrupt = func(cid.Cid, error) { corrupt++ }
	if _, err := st.Blocks.Served().Get(ctx, b.Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("rotten block served after reopening: %v", err)
	}
	if corrupt != 1 {
		t.Fatalf("%d corrupt reports after reopening, want 1", corrupt)
	}
}
