package content

// Air-gap transport: a release travels as one CARv1 file.
//
// The file is a plain CARv1 (https://ipld.io/specs/transport/car/carv1/), so
// `ipfs dag import`, `car ls` and friends can read it. Its header has exactly
// two roots, [release root, bundle block]. The sections are every block of
// the release DAG once, depth-first in link order from the root (pre-order,
// duplicates skipped at their first visit), then the bundle block: a raw
// (0x55) sha2-256 block holding the signed envelopes as
//
//	{"tocsin_bundle":1,"envelopes":["<base64>", ...]}
//
// The CAR framing is go-car's (github.com/ipld/go-car/v2, v2.17.0, the
// version boxo already selects in this module graph, so adding it moved no
// other dependency). Everything Tocsin needs on top — the root count, the
// strict CID rules, the limits, the completeness check and the sentinels —
// is here.
//
// Reading never trusts the file: every block is re-hashed against its CID,
// only sha2-256 raw and dag-pb blocks are accepted, every link of every
// dag-pb node reachable from the root must be in the file, and a block that
// is neither in the DAG nor the bundle block is refused. Signatures are not
// checked here: the caller verifies Bundle.Envelopes against its trust root
// and only then calls Bundle.Store.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"
)

// Errors returned by ReadBundle and Bundle's methods. Each is wrapped with
// details (section number, CID, cause); test with errors.Is.
var (
	// ErrCorruptCAR: the file is not a well-formed Tocsin bundle — bad
	// framing, truncated, a block whose bytes do not match its CID, a CID
	// of a kind bundles never carry, a wrong header, a duplicate or stray
	// block, or an unreadable bundle block.
	ErrCorruptCAR = errors.New("corrupt bundle CAR")
	// ErrIncompleteCAR: the file is well formed but lacks a block the
	// release DAG links to, or the bundle block named in its header.
	ErrIncompleteCAR = errors.New("incomplete bundle CAR")
	// ErrBundleLimit: the file exceeds one of the BundleLimits.
	ErrBundleLimit = errors.New("bundle CAR over limit")
)

// BundleFormat is the version written in the bundle block's
// "tocsin_bundle" field. Readers refuse any other.
const BundleFormat = 1

// Defaults for the zero fields of BundleLimits.
const (
	// DefaultBundleMaxBytes caps the whole file: 4 GiB.
	DefaultBundleMaxBytes int64 = 4 << 30
	// DefaultBundleMaxBlocks caps the number of sections: 2^17, i.e. 32 GiB
	// of 256 KiB leaves. The in-memory index costs ~200 bytes per block.
	DefaultBundleMaxBlocks = 1 << 17
	// DefaultBundleMaxBlockSize caps one block: 4 MiB, bitswap's message
	// limit, so nothing larger could be seeded onwards anyway. It also caps
	// the bundle block, hence the envelopes' total size.
	DefaultBundleMaxBlockSize = 4 << 20
	// DefaultBundleMaxEnvelopes caps the signed documents in one bundle.
	DefaultBundleMaxEnvelopes = 16
)

const (
	// maxCARHeader bounds the CARv1 header; two sha2-256 roots need ~90
	// bytes.
	maxCARHeader = 4 << 10
	// maxSectionCID is the slack over MaxBlockSize a section may have for
	// its CID; a CIDv1 sha2-256 is 36 bytes.
	maxSectionCID = 128
	// storeBatchBytes bounds one PutMany in Bundle.Store.
	storeBatchBytes = 8 << 20
	storeBatchLen   = 1024
)

// BundleLimits bounds what ReadBundle accepts. Zero or negative fields take
// the Default* values.
//
// Memory: block bytes are spooled to a temporary file, not kept in memory.
// ReadBundle holds at most two blocks at a time (≤ 2×MaxBlockSize), the
// decoded envelopes (≤ MaxBlockSize), and an index of ~200 bytes per block
// (≤ ~25 MiB at the default MaxBlocks). Disk: up to MaxTotalBytes in SpoolDir
// until Bundle.Close.
type BundleLimits struct {
	MaxTotalBytes int64 // bytes read from the file
	MaxBlocks     int   // sections, the bundle block included
	MaxBlockSize  int   // bytes of one block's data
	MaxEnvelopes  int   // envelopes in the bundle block
	// SpoolDir is where the block spool file is created; empty means
	// os.TempDir(). On a device whose /tmp is a RAM disk, point it at the
	// data partition.
	SpoolDir string
}

func (l BundleLimits) withDefaults() BundleLimits {
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultBundleMaxBytes
	}
	if l.MaxBlocks <= 0 {
		l.MaxBlocks = DefaultBundleMaxBlocks
	}
	if l.MaxBlockSize <= 0 {
		l.MaxBlockSize = DefaultBundleMaxBlockSize
	}
	if l.MaxEnvelopes <= 0 {
		l.MaxEnvelopes = DefaultBundleMaxEnvelopes
	}
	return l
}

// BundleStats describes a written bundle.
type BundleStats struct {
	BundleCID cid.Cid // the raw block holding the envelopes (second root)
	Blocks    int     // DAG blocks written, each distinct block once
	DAGBytes  int64   // their data bytes
	Bytes     int64   // bytes written to w in all
}

// bundleDoc is the bundle block's JSON. encoding/json writes []byte as
// standard padded base64.
type bundleDoc struct {
	Format    int      `json:"tocsin_bundle"`
	Envelopes [][]byte `json:"envelopes"`
}

var bundlePrefix = cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}

// bundleBlock encodes envelopes as the bundle block.
func bundleBlock(envelopes [][]byte) (blocks.Block, error) {
	if len(envelopes) == 0 {
		return nil, errors.New("a bundle needs at least one signed envelope")
	}
	if len(envelopes) > DefaultBundleMaxEnvelopes {
		return nil, fmt.Errorf("%d envelopes: over the %d a default reader accepts", len(envelopes), DefaultBundleMaxEnvelopes)
	}
	for i, e := range envelopes {
		if len(e) == 0 {
			return nil, fmt.Errorf("envelope %d is empty", i)
		}
	}
	data, err := json.Marshal(bundleDoc{Format: BundleFormat, Envelopes: envelopes})
	if err != nil {
		return nil, fmt.Errorf("encode bundle block: %w", err)
	}
	if len(data) > DefaultBundleMaxBlockSize {
		return nil, fmt.Errorf("bundle block is %d bytes: over the %d a default reader accepts", len(data), DefaultBundleMaxBlockSize)
	}
	c, err := bundlePrefix.Sum(data)
	if err != nil {
		return nil, fmt.Errorf("hash bundle block: %w", err)
	}
	return blocks.NewBlockWithCid(data, c)
}

// parseBundleBlock decodes the bundle block's envelopes.
func parseBundleBlock(data []byte, maxEnvelopes int) ([][]byte, error) {
	var head struct {
		Format *int `json:"tocsin_bundle"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: bundle block is not JSON: %w", ErrCorruptCAR, err)
	}
	if head.Format == nil {
		return nil, fmt.Errorf("%w: bundle block has no tocsin_bundle version", ErrCorruptCAR)
	}
	if *head.Format != BundleFormat {
		return nil, fmt.Errorf("%w: bundle format version %d is not supported (this build reads %d)", ErrCorruptCAR, *head.Format, BundleFormat)
	}
	var doc bundleDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: bundle block: %w", ErrCorruptCAR, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: bundle block has data after its JSON object", ErrCorruptCAR)
	}
	if len(doc.Envelopes) == 0 {
		return nil, fmt.Errorf("%w: bundle block holds no envelopes", ErrCorruptCAR)
	}
	if len(doc.Envelopes) > maxEnvelopes {
		return nil, fmt.Errorf("%w: %d envelopes, limit %d", ErrBundleLimit, len(doc.Envelopes), maxEnvelopes)
	}
	for i, e := range doc.Envelopes {
		if len(e) == 0 {
			return nil, fmt.Errorf("%w: envelope %d is empty", ErrCorruptCAR, i)
		}
	}
	return doc.Envelopes, nil
}

// checkBundleCID accepts the CIDs a bundle may carry: sha2-256 (full
// length), raw or dag-pb. That is all Import makes, and it keeps weak or
// exotic hash functions out of the store.
func checkBundleCID(c cid.Cid) error {
	if !c.Defined() {
		return errors.New("undefined CID")
	}
	p := c.Prefix()
	if p.MhType != mh.SHA2_256 || p.MhLength != 32 {
		return fmt.Errorf("CID %s uses multihash 0x%x/%d bytes; bundles carry sha2-256 only", c, p.MhType, p.MhLength)
	}
	if p.Codec != cid.Raw && p.Codec != cid.DagProtobuf {
		return fmt.Errorf("CID %s has codec 0x%x; bundles carry raw and dag-pb blocks only", c, p.Codec)
	}
	return nil
}

// countingWriter counts bytes and hides any io.WriterAt of the destination,
// so go-car streams sequentially (a pipe is an *os.File whose WriteAt fails).
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteBundle writes the release DAG under root, read from bs, and the
// signed envelopes to w as a CARv1 (see the top of this file for the
// layout). Every block is re-verified against its CID as it is read. A block
// missing from bs fails the export with an error that names it and wraps
// the blockstore's (ipld.ErrNotFound for boxo's). On error, w holds a
// partial file that must be discarded. The output is deterministic: the same
// DAG and envelopes give the same bytes.
func WriteBundle(ctx context.Context, w io.Writer, root cid.Cid, bs blockstore.Blockstore, envelopes [][]byte) (st BundleStats, err error) {
	cw := &countingWriter{w: w}
	defer func() { st.Bytes = cw.n }()
	if err := checkBundleCID(root); err != nil {
		return st, fmt.Errorf("export: release root: %w", err)
	}
	bb, err := bundleBlock(envelopes)
	if err != nil {
		return st, fmt.Errorf("export %s: %w", root, err)
	}
	st.BundleCID = bb.Cid()
	out, err := carstorage.NewWritable(cw, []cid.Cid{root, bb.Cid()},
		carv2.WriteAsCarV1(true),
		carv2.AllowDuplicatePuts(true), // we skip duplicates ourselves
		carv2.UseWholeCIDs(true),
		carv2.StoreIdentityCIDs(true))
	if err != nil {
		return st, fmt.Errorf("export %s: write CAR header: %w", root, err)
	}
	seen := make(map[cid.Cid]struct{})
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("export %s: %w", root, err)
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[c]; ok {
			continue
		}
		seen[c] = struct{}{}
		b, err := bs.Get(ctx, c)
		if err != nil {
			return st, fmt.Errorf("export %s: block %s is not in the store: %w", root, c, err)
		}
		if err := VerifyBlock(b); err != nil {
			return st, fmt.Errorf("export %s: %w", root, err)
		}
		if len(b.RawData()) > DefaultBundleMaxBlockSize {
			return st, fmt.Errorf("export %s: block %s is %d bytes, over the %d a default reader accepts", root, c, len(b.RawData()), DefaultBundleMaxBlockSize)
		}
		links, err := Links(b)
		if err != nil {
			return st, fmt.Errorf("export %s: %w", root, err)
		}
		for _, l := range links {
			if err := checkBundleCID(l); err != nil {
				return st, fmt.Errorf("export %s: block %s links to %w", root, c, err)
			}
		}
		if err := out.Put(ctx, c.KeyString(), b.RawData()); err != nil {
			return st, fmt.Errorf("export %s: write block %s: %w", root, c, err)
		}
		st.Blocks++
		st.DAGBytes += int64(len(b.RawData()))
		for i := len(links) - 1; i >= 0; i-- {
			if _, ok := seen[links[i]]; !ok {
				stack = append(stack, links[i])
			}
		}
	}
	if _, ok := seen[bb.Cid()]; !ok {
		if err := out.Put(ctx, bb.Cid().KeyString(), bb.RawData()); err != nil {
			return st, fmt.Errorf("export %s: write bundle block: %w", root, err)
		}
	}
	if err := out.Finalize(); err != nil {
		return st, fmt.Errorf("export %s: finish CAR: %w", root, err)
	}
	return st, nil
}

// capReader reads at most max bytes from r and notes whether r had more.
type capReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

var errCapReached = errors.New("read limit reached")

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, errCapReached
	}
	if c.n >= c.max {
		var one [1]byte
		k, err := c.r.Read(one[:])
		if k > 0 {
			c.over = true
			return 0, errCapReached
		}
		return 0, err
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// span locates a block's bytes in the spool file.
type span struct {
	off int64
	len int
}

// Bundle is a read and structurally verified bundle: the release DAG
// (complete, every block hash-checked) and the envelopes, whose signatures
// the caller still has to verify. Its blocks live in a spool file until
// Close.
type Bundle struct {
	Root      cid.Cid  // the release DAG's root (first header root)
	BundleCID cid.Cid  // the bundle block (second header root)
	Envelopes [][]byte // the signed documents, in file order, unverified
	Blocks    int      // distinct DAG blocks held
	DAGBytes  int64    // their data bytes

	spool *os.File
	index map[cid.Cid]span
	order []cid.Cid // DAG blocks in file order
}

// ReadBundle reads a bundle CAR from r, re-hashing every block and checking
// the header, the limits and that the DAG under the first root is complete.
// It verifies no signature. The returned Bundle must be closed.
func ReadBundle(ctx context.Context, r io.Reader, limits BundleLimits) (_ *Bundle, err error) {
	lim := limits.withDefaults()
	src := &capReader{r: r, max: lim.MaxTotalBytes}
	// fail turns a read error into ErrBundleLimit when the cause was the
	// size cap, whatever the CAR reader made of it.
	fail := func(err error) error {
		if src.over {
			return fmt.Errorf("%w: the file is over %d bytes", ErrBundleLimit, lim.MaxTotalBytes)
		}
		return err
	}
	in := bufio.NewReaderSize(src, 64<<10)

	if p, _ := in.Peek(len(carv2.Pragma)); bytes.Equal(p, carv2.Pragma) {
		return nil, fmt.Errorf("%w: this is a CARv2 file; bundles are CARv1", ErrCorruptCAR)
	}
	cr, err := carv2.NewBlockReader(in,
		carv2.MaxAllowedHeaderSize(maxCARHeader),
		carv2.MaxAllowedSectionSize(uint64(lim.MaxBlockSize)+maxSectionCID),
		carv2.WithTrustedCAR(true)) // we hash, to return ErrCorruptCAR
	if err != nil {
		if err == io.EOF {
			return nil, fail(fmt.Errorf("%w: the file is empty", ErrCorruptCAR))
		}
		return nil, fail(fmt.Errorf("%w: header: %w", ErrCorruptCAR, err))
	}
	if cr.Version != 1 {
		return nil, fail(fmt.Errorf("%w: CAR version %d; bundles are CARv1", ErrCorruptCAR, cr.Version))
	}
	if len(cr.Roots) != 2 {
		return nil, fmt.Errorf("%w: header has %d roots, want 2 (release root, bundle block)", ErrCorruptCAR, len(cr.Roots))
	}
	root, bundleCID := cr.Roots[0], cr.Roots[1]
	if err := checkBundleCID(root); err != nil {
		return nil, fmt.Errorf("%w: release root: %w", ErrCorruptCAR, err)
	}
	if err := checkBundleCID(bundleCID); err != nil || bundleCID.Type() != cid.Raw {
		return nil, fmt.Errorf("%w: bundle root %s is not a raw sha2-256 block", ErrCorruptCAR, bundleCID)
	}

	spool, err := os.CreateTemp(lim.SpoolDir, "tocsin-bundle-*.blocks")
	if err != nil {
		return nil, fmt.Errorf("read bundle: create spool file: %w", err)
	}
	b := &Bundle{Root: root, BundleCID: bundleCID, spool: spool, index: make(map[cid.Cid]span)}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	sw := bufio.NewWriterSize(spool, 256<<10)
	var off int64
	var fileOrder []cid.Cid
	for section := 1; ; section++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read bundle: %w", err)
		}
		// Refuse an oversize section before the CAR reader allocates it.
		if p, _ := in.Peek(binary.MaxVarintLen64); len(p) > 0 {
			if n, k := binary.Uvarint(p); k > 0 && n > uint64(lim.MaxBlockSize)+maxSectionCID {
				return nil, fmt.Errorf("%w: section %d is %d bytes, block limit %d", ErrBundleLimit, section, n, lim.MaxBlockSize)
			}
		}
		blk, err := cr.Next()
		if err == io.EOF {
			if src.over {
				return nil, fail(err)
			}
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fail(fmt.Errorf("%w: truncated in section %d: %w", ErrCorruptCAR, section, err))
			}
			return nil, fail(fmt.Errorf("%w: section %d: %w", ErrCorruptCAR, section, err))
		}
		if section > lim.MaxBlocks {
			return nil, fmt.Errorf("%w: more than %d blocks", ErrBundleLimit, lim.MaxBlocks)
		}
		c, data := blk.Cid(), blk.RawData()
		if err := checkBundleCID(c); err != nil {
			return nil, fmt.Errorf("%w: section %d: %w", ErrCorruptCAR, section, err)
		}
		if len(data) > lim.MaxBlockSize {
			return nil, fmt.Errorf("%w: block %s is %d bytes, limit %d", ErrBundleLimit, c, len(data), lim.MaxBlockSize)
		}
		if err := VerifyBlock(blk); err != nil {
			return nil, fmt.Errorf("%w: section %d: %w", ErrCorruptCAR, section, err)
		}
		if _, dup := b.index[c]; dup {
			return nil, fmt.Errorf("%w: block %s appears twice", ErrCorruptCAR, c)
		}
		if _, err := sw.Write(data); err != nil {
			return nil, fmt.Errorf("read bundle: spool: %w", err)
		}
		b.index[c] = span{off: off, len: len(data)}
		off += int64(len(data))
		fileOrder = append(fileOrder, c)
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("read bundle: spool: %w", err)
	}

	// The envelopes.
	if _, ok := b.index[bundleCID]; !ok {
		return nil, fmt.Errorf("%w: bundle block %s is not in the file", ErrIncompleteCAR, bundleCID)
	}
	bdata, err := b.read(bundleCID)
	if err != nil {
		return nil, err
	}
	if b.Envelopes, err = parseBundleBlock(bdata, lim.MaxEnvelopes); err != nil {
		return nil, err
	}

	// The DAG: every link of every dag-pb node reachable from root must be
	// here. Each CID is pushed once, so the stack is bounded by the index.
	if _, ok := b.index[root]; !ok {
		return nil, fmt.Errorf("%w: release root %s is not in the file", ErrIncompleteCAR, root)
	}
	reach := map[cid.Cid]struct{}{root: {}}
	stack := []cid.Cid{root}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read bundle: %w", err)
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c.Type() != cid.DagProtobuf {
			continue
		}
		data, err := b.read(c)
		if err != nil {
			return nil, err
		}
		blk, err := blocks.NewBlockWithCid(data, c)
		if err != nil {
			return nil, fmt.Errorf("%w: block %s: %w", ErrCorruptCAR, c, err)
		}
		links, err := Links(blk)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorruptCAR, err)
		}
		for _, l := range links {
			if _, ok := reach[l]; ok {
				continue
			}
			if err := checkBundleCID(l); err != nil {
				return nil, fmt.Errorf("%w: block %s links to %w", ErrCorruptCAR, c, err)
			}
			if _, ok := b.index[l]; !ok {
				return nil, fmt.Errorf("%w: block %s, linked from %s, is not in the file", ErrIncompleteCAR, l, c)
			}
			reach[l] = struct{}{}
			stack = append(stack, l)
		}
	}
	for _, c := range fileOrder {
		if _, ok := reach[c]; ok {
			b.order = append(b.order, c)
			b.DAGBytes += int64(b.index[c].len)
		} else if !c.Equals(bundleCID) {
			return nil, fmt.Errorf("%w: block %s is not part of release %s", ErrCorruptCAR, c, root)
		}
	}
	if _, ok := reach[bundleCID]; !ok {
		delete(b.index, bundleCID)
	}
	b.Blocks = len(b.order)
	return b, nil
}

// read returns c's bytes from the spool, unverified.
func (b *Bundle) read(c cid.Cid) ([]byte, error) {
	if b.spool == nil {
		return nil, errors.New("bundle is closed")
	}
	sp, ok := b.index[c]
	if !ok {
		return nil, fmt.Errorf("block %s is not in the bundle", c)
	}
	data := make([]byte, sp.len)
	if _, err := b.spool.ReadAt(data, sp.off); err != nil {
		return nil, fmt.Errorf("read block %s from spool: %w", c, err)
	}
	return data, nil
}

// Has reports whether the bundle holds DAG block c.
func (b *Bundle) Has(c cid.Cid) bool {
	_, ok := b.index[c]
	return ok
}

// CIDs returns the bundle's DAG blocks in file order (the root first).
func (b *Bundle) CIDs() []cid.Cid { return append([]cid.Cid(nil), b.order...) }

// Get returns DAG block c, re-verified against its CID (the spool is on
// disk, so it is checked again on the way out).
func (b *Bundle) Get(c cid.Cid) (blocks.Block, error) {
	data, err := b.read(c)
	if err != nil {
		return nil, err
	}
	blk, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, fmt.Errorf("%w: block %s: %w", ErrCorruptCAR, c, err)
	}
	if err := VerifyBlock(blk); err != nil {
		return nil, fmt.Errorf("%w: spooled %w", ErrCorruptCAR, err)
	}
	return blk, nil
}

// Store writes the bundle's DAG blocks (not the bundle block) to bs with
// PutMany, in batches of at most 8 MiB, each block re-verified. The root goes
// last, in its own PutMany, so a store interrupted half-way never holds the
// root without the rest. Call it only after the envelopes are verified.
func (b *Bundle) Store(ctx context.Context, bs blockstore.Blockstore) error {
	if b.spool == nil {
		return errors.New("store bundle: bundle is closed")
	}
	var batch []blocks.Block
	var size int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := bs.PutMany(ctx, batch); err != nil {
			return fmt.Errorf("store bundle %s: %w", b.Root, err)
		}
		batch, size = nil, 0 // PutMany may keep the slice
		return nil
	}
	for _, c := range b.order {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store bundle %s: %w", b.Root, err)
		}
		if c.Equals(b.Root) {
			continue
		}
		blk, err := b.Get(c)
		if err != nil {
			return fmt.Errorf("store bundle %s: %w", b.Root, err)
		}
		if len(batch) > 0 && (size+len(blk.RawData()) > storeBatchBytes || len(batch) >= storeBatchLen) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, blk)
		size += len(blk.RawData())
	}
	if err := flush(); err != nil {
		return err
	}
	rb, err := b.Get(b.Root)
	if err != nil {
		return fmt.Errorf("store bundle %s: %w", b.Root, err)
	}
	batch = append(batch, rb)
	return flush()
}

// Close removes the spool file. It is safe to call more than once.
func (b *Bundle) Close() error {
	if b == nil || b.spool == nil {
		return nil
	}
	name := b.spool.Name()
	err := b.spool.Close()
	b.spool = nil
	if rerr := os.Remove(name); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("close bundle: %w", err)
	}
	return nil
}
