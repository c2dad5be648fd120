package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
)

// ErrLayout: a DAG's leaf sizes do not add up to a file layout (parents'
// block sizes disagree with their links, with the leaves, or with the
// release's size). Callers fall back to Assemble, which reads the DAG in
// order and whose SHA-256 check has the last word.
var ErrLayout = errors.New("DAG layout does not match its leaves")

// PieceFile writes the file a DAG encodes while its leaves arrive, in any
// order, at the offsets the DAG gives them — so a fetch needs no second
// pass that reads every block back out of the store. Leaves that did not
// arrive through Put (held from before a restart, or fetched another way)
// are read from the store by Finish. It trusts the bytes it is given: give
// it only blocks already verified against their CID. Safe for concurrent
// use.
type PieceFile struct {
	f      *os.File
	size   int64
	pieces []cid.Cid // UniqueCIDs(leaves): what Put's numbers name
	offs   [][]int64 // per piece (UniqueCIDs order): where its bytes go
	lens   []int64   // per piece: its length in the layout

	mu   sync.Mutex
	done []bool
	err  error

	// Bytes written since the kernel was last asked to start writing the
	// file back, and whether such a request is under way (see Put).
	dirty atomic.Int64
	wbRun atomic.Bool
	wbN   atomic.Int64 // writebacks started (for tests)

	// The file's SHA-256, taken as the pieces arrive in file order, so
	// Finish reads back only what came out of order or not at all.
	hmu    sync.Mutex
	h      hash.Hash
	order  []int   // the piece at each leaf position, in file order
	posOff []int64 // each position's offset
	left   []int   // per piece: positions not yet hashed
	next   int     // the first position not hashed
	ahead  map[int][]byte
	stream bool // false once more than maxAhead pieces were ahead
}

// writebackEvery: after this many bytes written, Put asks the kernel to
// start writing the file to disk (startWriteback). Otherwise the whole
// release sits in dirty pages until the fetch's final fsync, which then
// waits for all of it at once: on a fast link that wait was a fifth of
// the fetch, and on a gateway with little memory a large release would
// fill it with dirty pages.
const writebackEvery = 8 << 20

// maxAhead: pieces kept in memory while they wait for the ones before
// them to be hashed (4 MiB of 256 KiB pieces). Beyond that Finish hashes
// the rest of the file by reading it back.
const maxAhead = 16

// NewPieceFile lays out the leaves of a DAG whose leaf level is leaves (in
// DAG order, repeats included) and whose level above is parents (nil when
// the root is itself the only leaf); every parent block must be in bs. The
// pieces Put numbers are UniqueCIDs(leaves), as Pieces numbers them. size
// is the file size the release declares.
func NewPieceFile(ctx context.Context, bs blockstore.Blockstore, f *os.File, parents, leaves []cid.Cid, size int64) (*PieceFile, error) {
	pieces := UniqueCIDs(leaves)
	index := make(map[cid.Cid]int, len(pieces))
	for i, c := range pieces {
		index[c] = i
	}
	pf := &PieceFile{f: f, size: size, pieces: pieces, offs: make([][]int64, len(pieces)), lens: make([]int64, len(pieces)), done: make([]bool, len(pieces)),
		h: sha256.New(), left: make([]int, len(pieces)), ahead: map[int][]byte{}, stream: true}
	for i := range pf.lens {
		pf.lens[i] = -1
	}
	place := func(c cid.Cid, off, n int64) error {
		i := index[c]
		if pf.lens[i] >= 0 && pf.lens[i] != n {
			return fmt.Errorf("%w: %s has two sizes", ErrLayout, c)
		}
		pf.lens[i] = n
		pf.offs[i] = append(pf.offs[i], off)
		pf.order = append(pf.order, i)
		pf.posOff = append(pf.posOff, off)
		pf.left[i]++
		return nil
	}
	if parents == nil {
		if len(leaves) != 1 {
			return nil, fmt.Errorf("%w: %d leaves and no parent", ErrLayout, len(leaves))
		}
		return pf, place(leaves[0], 0, size)
	}
	var off int64
	j := 0
	for _, p := range parents {
		b, err := bs.Get(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		nd, err := merkledag.DecodeProtobufBlock(b)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", p, err)
		}
		pb, ok := nd.(*merkledag.ProtoNode)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not dag-pb", ErrLayout, p)
		}
		fsn, err := unixfs.FSNodeFromBytes(pb.Data())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrLayout, p, err)
		}
		links := pb.Links()
		if fsn.NumChildren() != len(links) {
			return nil, fmt.Errorf("%w: %s has %d links and %d sizes", ErrLayout, p, len(links), fsn.NumChildren())
		}
		for x, l := range links {
			if j >= len(leaves) || !leaves[j].Equals(l.Cid) {
				return nil, fmt.Errorf("%w: %s's links are not the leaf level", ErrLayout, p)
			}
			n := int64(fsn.BlockSize(x))
			if err := place(l.Cid, off, n); err != nil {
				return nil, err
			}
			off += n
			j++
		}
	}
	if j != len(leaves) || off != size {
		return nil, fmt.Errorf("%w: leaves make %d bytes, the release %d", ErrLayout, off, size)
	}
	return pf, nil
}

// Put writes piece i's bytes wherever the layout has them; it keeps no
// reference to data once it returns. A failure (a full disk, a length the
// layout does not expect) is returned and kept for Finish.
func (pf *PieceFile) Put(i int, data []byte) error {
	if i < 0 || i >= len(pf.offs) {
		return fmt.Errorf("%w: no piece %d", ErrLayout, i)
	}
	err := pf.write(i, data)
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if err != nil && pf.err == nil {
		pf.err = err
	}
	if err == nil {
		pf.done[i] = true
	}
	if err == nil {
		pf.hashInOrder(i, data)
		pf.kickWriteback(int64(len(data) * len(pf.offs[i])))
	}
	return err
}

// kickWriteback counts n bytes written and, every writebackEvery bytes,
// starts the kernel writing the file back, on its own goroutine (the
// request may wait for the disk's queue) and at most one at a time.
func (pf *PieceFile) kickWriteback(n int64) {
	if pf.dirty.Add(n) < writebackEvery || !pf.wbRun.CompareAndSwap(false, true) {
		return
	}
	pf.dirty.Store(0)
	pf.wbN.Add(1)
	go func() {
		defer pf.wbRun.Store(false)
		startWriteback(pf.f)
	}()
}

// hashInOrder feeds the hash every piece it can, in file order, from
// piece i (just written) and those that came ahead of their turn.
func (pf *PieceFile) hashInOrder(i int, data []byte) {
	pf.hmu.Lock()
	defer pf.hmu.Unlock()
	if !pf.stream || pf.left[i] == 0 {
		return
	}
	pf.ahead[i] = data
	for pf.next < len(pf.order) {
		p := pf.order[pf.next]
		d, ok := pf.ahead[p]
		if !ok {
			break
		}
		pf.h.Write(d)
		pf.next++
		if pf.left[p]--; pf.left[p] == 0 {
			delete(pf.ahead, p)
		}
	}
	if len(pf.ahead) > maxAhead {
		pf.stream, pf.ahead = false, nil
		return
	}
	// A piece still waiting for its turn outlives the caller's buffer
	// (Put keeps nothing the caller passed it).
	if d, ok := pf.ahead[i]; ok {
		pf.ahead[i] = bytes.Clone(d)
	}
}

// Ref is where piece i's bytes lie in the file (its first place, if the
// DAG repeats it).
func (pf *PieceFile) Ref(i int) FileRef {
	return FileRef{Path: pf.f.Name(), Off: pf.offs[i][0], Len: pf.lens[i]}
}

func (pf *PieceFile) write(i int, data []byte) error {
	if int64(len(data)) != pf.lens[i] {
		return fmt.Errorf("%w: piece %d is %d bytes, the layout says %d", ErrLayout, i, len(data), pf.lens[i])
	}
	for _, off := range pf.offs[i] {
		if _, err := pf.f.WriteAt(data, off); err != nil {
			return fmt.Errorf("write file: %w", err)
		}
	}
	return nil
}

// Pieces is the pieces Put numbers (UniqueCIDs of the leaf level).
func (pf *PieceFile) Pieces() []cid.Cid { return pf.pieces }

// File returns the file being written.
func (pf *PieceFile) File() *os.File { return pf.f }

// Finish writes the pieces Put did not, reading them from bs (which should
// verify what it reads), sets the file's length, and returns its size and
// SHA-256: of the bytes Put wrote in file order as they came, and of the
// rest read back from the file itself.
func (pf *PieceFile) Finish(ctx context.Context, bs blockstore.Blockstore) (int64, string, error) {
	pieces := pf.pieces
	pf.mu.Lock()
	err := pf.err
	done := append([]bool(nil), pf.done...)
	pf.mu.Unlock()
	if err != nil {
		return 0, "", err
	}
	for i, ok := range done {
		if ok {
			continue
		}
		b, err := bs.Get(ctx, pieces[i])
		if err != nil {
			return 0, "", fmt.Errorf("read %s: %w", pieces[i], err)
		}
		if err := pf.write(i, b.RawData()); err != nil {
			return 0, "", err
		}
	}
	if err := pf.f.Truncate(pf.size); err != nil {
		return 0, "", fmt.Errorf("size file: %w", err)
	}
	// What was not hashed on the way in is read back from the file.
	pf.hmu.Lock()
	defer pf.hmu.Unlock()
	h, from := pf.h, int64(0)
	switch {
	case !pf.stream:
		h = sha256.New()
	case pf.next < len(pf.posOff):
		from = pf.posOff[pf.next]
	default:
		from = pf.size
	}
	n, err := io.Copy(h, io.NewSectionReader(pf.f, from, pf.size-from))
	if err != nil {
		return from + n, "", fmt.Errorf("read back file: %w", err)
	}
	return from + n, hexSum(h), nil
}
