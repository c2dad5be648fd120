package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// DefaultChunkSize is the leaf size used when none is given: 256 KiB, the
// IPFS default, and a good trade between per-block overhead and how soon a
// device has something to share.
const DefaultChunkSize = 256 << 10

// ChunkSizeFor is the leaf size publishing uses when none is given: the
// smallest power of two that cuts a file of size bytes into at most 256
// pieces, kept between 16 KiB and DefaultChunkSize. A swarm's finishing
// time has a floor of (F/u)(1 + log2(N)/k) for k pieces (Mundinger, Weber
// & Weiss): with 256 pieces and 1,000 devices that is 4% above the
// Kumar-Ross bound, where a 4 MiB patch in 256 KiB leaves (16 pieces)
// would be 62% above it before any protocol overhead. Smaller pieces also
// spread faster, a hop being store-and-forward: on 300 stack devices (4
// MiB, simnet, 20 Mbit/s, 10 ms) the median device finished at 2.55-2.56 s
// with 16 KiB pieces (swarm.WindowFor: ten asked at once) against
// 2.68-2.74 s with 32 KiB; 64 KiB gave 2.95 s. Big files keep 256 KiB
// leaves, which have fewer per-block costs and already give hundreds of
// pieces.
func ChunkSizeFor(size int64) int {
	c := 16 << 10
	for c < DefaultChunkSize && size > int64(c)*256 {
		c *= 2
	}
	return c
}

// MaxChunkSize is the largest leaf bitswap will carry (its message limit is
// 4 MiB; we keep a margin for framing).
const MaxChunkSize = 2 << 20

// Imported describes a file chunked into a DAG.
type Imported struct {
	Root   cid.Cid
	Size   int64
	SHA256 string // hex
	Blocks int    // blocks written, including intermediate nodes
}

// cidBuilder makes CIDv1 dag-pb nodes hashed with SHA-256.
var cidBuilder = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}

// Import chunks r into a balanced UnixFS DAG with raw leaves of chunkSize
// bytes and writes every block to dst. dst may be a discarding service when
// only the root CID is wanted. The importer is boxo's, so the DAG is exactly
// what `ipfs add --cid-version=1 --raw-leaves --chunker=size-N` would make.
func Import(ctx context.Context, dst ipld.DAGService, r io.Reader, chunkSize int) (Imported, error) {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	return ImportChunked(ctx, dst, r, fmt.Sprintf("size-%d", chunkSize))
}

// ImportChunked is Import with the leaves cut as spec says, in IPFS's
// chunker syntax: "size-N" (fixed N-byte leaves) or "rabin-MIN-AVG-MAX"
// (content-defined: a leaf ends where a rolling hash of the content says,
// so an insertion or deletion moves only the leaves around it and the
// unchanged regions of two versions share blocks). "" means the default
// fixed size. No leaf may exceed MaxChunkSize.
func ImportChunked(ctx context.Context, dst ipld.DAGService, r io.Reader, spec string) (Imported, error) {
	if spec == "" {
		spec = fmt.Sprintf("size-%d", DefaultChunkSize)
	}
	if _, err := MaxLeaf(spec); err != nil {
		return Imported{}, err
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h), ctx: ctx}
	counter := &countingDAG{DAGService: dst}
	params := helpers.DagBuilderParams{
		Dagserv:    counter,
		Maxlinks:   helpers.DefaultLinksPerBlock,
		RawLeaves:  true,
		CidBuilder: cidBuilder,
	}
	split, err := chunker.FromString(cr, spec)
	if err != nil {
		return Imported{}, fmt.Errorf("chunker %q: %w", spec, err)
	}
	db, err := params.New(split)
	if err != nil {
		return Imported{}, fmt.Errorf("start import: %w", err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return Imported{}, fmt.Errorf("import: %w", err)
	}
	if cr.n == 0 {
		return Imported{}, fmt.Errorf("import: the file is empty")
	}
	return Imported{Root: nd.Cid(), Size: cr.n, SHA256: hex.EncodeToString(h.Sum(nil)), Blocks: counter.n}, nil
}

// MaxLeaf checks that spec is a chunker Import can use — "size-N" with
// 0 < N <= MaxChunkSize, or "rabin-MIN-AVG-MAX" with
// 0 < MIN <= AVG <= MAX <= MaxChunkSize — and returns the largest leaf it
// can cut (N or MAX).
func MaxLeaf(spec string) (int, error) {
	var a, b, c int
	switch {
	case strings.HasPrefix(spec, "size-"):
		if n, err := fmt.Sscanf(spec, "size-%d", &a); err != nil || n != 1 || a <= 0 || a > MaxChunkSize || spec != fmt.Sprintf("size-%d", a) {
			return 0, fmt.Errorf("chunker %q: want size-N with N from 1 to %d", spec, MaxChunkSize)
		}
		return a, nil
	case strings.HasPrefix(spec, "rabin-"):
		if n, err := fmt.Sscanf(spec, "rabin-%d-%d-%d", &a, &b, &c); err != nil || n != 3 || a <= 0 || a > b || b > c || c > MaxChunkSize ||
			spec != fmt.Sprintf("rabin-%d-%d-%d", a, b, c) {
			return 0, fmt.Errorf("chunker %q: want rabin-MIN-AVG-MAX with 0 < MIN <= AVG <= MAX <= %d", spec, MaxChunkSize)
		}
		return c, nil
	}
	return 0, fmt.Errorf("chunker %q: want size-N or rabin-MIN-AVG-MAX", spec)
}

type countingReader struct {
	r   io.Reader
	n   int64
	ctx context.Context
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type countingDAG struct {
	ipld.DAGService
	n int
}

func (c *countingDAG) Add(ctx context.Context, nd ipld.Node) error {
	c.n++
	return c.DAGService.Add(ctx, nd)
}

func (c *countingDAG) AddMany(ctx context.Context, nds []ipld.Node) error {
	c.n += len(nds)
	return c.DAGService.AddMany(ctx, nds)
}

// DAGService returns a DAG service over bs with no network exchange.
func DAGService(bs blockstore.Blockstore) ipld.DAGService {
	return merkledag.NewDAGService(blockservice.New(bs, nil))
}

// Discard is a DAG service that keeps nothing: Import into it to learn a
// file's root CID without storing blocks.
func Discard() ipld.DAGService { return discardDAG{} }

type discardDAG struct{}

func (discardDAG) Get(context.Context, cid.Cid) (ipld.Node, error) { return nil, ipld.ErrNotFound{} }
func (discardDAG) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption)
	close(ch)
	return ch
}
func (discardDAG) Add(context.Context, ipld.Node) error        { return nil }
func (discardDAG) AddMany(context.Context, []ipld.Node) error  { return nil }
func (discardDAG) Remove(context.Context, cid.Cid) error       { return nil }
func (discardDAG) RemoveMany(context.Context, []cid.Cid) error { return nil }

// Links returns the child CIDs of a DAG block: none for a raw leaf, the links
// of a dag-pb node otherwise.
func Links(b blocks.Block) ([]cid.Cid, error) {
	switch b.Cid().Type() {
	case cid.Raw:
		return nil, nil
	case cid.DagProtobuf:
		nd, err := merkledag.DecodeProtobufBlock(b)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", b.Cid(), err)
		}
		ls := nd.Links()
		out := make([]cid.Cid, len(ls))
		for i, l := range ls {
			out[i] = l.Cid
		}
		return out, nil
	default:
		return nil, fmt.Errorf("block %s has unsupported codec 0x%x", b.Cid(), b.Cid().Type())
	}
}

// Assemble writes the file under root, read from bs only, to w and returns
// its size and hex SHA-256. Every block is re-verified as it is read.
func Assemble(ctx context.Context, bs blockstore.Blockstore, root cid.Cid, w io.Writer) (int64, string, error) {
	if _, verifies := bs.(*VerifyingBlockstore); !verifies { // it re-hashes on Get already
		bs = &readVerifier{Blockstore: bs}
	}
	dag := DAGService(bs)
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return 0, "", fmt.Errorf("read root %s: %w", root, err)
	}
	rd, err := uio.NewDagReader(ctx, nd, dag)
	if err != nil {
		return 0, "", fmt.Errorf("open DAG %s: %w", root, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), rd)
	if err != nil {
		return n, "", fmt.Errorf("reassemble %s: %w", root, err)
	}
	return n, hexSum(h), nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// readVerifier re-hashes blocks as they are read, so a corrupted store is
// detected rather than installed.
type readVerifier struct{ blockstore.Blockstore }

func (r *readVerifier) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := r.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := VerifyBlock(b); err != nil {
		return nil, err
	}
	return b, nil
}

// ErrNotLeafLevel: a DAG whose leaves are not all on one level (or not all
// raw) has no single list of pieces to swarm on.
var ErrNotLeafLevel = errors.New("DAG leaves are not one level of raw blocks")

// Pieces returns the distinct leaves of the DAG under root in the order a
// level-by-level walk meets them: the pieces the swarm protocol numbers.
// Every intermediate block must be in bs (ipld.ErrNotFound otherwise).
// Both ends of a swarm exchange compute it the same way.
func Pieces(ctx context.Context, bs blockstore.Blockstore, root cid.Cid) ([]cid.Cid, error) {
	level := []cid.Cid{root}
	for {
		if LeafLevel(level) {
			return UniqueCIDs(level), nil
		}
		var next []cid.Cid
		for _, c := range level {
			if c.Type() != cid.DagProtobuf {
				return nil, ErrNotLeafLevel
			}
			b, err := bs.Get(ctx, c)
			if err != nil {
				return nil, err
			}
			links, err := Links(b)
			if err != nil {
				return nil, err
			}
			next = append(next, links...)
		}
		if len(next) == 0 {
			return nil, ErrNotLeafLevel
		}
		level = next
	}
}

// LeafLevel reports whether every block of level is a raw leaf.
func LeafLevel(level []cid.Cid) bool {
	for _, c := range level {
		if c.Type() != cid.Raw {
			return false
		}
	}
	return len(level) > 0
}

// UniqueCIDs returns cs without repeats, in first-seen order.
func UniqueCIDs(cs []cid.Cid) []cid.Cid {
	seen := make(map[cid.Cid]struct{}, len(cs))
	out := make([]cid.Cid, 0, len(cs))
	for _, c := range cs {
		if _, ok := seen[c]; !ok {
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	return out
}

// maxInnerBlocks bounds the inner blocks walked: a balanced DAG of
// 174-link nodes needs one per 174 leaves, so 16,384 cover 2.8 million
// leaves (700 GiB in 256 KiB chunks), far past any release.
const maxInnerBlocks = 1 << 14

// InnerBlocks returns the DAG's inner (dag-pb) blocks under root, each
// once, in breadth-first order — what a device needs before it can name
// the leaves it lacks. All must be in bs. A raw root has none.
func InnerBlocks(ctx context.Context, bs blockstore.Blockstore, root cid.Cid) ([]blocks.Block, error) {
	var out []blocks.Block
	err := walkInner(root, func(c cid.Cid) ([]cid.Cid, error) {
		b, err := bs.Get(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		return Links(b)
	})
	return out, err
}

// CheckInner verifies inner blocks received from a peer for root: they
// must be exactly the DAG's inner blocks in InnerBlocks' order, each
// hashing to the CID its parent (or the signed root) names. It returns
// them as blocks, ready to store.
func CheckInner(root cid.Cid, raw [][]byte) ([]blocks.Block, error) {
	var out []blocks.Block
	err := walkInner(root, func(c cid.Cid) ([]cid.Cid, error) {
		if len(out) >= len(raw) {
			return nil, fmt.Errorf("%w: inner block %s missing", ErrBadInner, c)
		}
		b, err := blocks.NewBlockWithCid(raw[len(out)], c)
		if err != nil {
			return nil, err
		}
		if err := VerifyBlock(b); err != nil {
			return nil, err
		}
		out = append(out, b)
		return Links(b)
	})
	if err == nil && len(out) != len(raw) {
		err = fmt.Errorf("%w: %d inner blocks sent, the DAG has %d", ErrBadInner, len(raw), len(out))
	}
	return out, err
}

// walkInner visits root's dag-pb blocks breadth first, each once; visit
// returns a block's links.
func walkInner(root cid.Cid, visit func(cid.Cid) ([]cid.Cid, error)) error {
	seen := map[cid.Cid]bool{}
	queue := []cid.Cid{root}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c.Type() != cid.DagProtobuf || seen[c] {
			continue
		}
		if len(seen) >= maxInnerBlocks {
			return fmt.Errorf("%w: more than %d inner blocks", ErrTooManyInner, maxInnerBlocks)
		}
		seen[c] = true
		links, err := visit(c)
		if err != nil {
			return err
		}
		queue = append(queue, links...)
	}
	return nil
}

var (
	// ErrTooManyInner: a DAG with more inner blocks than any release needs.
	ErrTooManyInner = errors.New("DAG too large")
	// ErrBadInner: inner blocks from a peer are not the DAG's.
	ErrBadInner = errors.New("inner blocks do not match the DAG")
)
