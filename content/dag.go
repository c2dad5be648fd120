package content

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

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
	if chunkSize > MaxChunkSize {
		return Imported{}, fmt.Errorf("chunk size %d is over the %d-byte limit", chunkSize, MaxChunkSize)
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
	db, err := params.New(chunker.NewSizeSplitter(cr, int64(chunkSize)))
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
