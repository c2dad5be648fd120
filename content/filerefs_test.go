package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	get := func(st *Store, c cid.Cid) error {
		_, err := st.Blocks.Served().Get(context.Background(), c)
		return err
	}
	into := func(st *Store, c cid.Cid) error {
		_, _, err := GetInto(context.Background(), st.Blocks.Served(), c, make([]byte, 0, 64<<10))
		return err
	}
	t.Run("Get", func(t *testing.T) { servedCatchesRot(t, get) })
	t.Run("GetInto", func(t *testing.T) { servedCatchesRot(t, into) })
}

func servedCatchesRot(t *testing.T, read func(*Store, cid.Cid) error) {
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
	if err := read(st, b.Cid()); err != nil {
		t.Fatal(err)
	}
	flip(data) // while open
	if err := read(st, b.Cid()); !ipld.IsNotFound(err) {
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
	if err := read(st, b.Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("rotten block served after reopening: %v", err)
	}
	if corrupt != 1 {
		t.Fatalf("%d corrupt reports after reopening, want 1", corrupt)
	}
}

// TestServedGetInto: GetInto returns a block's bytes as Get does, in the
// caller's buffer when the store holds the block itself (owned: the
// caller may reuse it), and not owned when it comes by file reference or
// from a store that keeps the slice it returns (the memory store).
func TestServedGetInto(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openTestStore(t, filepath.Join(dir, "store"))
	data := make([]byte, 64<<10)
	rand.Read(data)
	b := rawBlock(t, data)
	if err := st.Blocks.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, capacity := range []int{0, 100 << 10} {
		buf := make([]byte, 0, capacity)
		got, owned, err := GetInto(ctx, NewThrottled(st.Blocks.Served(), 1<<30), b.Cid(), buf)
		if err != nil || !bytes.Equal(got, data) || !owned {
			t.Fatalf("cap %d: %d bytes, owned %v, %v; want the block, owned", capacity, len(got), owned, err)
		}
		if inBuf := capacity > 0 && &got[0] == &buf[:1][0]; inBuf != (capacity > 0) {
			t.Fatalf("cap %d: read into the buffer %v", capacity, inBuf)
		}
	}

	file := filepath.Join(dir, "release.bin")
	fdata := make([]byte, 1000)
	rand.Read(fdata)
	if err := os.WriteFile(file, fdata, 0o600); err != nil {
		t.Fatal(err)
	}
	fb := rawBlock(t, fdata)
	if err := st.AddFileRef(ctx, fb.Cid(), FileRef{Path: file, Off: 0, Len: 1000}); err != nil {
		t.Fatal(err)
	}
	if got, owned, err := GetInto(ctx, st.Blocks.Served(), fb.Cid(), nil); err != nil || !bytes.Equal(got, fdata) || owned {
		t.Fatalf("by file reference: %d bytes, owned %v, %v; want the block, not owned", len(got), owned, err)
	}

	mem := OpenMemStore()
	if err := mem.Blocks.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, owned, err := GetInto(ctx, mem.Blocks.Served(), b.Cid(), make([]byte, 0, 100<<10)); err != nil || !bytes.Equal(got, data) || owned {
		t.Fatalf("memory store: %d bytes, owned %v, %v; want the block, not owned", len(got), owned, err)
	}
}

// TestServedGetIntoAfterClose: a read into a buffer after the store
// closed is an error, not a read of a closed database.
func TestServedGetIntoAfterClose(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(t.TempDir(), StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b := rawBlock(t, make([]byte, 64<<10))
	if err := st.Blocks.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if data, _, err := GetInto(ctx, st.Blocks.Served(), b.Cid(), nil); err == nil {
		t.Fatalf("read %d bytes from a closed store", len(data))
	}
}

// TestServedGetIntoRacesClose: reads into buffers running while the store
// closes end in errors, never in a read of an unmapped value log.
func TestServedGetIntoRacesClose(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(t.TempDir(), StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var cs []cid.Cid
	for i := range 64 {
		data := make([]byte, 64<<10)
		data[0], data[1] = byte(i), 1
		b := rawBlock(t, data)
		if err := st.Blocks.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, b.Cid())
	}
	var wg sync.WaitGroup
	var reads atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			buf := make([]byte, 0, 64<<10)
			for i := g; ; i++ {
				data, _, err := GetInto(ctx, st.Blocks.Served(), cs[i%len(cs)], buf)
				if err != nil {
					return
				}
				if len(data) != 64<<10 || data[0] != byte(i%len(cs)) {
					t.Errorf("read %d bytes starting %d for block %d", len(data), data[0], i%len(cs))
					return
				}
				reads.Add(1)
			}
		})
	}
	for reads.Load() < 100 {
		time.Sleep(time.Millisecond)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
