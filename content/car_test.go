package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

var testEnvelopes = [][]byte{
	[]byte(`{"payloadType":"application/vnd.tocsin.manifest+json","payload":"e30=","signatures":[{"keyid":"k1","sig":"AAAA"}]}`),
	[]byte(`{"payloadType":"application/vnd.tocsin.csaf+json","payload":"e30=","signatures":[{"keyid":"k1","sig":"BBBB"}]}`),
}

func memBlockstore() blockstore.Blockstore {
	return NewVerifyingBlockstore(blockstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())))
}

// bundleFixture is a file imported into a blockstore and written as a bundle.
type bundleFixture struct {
	data []byte
	imp  Imported
	bs   blockstore.Blockstore
	car  []byte
	st   BundleStats
}

// importMem imports data into a new in-memory blockstore.
func importMem(t testing.TB, data []byte, chunk int) (blockstore.Blockstore, Imported) {
	t.Helper()
	bs := memBlockstore()
	imp, err := Import(context.Background(), DAGService(bs), bytes.NewReader(data), chunk)
	if err != nil {
		t.Fatal(err)
	}
	return bs, imp
}

func newBundleFixture(t testing.TB, data []byte, chunk int) *bundleFixture {
	t.Helper()
	ctx := context.Background()
	bs, imp := importMem(t, data, chunk)
	var buf bytes.Buffer
	st, err := WriteBundle(ctx, &buf, imp.Root, bs, testEnvelopes)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(buf.Len()) {
		t.Fatalf("stats say %d bytes, wrote %d", st.Bytes, buf.Len())
	}
	return &bundleFixture{data: data, imp: imp, bs: bs, car: buf.Bytes(), st: st}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func readTestBundle(t testing.TB, car []byte, lim BundleLimits) (*Bundle, error) {
	t.Helper()
	if lim.SpoolDir == "" {
		lim.SpoolDir = t.TempDir()
	}
	b, err := ReadBundle(context.Background(), bytes.NewReader(car), lim)
	if b != nil {
		t.Cleanup(func() { b.Close() })
	}
	if err != nil && b != nil {
		t.Fatalf("ReadBundle returned a bundle with error %v", err)
	}
	if err != nil {
		if ents, _ := os.ReadDir(lim.SpoolDir); len(ents) != 0 {
			t.Fatalf("failed ReadBundle left %d spool files", len(ents))
		}
	}
	return b, err
}

// preorder lists the DAG under root depth-first, each block once.
func preorder(t testing.TB, bs blockstore.Blockstore, root cid.Cid) []cid.Cid {
	t.Helper()
	var out []cid.Cid
	seen := map[cid.Cid]bool{}
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		if seen[c] {
			return
		}
		seen[c] = true
		out = append(out, c)
		b, err := bs.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := Links(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			walk(l)
		}
	}
	walk(root)
	return out
}

// carSection locates one section of a CARv1.
type carSection struct {
	c                     cid.Cid
	start, dataStart, end int
}

// splitCAR parses a CARv1 by hand: the header (with its length prefix) and
// the sections.
func splitCAR(t testing.TB, car []byte) ([]byte, []carSection) {
	t.Helper()
	hl, n := binary.Uvarint(car)
	if n <= 0 {
		t.Fatal("bad header length")
	}
	pos := n + int(hl)
	header := car[:pos]
	var secs []carSection
	for pos < len(car) {
		l, n := binary.Uvarint(car[pos:])
		if n <= 0 {
			t.Fatalf("bad section length at %d", pos)
		}
		k, c, err := cid.CidFromBytes(car[pos+n:])
		if err != nil {
			t.Fatal(err)
		}
		secs = append(secs, carSection{c: c, start: pos, dataStart: pos + n + k, end: pos + n + int(l)})
		pos += n + int(l)
	}
	return header, secs
}

func joinCAR(header []byte, car []byte, secs []carSection) []byte {
	out := append([]byte(nil), header...)
	for _, s := range secs {
		out = append(out, car[s.start:s.end]...)
	}
	return out
}

// rawCAR writes a CARv1 with the given roots and blocks through go-car.
func rawCAR(t testing.TB, roots []cid.Cid, blks ...blocks.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, roots, carv2.WriteAsCarV1(true), carv2.AllowDuplicatePuts(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blks {
		if err := w.Put(context.Background(), b.Cid().KeyString(), b.RawData()); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func dagBlocks(t testing.TB, f *bundleFixture) []blocks.Block {
	t.Helper()
	var out []blocks.Block
	for _, c := range preorder(t, f.bs, f.imp.Root) {
		b, err := f.bs.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestBundleRoundTrip(t *testing.T) {
	ctx := context.Background()
	// 4 KiB chunks: 256 leaves, more than one node's 174 links, so the DAG
	// has two levels of dag-pb nodes.
	f := newBundleFixture(t, randomBytes(1<<20), 4<<10)
	if f.st.Blocks != f.imp.Blocks || f.st.DAGBytes <= int64(len(f.data)) {
		t.Fatalf("stats %+v, import wrote %d blocks", f.st, f.imp.Blocks)
	}

	// Layout: header roots, DAG in pre-order, bundle block last.
	_, secs := splitCAR(t, f.car)
	want := preorder(t, f.bs, f.imp.Root)
	if len(secs) != len(want)+1 {
		t.Fatalf("%d sections, want %d DAG blocks + bundle", len(secs), len(want))
	}
	for i, c := range want {
		if !secs[i].c.Equals(c) {
			t.Fatalf("section %d is %s, want %s (depth-first order)", i, secs[i].c, c)
		}
	}
	if !secs[len(secs)-1].c.Equals(f.st.BundleCID) || f.st.BundleCID.Type() != cid.Raw {
		t.Fatalf("last section %s, bundle %s", secs[len(secs)-1].c, f.st.BundleCID)
	}

	b, err := readTestBundle(t, f.car, BundleLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Root.Equals(f.imp.Root) || !b.BundleCID.Equals(f.st.BundleCID) {
		t.Fatalf("roots %s %s", b.Root, b.BundleCID)
	}
	if len(b.Envelopes) != len(testEnvelopes) {
		t.Fatalf("%d envelopes", len(b.Envelopes))
	}
	for i := range testEnvelopes {
		if !bytes.Equal(b.Envelopes[i], testEnvelopes[i]) {
			t.Fatalf("envelope %d differs", i)
		}
	}
	if b.Blocks != len(want) || b.DAGBytes != f.st.DAGBytes || len(b.CIDs()) != len(want) {
		t.Fatalf("bundle holds %d blocks / %d bytes, want %d / %d", b.Blocks, b.DAGBytes, len(want), f.st.DAGBytes)
	}
	for _, c := range want {
		got, err := b.Get(c)
		if err != nil {
			t.Fatal(err)
		}
		orig, _ := f.bs.Get(ctx, c)
		if !bytes.Equal(got.RawData(), orig.RawData()) || !b.Has(c) {
			t.Fatalf("block %s differs", c)
		}
	}
	if b.Has(f.st.BundleCID) {
		t.Fatal("the bundle block is listed as a DAG block")
	}

	dst := memBlockstore()
	if err := b.Store(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if Has(ctx, dst, f.st.BundleCID) {
		t.Fatal("Store wrote the bundle block")
	}
	var out bytes.Buffer
	n, sum, err := Assemble(ctx, dst, f.imp.Root, &out)
	if err != nil {
		t.Fatal(err)
	}
	fileSum := sha256.Sum256(f.data)
	if n != int64(len(f.data)) || sum != hex.EncodeToString(fileSum[:]) || sum != f.imp.SHA256 {
		t.Fatalf("assembled %d bytes sha %s, want %d %s", n, sum, len(f.data), f.imp.SHA256)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Store(ctx, memBlockstore()); err == nil {
		t.Fatal("Store after Close succeeded")
	}
}

func TestBundleDeterministicAndDeduplicated(t *testing.T) {
	ctx := context.Background()
	// Repeating content: identical leaves and identical internal nodes.
	data := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
	f := newBundleFixture(t, data, 1<<10)
	var again bytes.Buffer
	if _, err := WriteBundle(ctx, &again, f.imp.Root, f.bs, testEnvelopes); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), f.car) {
		t.Fatal("two exports of the same release differ")
	}
	_, secs := splitCAR(t, f.car)
	seen := map[cid.Cid]bool{}
	for _, s := range secs {
		if seen[s.c] {
			t.Fatalf("block %s written twice", s.c)
		}
		seen[s.c] = true
	}
	if len(secs) > 10 {
		t.Fatalf("%d sections for a DAG of a few distinct blocks", len(secs))
	}
	b, err := readTestBundle(t, f.car, BundleLimits{})
	if err != nil {
		t.Fatal(err)
	}
	dst := memBlockstore()
	if err := b.Store(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if _, sum, err := Assemble(ctx, dst, f.imp.Root, io.Discard); err != nil || sum != f.imp.SHA256 {
		t.Fatalf("assemble: %s %v", sum, err)
	}
}

func TestBundleSingleBlockRelease(t *testing.T) {
	// A file smaller than one chunk is a single raw block; the root has no
	// links.
	f := newBundleFixture(t, []byte("tiny firmware"), 0)
	if f.imp.Root.Type() != cid.Raw {
		t.Skipf("importer made a %x root", f.imp.Root.Type())
	}
	b, err := readTestBundle(t, f.car, BundleLimits{})
	if err != nil {
		t.Fatal(err)
	}
	dst := memBlockstore()
	if err := b.Store(context.Background(), dst); err != nil || b.Blocks != 1 {
		t.Fatalf("store: %v (%d blocks)", err, b.Blocks)
	}
	if _, sum, err := Assemble(context.Background(), dst, f.imp.Root, io.Discard); err != nil || sum != f.imp.SHA256 {
		t.Fatalf("assemble: %v", err)
	}
}

// TestBundleInterop checks the file against independent readers: the header
// decoded as dag-cbor by go-ipld-prime must be a CARv1 header, and go-car's
// own validator must accept every block.
func TestBundleInterop(t *testing.T) {
	f := newBundleFixture(t, randomBytes(200<<10), 16<<10)
	header, secs := splitCAR(t, f.car)
	hl, n := binary.Uvarint(header)
	if int(hl) != len(header)-n {
		t.Fatal("header length prefix")
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(header[n:])); err != nil {
		t.Fatalf("header is not dag-cbor: %v", err)
	}
	nd := nb.Build()
	if nd.Length() != 2 {
		t.Fatalf("header map has %d keys", nd.Length())
	}
	vn, err := nd.LookupByString("version")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := vn.AsInt(); err != nil || v != 1 {
		t.Fatalf("version %d %v", v, err)
	}
	rn, err := nd.LookupByString("roots")
	if err != nil || rn.Length() != 2 {
		t.Fatalf("roots: %v", err)
	}
	for i, want := range []cid.Cid{f.imp.Root, f.st.BundleCID} {
		e, err := rn.LookupByIndex(int64(i))
		if err != nil {
			t.Fatal(err)
		}
		l, err := e.AsLink()
		if err != nil {
			t.Fatalf("root %d is not a link: %v", i, err)
		}
		if !l.(cidlink.Link).Cid.Equals(want) {
			t.Fatalf("root %d is %s, want %s", i, l, want)
		}
	}

	rd, err := carv2.NewReader(bytes.NewReader(f.car))
	if err != nil {
		t.Fatal(err)
	}
	stats, err := rd.Inspect(true)
	if err != nil {
		t.Fatalf("go-car rejects the file: %v", err)
	}
	if stats.Version != 1 || len(stats.Roots) != 2 || stats.BlockCount != uint64(len(secs)) {
		t.Fatalf("go-car sees %+v", stats)
	}
}

func TestReadBundleFlippedByte(t *testing.T) {
	f := newBundleFixture(t, randomBytes(64<<10), 4<<10)
	_, secs := splitCAR(t, f.car)
	for i, s := range secs {
		for _, at := range []int{s.dataStart, (s.dataStart + s.end) / 2, s.end - 1} {
			bad := append([]byte(nil), f.car...)
			bad[at] ^= 0x40
			_, err := readTestBundle(t, bad, BundleLimits{})
			if !errors.Is(err, ErrCorruptCAR) {
				t.Fatalf("section %d byte %d flipped: %v", i, at, err)
			}
			if !strings.Contains(err.Error(), s.c.String()) {
				t.Fatalf("error does not name %s: %v", s.c, err)
			}
		}
	}
	// A flipped byte in a section's CID is caught too.
	bad := append([]byte(nil), f.car...)
	bad[secs[3].dataStart-1] ^= 0x01
	if _, err := readTestBundle(t, bad, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) {
		t.Fatalf("flipped CID byte: %v", err)
	}
	// Any other single flipped byte fails somehow.
	for at := 0; at < len(f.car); at += 997 {
		bad := append([]byte(nil), f.car...)
		bad[at] ^= 0x10
		if _, err := readTestBundle(t, bad, BundleLimits{}); err == nil {
			t.Fatalf("byte %d flipped: accepted", at)
		}
	}
}

func TestReadBundleTruncated(t *testing.T) {
	f := newBundleFixture(t, randomBytes(64<<10), 4<<10)
	header, secs := splitCAR(t, f.car)
	if _, err := readTestBundle(t, nil, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := readTestBundle(t, f.car[:len(header)/2], BundleLimits{}); !errors.Is(err, ErrCorruptCAR) {
		t.Fatalf("cut in the header: %v", err)
	}
	for _, s := range secs {
		cut := f.car[:(s.dataStart+s.end)/2]
		_, err := readTestBundle(t, cut, BundleLimits{})
		if !errors.Is(err, ErrCorruptCAR) || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("cut inside block %s: %v", s.c, err)
		}
		// Cut exactly between sections: well formed, but blocks are missing.
		_, err = readTestBundle(t, f.car[:s.start], BundleLimits{})
		if !errors.Is(err, ErrIncompleteCAR) {
			t.Fatalf("cut before block %s: %v", s.c, err)
		}
	}
}

func TestReadBundleMissingLeaf(t *testing.T) {
	f := newBundleFixture(t, randomBytes(64<<10), 4<<10)
	header, secs := splitCAR(t, f.car)
	for _, drop := range []int{1, 7, len(secs) - 2, 0} {
		var kept []carSection
		kept = append(kept, secs[:drop]...)
		kept = append(kept, secs[drop+1:]...)
		_, err := readTestBundle(t, joinCAR(header, f.car, kept), BundleLimits{})
		if !errors.Is(err, ErrIncompleteCAR) || !strings.Contains(err.Error(), secs[drop].c.String()) {
			t.Fatalf("without block %d (%s): %v", drop, secs[drop].c, err)
		}
	}
	// Without the bundle block.
	_, err := readTestBundle(t, joinCAR(header, f.car, secs[:len(secs)-1]), BundleLimits{})
	if !errors.Is(err, ErrIncompleteCAR) || !strings.Contains(err.Error(), "bundle block") {
		t.Fatalf("without the bundle block: %v", err)
	}
}

func TestReadBundleStrayAndDuplicateBlocks(t *testing.T) {
	f := newBundleFixture(t, randomBytes(32<<10), 4<<10)
	header, secs := splitCAR(t, f.car)
	stray := blocks.NewBlock([]byte("not part of the release"))
	strayCAR := append(append([]byte(nil), f.car...), rawCAR(t, []cid.Cid{stray.Cid()}, stray)[len(rawCAR(t, []cid.Cid{stray.Cid()})):]...)
	if _, err := readTestBundle(t, strayCAR, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) || !strings.Contains(err.Error(), "not part of release") {
		t.Fatalf("stray block: %v", err)
	}
	dup := joinCAR(header, f.car, append(append([]carSection(nil), secs...), secs[2]))
	if _, err := readTestBundle(t, dup, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate block: %v", err)
	}
}

func TestReadBundleLimits(t *testing.T) {
	f := newBundleFixture(t, randomBytes(64<<10), 4<<10)
	_, secs := splitCAR(t, f.car)
	for name, lim := range map[string]BundleLimits{
		"total bytes": {MaxTotalBytes: int64(len(f.car)) - 1},
		"blocks":      {MaxBlocks: len(secs) - 1},
		"block size":  {MaxBlockSize: 4<<10 - 1},
		"envelopes":   {MaxEnvelopes: 1},
	} {
		if _, err := readTestBundle(t, f.car, lim); !errors.Is(err, ErrBundleLimit) {
			t.Errorf("%s: %v", name, err)
		}
	}
	exact := BundleLimits{MaxTotalBytes: int64(len(f.car)), MaxBlocks: len(secs), MaxBlockSize: 4 << 10, MaxEnvelopes: 2}
	if _, err := readTestBundle(t, f.car, exact); err != nil {
		t.Fatalf("limits exactly met: %v", err)
	}
	// An oversize section length is refused before it is allocated.
	header, _ := splitCAR(t, f.car)
	huge := append(append([]byte(nil), header...), binary.AppendUvarint(nil, 1<<40)...)
	if _, err := readTestBundle(t, huge, BundleLimits{}); !errors.Is(err, ErrBundleLimit) {
		t.Fatalf("1 TiB section: %v", err)
	}
}

func TestReadBundleHeader(t *testing.T) {
	f := newBundleFixture(t, randomBytes(32<<10), 4<<10)
	all := append(dagBlocks(t, f), mustBundleBlock(t, testEnvelopes))
	bc := all[len(all)-1].Cid()
	for name, roots := range map[string][]cid.Cid{
		"no roots":    nil,
		"one root":    {f.imp.Root},
		"three roots": {f.imp.Root, bc, bc},
		"swapped":     {bc, f.imp.Root},
	} {
		_, err := readTestBundle(t, rawCAR(t, roots, all...), BundleLimits{})
		if !errors.Is(err, ErrCorruptCAR) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := readTestBundle(t, rawCAR(t, []cid.Cid{f.imp.Root, bc}, all...), BundleLimits{}); err != nil {
		t.Fatalf("the same blocks with the right roots: %v", err)
	}

	// CARv2 is refused.
	p := filepath.Join(t.TempDir(), "v2.car")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := carstorage.NewWritable(fh, []cid.Cid{f.imp.Root, bc})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range all {
		if err := w.Put(context.Background(), b.Cid().KeyString(), b.RawData()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	v2, _ := os.ReadFile(p)
	if _, err := readTestBundle(t, v2, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) || !strings.Contains(err.Error(), "CARv2") {
		t.Fatalf("CARv2: %v", err)
	}
}

func mustBundleBlock(t testing.TB, envs [][]byte) blocks.Block {
	t.Helper()
	b, err := bundleBlock(envs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadBundleBadBundleBlock(t *testing.T) {
	f := newBundleFixture(t, randomBytes(16<<10), 4<<10)
	dag := dagBlocks(t, f)
	for name, js := range map[string]string{
		"not json":       `not json`,
		"no version":     `{"envelopes":["YQ=="]}`,
		"version 2":      `{"tocsin_bundle":2,"envelopes":["YQ=="]}`,
		"no envelopes":   `{"tocsin_bundle":1,"envelopes":[]}`,
		"empty envelope": `{"tocsin_bundle":1,"envelopes":[""]}`,
		"unknown field":  `{"tocsin_bundle":1,"envelopes":["YQ=="],"extra":1}`,
		"trailing data":  `{"tocsin_bundle":1,"envelopes":["YQ=="]} {}`,
		"bad base64":     `{"tocsin_bundle":1,"envelopes":["!!"]}`,
	} {
		bb, _ := bundlePrefix.Sum([]byte(js))
		blk, _ := blocks.NewBlockWithCid([]byte(js), bb)
		car := rawCAR(t, []cid.Cid{f.imp.Root, bb}, append(dag, blk)...)
		if _, err := readTestBundle(t, car, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The bundle root must be a raw block.
	car := rawCAR(t, []cid.Cid{f.imp.Root, f.imp.Root}, dag...)
	if _, err := readTestBundle(t, car, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) {
		t.Errorf("dag-pb bundle root: %v", err)
	}
}

func TestReadBundleRefusesOtherHashes(t *testing.T) {
	f := newBundleFixture(t, randomBytes(16<<10), 4<<10)
	dag := dagBlocks(t, f)
	bb := mustBundleBlock(t, testEnvelopes)
	odd, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: 0x11 /* sha1 */, MhLength: -1}.Sum([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	oddBlk, _ := blocks.NewBlockWithCid([]byte("x"), odd)
	car := rawCAR(t, []cid.Cid{f.imp.Root, bb.Cid()}, append(append(dag, oddBlk), bb)...)
	if _, err := readTestBundle(t, car, BundleLimits{}); !errors.Is(err, ErrCorruptCAR) || !strings.Contains(err.Error(), "sha2-256") {
		t.Fatalf("sha1 block: %v", err)
	}
}

func TestWriteBundleErrors(t *testing.T) {
	ctx := context.Background()
	f := newBundleFixture(t, randomBytes(64<<10), 4<<10)
	order := preorder(t, f.bs, f.imp.Root)
	leaf := order[len(order)/2]
	if leaf.Type() != cid.Raw {
		t.Fatalf("%s is not a leaf", leaf)
	}
	if err := f.bs.DeleteBlock(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	_, err := WriteBundle(ctx, io.Discard, f.imp.Root, f.bs, testEnvelopes)
	if err == nil || !ipld.IsNotFound(err) || !strings.Contains(err.Error(), leaf.String()) {
		t.Fatalf("missing leaf: %v", err)
	}
	for name, envs := range map[string][][]byte{
		"none":  nil,
		"empty": {[]byte("x"), nil},
		"many":  bytes.Fields(bytes.Repeat([]byte("e "), DefaultBundleMaxEnvelopes+1)),
	} {
		if _, err := WriteBundle(ctx, io.Discard, f.imp.Root, f.bs, envs); err == nil {
			t.Errorf("%s envelopes: accepted", name)
		}
	}
	if _, err := WriteBundle(ctx, io.Discard, cid.Undef, f.bs, testEnvelopes); err == nil {
		t.Error("undefined root: accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := WriteBundle(cctx, io.Discard, f.imp.Root, f.bs, testEnvelopes); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestReadBundleCanceled(t *testing.T) {
	f := newBundleFixture(t, randomBytes(16<<10), 4<<10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := ReadBundle(ctx, bytes.NewReader(f.car), BundleLimits{SpoolDir: dir}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatal("spool file left behind")
	}
}

func FuzzReadBundle(f *testing.F) {
	fx := newBundleFixture(f, randomBytes(8<<10), 1<<10)
	f.Add(fx.car)
	header, secs := splitCAR(f, fx.car)
	f.Add(joinCAR(header, fx.car, secs[1:]))
	f.Add(fx.car[:len(fx.car)-3])
	f.Add(newBundleFixture(f, []byte("one block"), 0).car)
	f.Add([]byte{})
	f.Add(carv2.Pragma)
	dir := f.TempDir()
	lim := BundleLimits{MaxTotalBytes: 1 << 20, MaxBlocks: 64, MaxBlockSize: 64 << 10, MaxEnvelopes: 4, SpoolDir: dir}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBundle(context.Background(), bytes.NewReader(data), lim)
		if err != nil {
			if b != nil {
				t.Fatal("bundle returned with an error")
			}
			if !errors.Is(err, ErrCorruptCAR) && !errors.Is(err, ErrIncompleteCAR) && !errors.Is(err, ErrBundleLimit) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		defer b.Close()
		if len(b.Envelopes) == 0 || b.Blocks == 0 || !b.Has(b.Root) {
			t.Fatalf("accepted bundle: %d envelopes, %d blocks", len(b.Envelopes), b.Blocks)
		}
		bs := memBlockstore()
		if err := b.Store(context.Background(), bs); err != nil {
			t.Fatalf("store accepted bundle: %v", err)
		}
		for _, c := range b.CIDs() {
			if !Has(context.Background(), bs, c) {
				t.Fatalf("block %s not stored", c)
			}
		}
	})
}

// TestReadBundleRandomDamage runs random byte damage and truncation through
// ReadBundle in ordinary test runs (FuzzReadBundle explores further): no
// panic, no slow path, every failure carries a sentinel, and nothing damaged
// is accepted.
func TestReadBundleRandomDamage(t *testing.T) {
	fx := newBundleFixture(t, randomBytes(8<<10), 1<<10)
	lim := BundleLimits{MaxTotalBytes: 1 << 20, MaxBlocks: 64, MaxBlockSize: 64 << 10, MaxEnvelopes: 4, SpoolDir: t.TempDir()}
	rng := mrand.New(mrand.NewPCG(6, 6))
	for i := 0; i < 1500; i++ {
		data := append([]byte(nil), fx.car...)
		for k := 0; k < 1+i%4; k++ {
			at := rng.IntN(len(data))
			data[at] ^= byte(1 + rng.IntN(255))
		}
		if i%3 == 0 {
			data = data[:rng.IntN(len(data))]
		}
		start := time.Now()
		b, err := ReadBundle(context.Background(), bytes.NewReader(data), lim)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("ReadBundle took %v on %x", d, data)
		}
		if err == nil {
			b.Close()
			t.Fatalf("damaged bundle accepted: %x", data)
		}
		if !errors.Is(err, ErrCorruptCAR) && !errors.Is(err, ErrIncompleteCAR) && !errors.Is(err, ErrBundleLimit) {
			t.Fatalf("error without a sentinel: %v", err)
		}
	}
}
