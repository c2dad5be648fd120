package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/go-cid"
)

// dagLevels returns the levels of the DAG under root, top first.
func dagLevels(t *testing.T, bs blockstore.Blockstore, root cid.Cid) [][]cid.Cid {
	t.Helper()
	ctx := context.Background()
	levels := [][]cid.Cid{{root}}
	for {
		var next []cid.Cid
		for _, c := range levels[len(levels)-1] {
			b, err := bs.Get(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			ls, err := Links(b)
			if err != nil {
				t.Fatal(err)
			}
			next = append(next, ls...)
		}
		if len(next) == 0 {
			return levels
		}
		levels = append(levels, next)
	}
}

// seededBytes is n pseudo-random bytes, the same for the same seed.
func seededBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	return data
}

// pieceFileFixture imports data and lays out its leaf level in a new file;
// it returns the DAG's levels, top first.
func pieceFileFixture(t *testing.T, data []byte, chunk int) (blockstore.Blockstore, *PieceFile, *os.File, [][]cid.Cid) {
	t.Helper()
	ctx := context.Background()
	bs, imp := importMem(t, data, chunk)
	lv := dagLevels(t, bs, imp.Root)
	leaves := lv[len(lv)-1]
	var parents []cid.Cid
	if len(lv) > 1 {
		parents = lv[len(lv)-2]
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pf, err := NewPieceFile(ctx, bs, f, parents, leaves, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return bs, pf, f, lv
}

// TestPieceFileAnyOrder: pieces written in random order, some not at all
// (read from the store by Finish), rebuild the file byte for byte — across
// several parent nodes, with leaves that repeat (zero chunks) and a short
// last leaf.
func TestPieceFileAnyOrder(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const chunk = 4 << 10
	data := make([]byte, 400*chunk+1234)
	for i := range data {
		if (i/chunk)%7 != 3 { // every 7th chunk stays zero: repeated leaves
			data[i] = byte(rng.IntN(256))
		}
	}
	bs, pf, f, lv := pieceFileFixture(t, data, chunk)
	pieces := UniqueCIDs(lv[len(lv)-1])
	if len(pieces) >= 401 {
		t.Fatalf("%d pieces: the zero chunks should repeat one leaf", len(pieces))
	}
	for _, i := range rng.Perm(len(pieces)) {
		if i%5 == 0 {
			continue // left for Finish
		}
		b, err := bs.Get(ctx, pieces[i])
		if err != nil {
			t.Fatal(err)
		}
		pf.Put(i, b.RawData())
	}
	n, sum, err := pf.Finish(ctx, bs)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if n != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("got %d bytes sha256 %s, want %d", n, sum, len(data))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs from the original (%v)", err)
	}
}

// TestPieceFileSingleLeaf: a file of one chunk is a DAG of one raw block.
func TestPieceFileSingleLeaf(t *testing.T) {
	data := []byte("one small firmware file")
	bs, pf, _, _ := pieceFileFixture(t, data, 4<<10)
	pf.Put(0, data)
	n, sum, err := pf.Finish(context.Background(), bs)
	want := sha256.Sum256(data)
	if err != nil || n != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("got %d, %s, %v", n, sum, err)
	}
}

// TestPieceFileRefusesBadLayouts: bytes of the wrong length for a piece,
// or a release size the leaves do not add up to, are ErrLayout — the
// caller then reassembles from the store.
func TestPieceFileRefusesBadLayouts(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48,000 bytes
	bs, pf, f, lv := pieceFileFixture(t, data, 4<<10)
	pf.Put(1, []byte("short"))
	if _, _, err := pf.Finish(ctx, bs); !errors.Is(err, ErrLayout) {
		t.Fatalf("a short piece: got %v, want ErrLayout", err)
	}
	if _, err := NewPieceFile(ctx, bs, f, lv[0], lv[1], int64(len(data))+1); !errors.Is(err, ErrLayout) {
		t.Fatalf("a wrong size: got %v, want ErrLayout", err)
	}
	if _, err := NewPieceFile(ctx, bs, f, nil, lv[1], int64(len(data))); !errors.Is(err, ErrLayout) {
		t.Fatalf("many leaves and no parent: got %v, want ErrLayout", err)
	}
	if _, err := NewPieceFile(ctx, bs, f, lv[0], lv[1][1:], int64(len(data))); !errors.Is(err, ErrLayout) {
		t.Fatalf("leaves that are not the parent's links: got %v, want ErrLayout", err)
	}
}

// TestInnerBlocksCheck: the inner blocks of a DAG with several parents
// round-trip through CheckInner; a flipped byte, a missing, an extra or a
// reordered block is refused.
func TestInnerBlocksCheck(t *testing.T) {
	ctx := context.Background()
	data := seededBytes(3, 400*(4<<10))
	bs, imp := importMem(t, data, 4<<10)
	inner, err := InnerBlocks(ctx, bs, imp.Root)
	if err != nil {
		t.Fatal(err)
	}
	if len(inner) != 4 || !inner[0].Cid().Equals(imp.Root) {
		t.Fatalf("got %d inner blocks, want the root and its 3 parents, root first", len(inner))
	}
	raw := make([][]byte, len(inner))
	for i, b := range inner {
		raw[i] = b.RawData()
	}
	got, err := CheckInner(imp.Root, raw)
	if err != nil || len(got) != len(inner) {
		t.Fatalf("genuine blocks: %d, %v", len(got), err)
	}
	flipped := append([][]byte(nil), raw...)
	flipped[2] = append([]byte(nil), raw[2]...)
	flipped[2][10] ^= 1
	for name, bad := range map[string][][]byte{
		"flipped byte": flipped,
		"missing":      raw[:3],
		"extra":        append(append([][]byte(nil), raw...), raw[1]),
		"reordered":    {raw[0], raw[2], raw[1], raw[3]},
		"none":         nil,
	} {
		if _, err := CheckInner(imp.Root, bad); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrHashMismatch) && !errors.Is(err, ErrBadInner) {
			t.Errorf("%s: %v, want ErrHashMismatch or ErrBadInner", name, err)
		}
	}
	if leaf, err := InnerBlocks(ctx, bs, inner[1].Cid()); err != nil || len(leaf) != 1 {
		t.Fatalf("a parent alone: %d, %v", len(leaf), err)
	}
}

// TestChunkSizeFor: at most 256 leaves, a power of two from 16 KiB to
// 256 KiB.
func TestChunkSizeFor(t *testing.T) {
	for _, c := range []struct {
		size int64
		want int
	}{{1 << 10, 16 << 10}, {4 << 20, 16 << 10}, {4<<20 + 1, 32 << 10}, {8 << 20, 32 << 10}, {8<<20 + 1, 64 << 10}, {64 << 20, 256 << 10}, {1 << 30, 256 << 10}} {
		if got := ChunkSizeFor(c.size); got != c.want {
			t.Errorf("ChunkSizeFor(%d) = %d, want %d", c.size, got, c.want)
		}
	}
}

// TestPieceFileHashesInOrder: pieces that arrive in file order, or a few
// places out of it, are hashed as they come (Finish reads nothing back);
// pieces far out of order are hashed by reading the file back. The sum is
// the file's either way, repeated leaves included.
func TestPieceFileHashesInOrder(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	const chunk = 4 << 10
	data := make([]byte, 300*chunk+99)
	for i := range data {
		if (i/chunk)%5 != 2 { // repeated zero leaves
			data[i] = byte(rng.IntN(256))
		}
	}
	want := sha256.Sum256(data)
	orders := map[string]func(k int) []int{
		"in order": func(k int) []int {
			o := make([]int, k)
			for i := range o {
				o[i] = i
			}
			return o
		},
		"pairs swapped": func(k int) []int {
			o := make([]int, k)
			for i := range o {
				o[i] = i ^ 1
				if o[i] >= k {
					o[i] = i
				}
			}
			return o
		},
		"reversed": func(k int) []int {
			o := make([]int, k)
			for i := range o {
				o[i] = k - 1 - i
			}
			return o
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			bs, pf, f, _ := pieceFileFixture(t, data, chunk)
			for _, i := range order(len(pf.Pieces())) {
				b, err := bs.Get(ctx, pf.Pieces()[i])
				if err != nil {
					t.Fatal(err)
				}
				if err := pf.Put(i, b.RawData()); err != nil {
					t.Fatal(err)
				}
				if err := pf.Put(i, b.RawData()); err != nil { // a duplicate arrival
					t.Fatal(err)
				}
			}
			streamed := pf.stream && pf.next == len(pf.order)
			if streamed != (name != "reversed") {
				t.Fatalf("hashed as they came: %v (next %d of %d)", streamed, pf.next, len(pf.order))
			}
			n, sum, err := pf.Finish(ctx, bs)
			if err != nil || n != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
				t.Fatalf("got %d bytes sha256 %s (%v)", n, sum, err)
			}
			if got, _ := os.ReadFile(f.Name()); !bytes.Equal(got, data) {
				t.Fatal("file differs")
			}
		})
	}
}

// TestPieceFileStartsWriteback: a file written through Put asks the kernel
// to start writing it back as it grows (every writebackEvery bytes), not
// only at the final fsync, and the file still comes out byte for byte.
func TestPieceFileStartsWriteback(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	const chunk = 256 << 10
	data := seededBytes(4, 3*writebackEvery+chunk/2)
	bs, pf, f, lv := pieceFileFixture(t, data, chunk)
	leaves := lv[len(lv)-1]
	for _, i := range rng.Perm(len(pf.Pieces())) {
		b, err := bs.Get(ctx, pf.Pieces()[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := pf.Put(i, b.RawData()); err != nil {
			t.Fatal(err)
		}
		for pf.wbRun.Load() { // one at a time: let each finish, so the count is exact
			time.Sleep(time.Millisecond)
		}
	}
	if n, want := pf.wbN.Load(), int64(len(data)/writebackEvery); n != want {
		t.Errorf("%d writebacks started for %d bytes in %d leaves; want %d (one per %d bytes)", n, len(data), len(leaves), want, writebackEvery)
	}
	size, sum, err := pf.Finish(ctx, bs)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if size != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("finished %d bytes sha256 %s; want %d bytes %x", size, sum, len(data), want)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs from the data (%v)", err)
	}
}

// TestPieceFileKeepsNoCallerBuffer: Put keeps nothing of the buffer it is
// given (the swarm protocol reads blocks into recycled buffers): pieces
// put out of file order, each buffer overwritten right after its Put,
// still hash and rebuild to the original.
func TestPieceFileKeepsNoCallerBuffer(t *testing.T) {
	ctx := context.Background()
	const chunk = 4 << 10
	data := seededBytes(5, 40*chunk+77)
	bs, pf, _, _ := pieceFileFixture(t, data, chunk)
	n := len(pf.Pieces())
	// Back to front, then the first: every piece but the first waits
	// ahead of its turn (up to maxAhead of them).
	order := []int{}
	for i := min(n-1, maxAhead); i >= 1; i-- {
		order = append(order, i)
	}
	order = append(order, 0)
	for i := min(n-1, maxAhead) + 1; i < n; i++ {
		order = append(order, i)
	}
	buf := make([]byte, chunk)
	for _, i := range order {
		b, err := bs.Get(ctx, pf.Pieces()[i])
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf[:0], b.RawData()...)
		if err := pf.Put(i, buf); err != nil {
			t.Fatal(err)
		}
		for j := range buf {
			buf[j] = 0xAA
		}
	}
	if !pf.stream {
		t.Fatal("the test put more pieces ahead than the file keeps: it did not exercise the buffers kept ahead")
	}
	_, sum, err := pf.Finish(ctx, bs)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); sum != hex.EncodeToString(want[:]) {
		t.Fatalf("sha256 %s, want %x: Put kept a caller's buffer", sum, want)
	}
}
