package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	mh "github.com/multiformats/go-multihash"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/content/swarm"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// TestSwarmLine: seed - d0 - d1 - d2 in a line, d1 set to transfer:
// bitswap. The release's leaves reach d0 and d2 by the swarm protocol (d2
// from d1, which fetched by bitswap but serves both) with no duplicate;
// d0 gets the root block in an INNER frame, d2 at most the root block by
// bitswap.
func TestSwarmLine(t *testing.T) {
	f := newFleet(t, 2)
	dir := t.TempDir()
	cfg := f.deviceConfig(dir + "/d1")
	cfg.Transfer = TransferBitswap
	d1 := f.start(cfg)
	devs := []*Node{f.devs[0], d1, f.devs[1]}
	f.connect(f.seed.Host(), devs[0].Host())
	f.connect(devs[0].Host(), devs[1].Host())
	f.connect(devs[1].Host(), devs[2].Host())
	waitMesh(t, devs[2])
	data := randomBytes(t, 1<<20+4321)
	rel, _, _ := f.publish(data, "2.0.0")
	for _, d := range devs {
		waitFor(t, "device installed", 60*time.Second, func() bool {
			st := d.Status().Releases[rel.ID()]
			return st != nil && st.Phase == policy.PhaseInstalled
		})
	}
	size := int64(len(data))
	for i, d := range []*Node{devs[0], devs[2]} {
		sw, bs := d.SwarmStats(), d.BitswapStats()
		t.Logf("device %d: swarm received %d dup %d; bitswap received %d", i, sw.Received, sw.Duplicate, bs.DataReceived)
		if sw.Received != size || sw.Duplicate != 0 || sw.Rejected != 0 {
			t.Errorf("device %d: swarm received %d bytes (%d duplicate, %d rejected), want the whole file %d once", i, sw.Received, sw.Duplicate, sw.Rejected, size)
		}
		// d0 gets the root block by INNER from the seed. d2's neighbour
		// d1 fetches by bitswap and knows the release only once it has
		// all of it; if that takes longer than the stall timeout (a
		// loaded machine), d2 fetches the root block by bitswap.
		if limit := []uint64{0, 4096}[i]; bs.DataReceived > limit {
			t.Errorf("device %d: %d bytes came by bitswap, want at most %d", i, bs.DataReceived, limit)
		}
	}
	if sw := d1.SwarmStats(); sw.Received != 0 || sw.Sent < size {
		t.Errorf("the bitswap-only device received %d by swarm and served %d, want 0 and the whole file", sw.Received, sw.Sent)
	}
	if sent := f.seed.SwarmStats().Sent; sent < size {
		t.Errorf("seed sent %d bytes by swarm, want at least the file (%d)", sent, size)
	}
}

// TestSwarmHostileBlocks: the only neighbour shows every piece and answers
// each REQUEST with random bytes. The device stores none of them, bans the
// peer at its first bad block, and installs from the seed once it meets it.
func TestSwarmHostileBlocks(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	data := randomBytes(t, 512<<10)
	atk := f.newHost()
	atkStore, imp := memImport(t, data)
	pieces, err := content.Pieces(context.Background(), atkStore, imp.Root)
	if err != nil {
		t.Fatal(err)
	}
	// Honest bitswap (the root block), hostile swarm (the leaves).
	bs := bitswap.New(context.Background(), bsnet.NewFromIpfsHost(atk), nil, atkStore)
	defer bs.Close()
	served := make(chan int, 64)
	atk.SetStreamHandler(swarmProto, func(st network.Stream) {
		defer st.Close()
		br := bufio.NewReader(st)
		if typ, _, err := readFrame(br, 1<<16); err != nil || typ != frHello {
			return
		}
		all := swarm.NewBitfield(len(pieces))
		for i := range pieces {
			all.Set(i)
		}
		if _, err := st.Write(frame(frBitfield, append([]byte{0}, all.Bytes(len(pieces))...))); err != nil {
			return
		}
		for {
			typ, body, err := readFrame(br, 64)
			if err != nil {
				return
			}
			if typ != frRequest {
				continue
			}
			i, _ := piece(body)
			junk := make([]byte, 64<<10)
			_, _ = rand.Read(junk)
			if _, err := st.Write(frame(frBlock, append(uvarint(i), junk...))); err != nil {
				return
			}
			served <- i
		}
	})
	f.connect(atk, dev.Host())
	rel := f.release(data, "2.0.0")
	if rel.RootCID != imp.Root.String() {
		t.Fatalf("test setup: attacker DAG %s differs from release %s", imp.Root, rel.RootCID)
	}
	f.announceTo(dev, rel)
	waitBanned(t, dev, atk.ID())
	if len(served) == 0 {
		t.Fatal("the attacker was never asked for a piece: the test did not exercise bad blocks")
	}
	if rj := dev.SwarmStats().Rejected; rj == 0 {
		t.Fatal("no block rejected")
	}
	f.connect(f.seed.Host(), dev.Host())
	waitFor(t, "install", 60*time.Second, func() bool {
		st := dev.Status().Releases[rel.ID()]
		return st != nil && st.Phase == policy.PhaseInstalled
	})
	keys, err := dev.store.Blocks.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		b, err := dev.store.Blocks.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := content.VerifyBlock(b); err != nil {
			t.Fatalf("device stored a bad block: %v", err)
		}
	}
	if c := dev.Status().Counters; c.PeersBanned != 1 {
		t.Errorf("peers banned %d, want 1", c.PeersBanned)
	}
}

// announceTo hands rel's signed manifest and advisory to dev alone (the
// seed is not connected yet).
func (f *fleet) announceTo(dev *Node, rel trust.Release) {
	f.t.Helper()
	for _, env := range [][]byte{f.signRelease(rel), f.advisory(rel, 1, f.clk.now())} {
		if _, err := dev.Announce(context.Background(), env); err != nil {
			f.t.Fatal(err)
		}
	}
}

// waitBanned waits until dev has banned atk and is no longer connected to it.
func waitBanned(t *testing.T, dev *Node, atk peer.ID) {
	t.Helper()
	waitFor(t, "attacker banned and disconnected", 20*time.Second, func() bool {
		return dev.Status().Counters.PeersBanned > 0 && dev.Host().Network().Connectedness(atk) != network.Connected
	})
}

// TestSwarmHostileInner: the only neighbour answers the request for the
// release's inner blocks with a forged root block. The device stores
// nothing of it, bans the peer, and installs once it meets the seed.
func TestSwarmHostileInner(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	data := randomBytes(t, 512<<10)
	atk := f.newHost()
	asked := make(chan struct{}, 8)
	atk.SetStreamHandler(swarmProto, func(st network.Stream) {
		defer st.Close()
		if typ, _, err := readFrame(bufio.NewReader(st), 1<<16); err != nil || typ != frHello {
			return
		}
		forged := randomBytes(t, 3000)
		body := append(binary.AppendUvarint(nil, uint64(len(forged))), forged...)
		_, _ = st.Write(frame(frInner, body))
		asked <- struct{}{}
	})
	f.connect(atk, dev.Host())
	rel := f.release(data, "2.0.0")
	f.announceTo(dev, rel)
	waitBanned(t, dev, atk.ID())
	if len(asked) == 0 {
		t.Fatal("the attacker was never asked for the inner blocks")
	}
	root, _ := cid.Decode(rel.RootCID)
	if ok, _ := dev.store.Blocks.Has(context.Background(), root); ok {
		t.Fatal("the root block is stored before any honest peer sent it")
	}
	f.connect(f.seed.Host(), dev.Host())
	waitFor(t, "install", 60*time.Second, func() bool {
		st := dev.Status().Releases[rel.ID()]
		return st != nil && st.Phase == policy.PhaseInstalled
	})
}

// TestStalePartialFileRemoved: the file a fetch killed mid-way was
// writing is removed when the release is fetched again; the installed
// file is the verified one and nothing else is left in its directory.
func TestStalePartialFileRemoved(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	f.connect(f.seed.Host(), dev.Host())
	waitMesh(t, dev)
	data := randomBytes(t, 300<<10)
	rel := f.release(data, "2.0.0")
	dir := filepath.Join(dev.cfg.Resolve(dev.cfg.DataDir), "releases", rel.ID())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, partialPrefix(releaseTarget(rel))+"12345")
	if err := os.WriteFile(stale, bytes.Repeat([]byte{0xee}, 100<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	f.announce(f.signRelease(rel), f.advisory(rel, 1, f.clk.now()))
	waitInstalled(t, dev, rel.ID())
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != releaseTarget(rel).Name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("release dir holds %v, want only %s", names, releaseTarget(rel).Name)
	}
}

// TestLeavesKeptInReleaseFile: after a swarm fetch the device holds every
// leaf once, in the release file under its final name, with a reference
// in the store and no copy in badger; reads through the references give
// the leaves back (so the device serves them), and a neighbour behind it
// fetches them from it.
func TestLeavesKeptInReleaseFile(t *testing.T) {
	ctx := context.Background()
	f := newFleet(t, 2)
	dev, next := f.devs[0], f.devs[1]
	f.connect(f.seed.Host(), dev.Host())
	f.connect(dev.Host(), next.Host())
	waitMesh(t, next)
	data := randomBytes(t, 300<<10)
	rel, _, _ := f.publish(data, "2.0.0")
	waitInstalled(t, next, rel.ID())
	root, _ := cid.Decode(rel.RootCID)
	leaves, err := content.Pieces(ctx, dev.store.Blocks, root)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := filepath.Abs(dev.Status().Releases[rel.ID()].File)
	for _, c := range leaves {
		if inBadger, _ := dev.store.DS.Has(ctx, blockstore.BlockPrefix.Child(dshelp.MultihashToDsKey(c.Hash()))); inBadger {
			t.Fatalf("leaf %s is in badger too", c)
		}
		b, err := dev.store.Blocks.Get(ctx, c)
		if err != nil {
			t.Fatalf("leaf %s: %v", c, err)
		}
		if !bytes.Contains(data, b.RawData()) {
			t.Fatalf("leaf %s reads back wrong", c)
		}
	}
	res, err := dev.store.DS.Query(ctx, query.Query{Prefix: "/filerefs"})
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for e := range res.Next() {
		refs++
		if !bytes.HasSuffix(e.Value, []byte(file)) {
			t.Fatalf("a reference names another file: %q, want %s", e.Value, file)
		}
	}
	if refs != len(leaves) {
		t.Fatalf("%d references for %d leaves", refs, len(leaves))
	}
	if got, _ := os.ReadFile(filepath.Join(next.cfg.DataDir, "installed.bin")); !bytes.Equal(got, data) {
		t.Fatal("the device behind installed a different file")
	}
}

// TestSwarmFrames: the frame reader refuses empty and oversized frames and
// pieces with trailing bytes.
func TestSwarmFrames(t *testing.T) {
	f := frame(frHave, uvarint(300))
	typ, body, err := readFrame(bufio.NewReader(bytes.NewReader(f)), 64)
	if err != nil || typ != frHave {
		t.Fatalf("round trip: %v %d", err, typ)
	}
	if i, ok := piece(body); !ok || i != 300 {
		t.Fatalf("piece %d %v", i, ok)
	}
	if _, ok := piece(append(body, 0)); ok {
		t.Fatal("trailing byte accepted")
	}
	// HAVE and REQUEST may carry the sender's count of pieces held.
	if i, n, ok := pieceHeld(append(uvarint(300), uvarint(77)...)); !ok || i != 300 || n != 77 {
		t.Fatalf("piece and count: %d %d %v", i, n, ok)
	}
	if i, n, ok := pieceHeld(uvarint(5)); !ok || i != 5 || n != -1 {
		t.Fatalf("piece without count: %d %d %v", i, n, ok)
	}
	for _, bad := range [][]byte{nil, {0x80}, {1, 0x80}, append(append(uvarint(1), uvarint(2)...), 0)} {
		if _, _, ok := pieceHeld(bad); ok {
			t.Fatalf("%x accepted", bad)
		}
	}
	big := frame(frBlock, make([]byte, 100))
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(big)), 64); err == nil {
		t.Fatal("oversized frame accepted")
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{0})), 64); err == nil {
		t.Fatal("empty frame accepted")
	}
}

// TestSwarmUnknownRootsBounded: peers asking about releases the node does
// not know get at most swarmMaxUnknown records between them; streams past
// that are reset.
func TestSwarmUnknownRootsBounded(t *testing.T) {
	f := newFleet(t, 0)
	var open []network.Stream
	for h := 0; h < 6; h++ {
		atk := f.newHost()
		f.connect(atk, f.seed.Host())
		for i := 0; i < swarmMaxStreams; i++ {
			st, err := atk.NewStream(context.Background(), f.seed.ID(), swarmProto)
			if err != nil {
				t.Fatal(err)
			}
			_, imp := memImport(t, randomBytes(t, 100))
			root := imp.Root
			hello := append(uvarint(len(root.Bytes())), root.Bytes()...)
			if _, err := st.Write(frame(frHello, hello)); err != nil {
				t.Fatal(err)
			}
			open = append(open, st)
		}
	}
	waitFor(t, "every HELLO handled", 10*time.Second, func() bool {
		s := f.seed.swarm
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.rels) >= swarmMaxUnknown
	})
	time.Sleep(200 * time.Millisecond)
	s := f.seed.swarm
	s.mu.Lock()
	n := len(s.rels)
	s.mu.Unlock()
	if n != swarmMaxUnknown {
		t.Fatalf("%d release records for %d unknown roots, want the cap %d", n, len(open), swarmMaxUnknown)
	}
	for _, st := range open {
		st.Reset()
	}
}

// TestSwarmFrameBuffers: a large BLOCK frame is read into a recycled
// buffer, handed back with its body; other frames, small ones and errors
// hand none out.
func TestSwarmFrameBuffers(t *testing.T) {
	data := randomBytes(t, pooledFrame+100)
	f := frame(frBlock, append(uvarint(7), data...))
	typ, body, buf, err := readFrameBuf(bufio.NewReader(bytes.NewReader(f)), swarmMaxFrame, nil)
	if err != nil || typ != frBlock || buf == nil {
		t.Fatalf("block frame: type %d, buffer %v, %v", typ, buf != nil, err)
	}
	if &(*buf)[0] != &body[0] || !bytes.Equal(body[1:], data) {
		t.Fatal("the body does not lie in the buffer handed out, or differs")
	}
	putBlockBuf(buf)
	_, _, small, err := readFrameBuf(bufio.NewReader(bytes.NewReader(frame(frHave, uvarint(3)))), swarmMaxFrame, nil)
	if err != nil || small != nil {
		t.Fatalf("a HAVE frame came with a recycled buffer (%v)", err)
	}
	// Only blocks: a large bitfield is parsed and kept by the session.
	_, _, bf, err := readFrameBuf(bufio.NewReader(bytes.NewReader(frame(frBitfield, make([]byte, pooledFrame+10)))), swarmMaxFrame, nil)
	if err != nil || bf != nil {
		t.Fatalf("a large BITFIELD frame came with a recycled buffer (%v)", err)
	}
	_, _, cut, err := readFrameBuf(bufio.NewReader(bytes.NewReader(f[:len(f)-1])), swarmMaxFrame, nil)
	if err == nil || cut != nil {
		t.Fatalf("a frame cut short: err %v, buffer handed out %v", err, cut != nil)
	}
}

// TestSwarmNotifiesBitswapWithCopy: a block that arrives by the swarm
// protocol while one of the node's own bitswap fetches waits for it
// reaches that fetch, as a copy: the swarm's buffer is recycled (here,
// overwritten) as soon as the block is stored.
func TestSwarmNotifiesBitswapWithCopy(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	data := randomBytes(t, 4<<10)
	want := bytes.Clone(data)
	h, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blocks.NewBlockWithCid(data, cid.NewCidV1(cid.Raw, h))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan blocks.Block, 1)
	dev.bitswapRounds.Add(1) // as getRound does: a bitswap fetch of ours runs
	defer dev.bitswapRounds.Add(-1)
	go func() {
		blk, err := dev.bs.GetBlock(ctx, b.Cid())
		if err == nil {
			got <- blk
		}
		close(got)
	}()
	waitFor(t, "the bitswap fetch to want the block", 5*time.Second, func() bool {
		return slices.ContainsFunc(dev.bs.Client.GetWantlist(), b.Cid().Equals)
	})
	dev.notifyBitswap(ctx, b)
	for i := range data {
		data[i] ^= 0xFF
	}
	blk, ok := <-got
	if !ok {
		t.Fatal("the bitswap fetch never got the block")
	}
	if !bytes.Equal(blk.RawData(), want) {
		t.Fatal("the bitswap fetch got the swarm's buffer, since overwritten, not a copy")
	}
}

// TestSwarmMemoryStoreKeepsBlocks: with blocks kept in memory (the stack
// simulator's store, a map that keeps the slices it is given), a block's
// buffer is not recycled for the next frame: every block the device holds
// after the fetch still hashes to its CID.
func TestSwarmMemoryStoreKeepsBlocks(t *testing.T) {
	f := newFleet(t, 1, func(f *fleet) { f.opts.MemoryStore, f.opts.DiscardFiles = true, true })
	dev := f.devs[0]
	f.connect(f.seed.Host(), dev.Host())
	waitMesh(t, dev)
	data := randomBytes(t, 3<<20+999)
	rel, _, _ := f.publish(data, "2.0.0")
	waitFor(t, "device fetched and verified the release", 60*time.Second, func() bool {
		st := dev.Status().Releases[rel.ID()]
		return st != nil && st.Fetched
	})
	if sw := dev.SwarmStats(); sw.Received < int64(len(data)) {
		t.Fatalf("the swarm protocol brought %d of %d bytes: the test did not exercise it", sw.Received, len(data))
	}
	ctx := context.Background()
	keys, err := dev.store.Blocks.AllKeysChan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for c := range keys {
		if _, err := dev.store.Blocks.Get(ctx, c); err != nil {
			t.Errorf("block %s no longer matches its CID: %v", c, err)
		}
		n++
	}
	if n < len(data)/(256<<10) {
		t.Fatalf("the device holds %d blocks, fewer than the release's leaves", n)
	}
}

// TestSwarmEarlyHave: seed - d0 - d1 in a line. d0 tells d1 of each piece
// as its block begins to arrive, so d1's requests wait at d0 for pieces
// still on the wire (served once they are verified and stored) rather than
// for a HAVE after them. d1 gets the whole file once; an offer d0 makes of
// a piece d1 has already asked for is not taken.
func TestSwarmEarlyHave(t *testing.T) {
	f := newFleet(t, 2)
	d0, d1 := f.devs[0], f.devs[1]
	f.connect(f.seed.Host(), d0.Host())
	f.connect(d0.Host(), d1.Host())
	// The seed's link is slow (50 ms, 4 MB/s), so d1, which hears of the
	// release from d0 at once, has joined before d0 holds everything;
	// otherwise, on a loaded machine, d0 could finish first and have
	// nothing fresh to offer.
	for _, l := range f.mn.LinksBetweenPeers(f.seed.ID(), d0.ID()) {
		l.SetOptions(mocknet.LinkOptions{Latency: 50 * time.Millisecond, Bandwidth: 4 << 20})
	}
	waitMesh(t, d1)
	data := randomBytes(t, 1<<20+777)
	rel, _, _ := f.publish(data, "2.0.0")
	for _, d := range []*Node{d0, d1} {
		waitFor(t, "device installed", 60*time.Second, func() bool {
			st := d.Status().Releases[rel.ID()]
			return st != nil && st.Phase == policy.PhaseInstalled
		})
	}
	s0, s1 := d0.SwarmStats(), d1.SwarmStats()
	t.Logf("d0 served %d requests for pieces still arriving, offered %d pieces, %d taken; d1 received %d (dup %d)", s0.Early, s0.Offers, s0.OffersTaken, s1.Received, s1.Duplicate)
	if s1.Received != int64(len(data)) || s1.Duplicate != 0 {
		t.Errorf("d1 received %d bytes (%d duplicate), want the file (%d) once", s1.Received, s1.Duplicate, len(data))
	}
	if s0.Early == 0 {
		t.Error("d0 served no request for a piece still arriving: d1 heard of pieces only once d0 stored them")
	}
	if s0.OffersTaken > s0.Offers {
		t.Errorf("d0 offered %d pieces and %d were taken", s0.Offers, s0.OffersTaken)
	}
	if s1.Offers != 0 {
		t.Errorf("d1 has no neighbour lacking what it stores, yet offered %d pieces", s1.Offers)
	}
}

// TestSwarmHaveOnInnerStream: a peer that asked for the inner blocks (a
// HELLO without a bitfield) gets INNER and then the seed's BITFIELD on the
// same stream, and carries on there: the seed answers its request with the
// block.
func TestSwarmHaveOnInnerStream(t *testing.T) {
	f := newFleet(t, 0)
	data := randomBytes(t, 200<<10)
	rel := f.release(data, "2.0.0")
	root, err := cid.Decode(rel.RootCID)
	if err != nil {
		t.Fatal(err)
	}
	atk := f.newHost()
	f.connect(atk, f.seed.Host())
	st, err := atk.NewStream(context.Background(), f.seed.ID(), swarmProto)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	defer time.AfterFunc(20*time.Second, func() { _ = st.Reset() }).Stop() // mocknet streams have no deadlines
	if _, err := st.Write(frame(frHello, append(uvarint(len(root.Bytes())), root.Bytes()...))); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(st)
	if typ, _, err := readFrame(br, swarmMaxFrame); err != nil || typ != frInner {
		t.Fatalf("want INNER first, got frame %d, %v", typ, err)
	}
	if typ, body, err := readFrame(br, swarmMaxFrame); err != nil || typ != frBitfield || len(body) < 1 || body[0]&bitfieldSuperSeed == 0 {
		t.Fatalf("want the seed's BITFIELD after INNER, got frame %d %x, %v", typ, body, err)
	}
	for _, f := range [][]byte{frame(frHave, uvarint(0)), frame(frHave, uvarint(1)), frame(frRequest, uvarint(2))} {
		if _, err := st.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	for {
		typ, body, err := readFrame(br, swarmMaxFrame)
		if err != nil {
			t.Fatalf("no BLOCK for the request: %v", err)
		}
		if typ == frBlock {
			if i, w := binary.Uvarint(body); w <= 0 || i != 2 || len(body)-w != 64<<10 {
				t.Fatalf("BLOCK for piece %d with %d bytes, want piece 2 and 64 KiB", i, len(body)-w)
			}
			return
		}
	}
}

// TestSwarmHaveNotToHolders: a neighbour we know holds a piece (it said
// so, or sent it to us) is not told we hold it; one that does not is told
// once, with our count of pieces held.
func TestSwarmHaveNotToHolders(t *testing.T) {
	r := &swarmRel{pieces: make([]cid.Cid, 8), serving: map[*swarmServe]struct{}{}}
	sv := &swarmServe{rel: r, greeted: true, has: swarm.NewBitfield(8), told: swarm.NewBitfield(8), offered: swarm.NewBitfield(8), kick: make(chan struct{}, 1)}
	sv.cond = sync.NewCond(&sv.mu)
	sv.peer = peer.ID("n1")
	r.serving[sv] = struct{}{}
	s := &swarmSvc{heldBy: map[peer.ID]int{}}
	s.heard(r, "n1", 9, 3)
	if s.heldBy["n1"] != 9 {
		t.Fatalf("the count a HAVE carried was not kept: %d", s.heldBy["n1"])
	}
	s.heard(r, "someone-else", -1, 4)
	sv.announce(3, 1)
	if len(sv.ctrl) != 0 {
		t.Fatalf("told a neighbour that holds piece 3: %x", sv.ctrl)
	}
	sv.announce(4, 2)
	sv.announce(4, 2)
	if len(sv.ctrl) != 1 {
		t.Fatalf("piece 4: %d frames, want one HAVE", len(sv.ctrl))
	}
	typ, body, err := readFrame(bufio.NewReader(bytes.NewReader(sv.ctrl[0])), 64)
	if err != nil || typ != frHave {
		t.Fatalf("frame %d: %v", typ, err)
	}
	if i, n, ok := pieceHeld(body); !ok || i != 4 || n != 2 {
		t.Fatalf("HAVE says piece %d, %d held (%v); want 4, 2", i, n, ok)
	}
}

// TestSwarmUploadToTheFurthestBehind: a free upload slot goes to the
// waiting block whose neighbour holds the fewest pieces; an abandoned
// grant frees its slot for the next.
func TestSwarmUploadToTheFurthestBehind(t *testing.T) {
	s := &swarmSvc{heldBy: map[peer.ID]int{}}
	serve := func(held int) *swarmServe {
		sv := &swarmServe{svc: s, has: swarm.NewBitfield(16)}
		for i := range held {
			sv.has.Set(i)
		}
		return sv
	}
	s.upFree = 1
	first := s.acquire(serve(9))
	if !granted(first) {
		t.Fatal("a free slot was not granted at once")
	}
	rich, poor, mid := s.acquire(serve(14)), s.acquire(serve(2)), s.acquire(serve(7))
	if granted(rich) || granted(poor) || granted(mid) {
		t.Fatal("granted with no slot free")
	}
	s.release()
	if !granted(poor) || granted(rich) || granted(mid) {
		t.Fatal("the slot did not go to the neighbour holding fewest pieces")
	}
	s.abandon(poor) // granted, then given up: its slot goes on
	if !granted(rich) || granted(mid) {
		t.Fatal("7 pieces behind the first to ask (less than swarmBehindMargin) went first")
	}
	s.abandon(rich)
	if !granted(mid) {
		t.Fatal("an abandoned slot did not pass on")
	}
	near := s.acquire(serve(12))
	s.abandon(near) // never granted: just leaves the queue
	s.release()
	if s.upFree != 1 || len(s.upWait) != 0 {
		t.Fatalf("free %d, waiting %d; want 1 and 0", s.upFree, len(s.upWait))
	}
}

// granted reports whether w has its upload slot.
func granted(w *upWaiter) bool {
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

// TestSwarmComingPiece: a request for a piece announced on arrival waits;
// when the arrival fails the waiters wake and the piece is not held.
func TestSwarmComingPiece(t *testing.T) {
	s := &swarmSvc{arrived: make(chan struct{})}
	r := &swarmRel{pieces: make([]cid.Cid, 4), have: swarm.NewBitfield(4), coming: swarm.NewBitfield(4), serving: map[*swarmServe]struct{}{}}
	s.arriving(r, 2)
	if !r.coming.Has(2) {
		t.Fatal("piece 2 not marked coming")
	}
	wake := s.arrived
	s.notComing(r, 2)
	select {
	case <-wake:
	default:
		t.Fatal("waiters not woken when the arrival failed")
	}
	if r.coming.Has(2) || r.have.Has(2) {
		t.Fatal("a failed arrival left piece 2 coming or held")
	}
	s.arriving(r, 1)
	wake = s.arrived
	if !s.stored(r, 1) {
		t.Fatal("stored reported piece 1 held already")
	}
	select {
	case <-wake:
	default:
		t.Fatal("waiters not woken when the piece was stored")
	}
	if r.coming.Has(1) || !r.have.Has(1) {
		t.Fatal("a stored piece is still coming, or not held")
	}
}

// TestSwarmMakeRoomForTheFurthestBehind: with the upload queue full, a
// request from a neighbour far behind turns away (BUSY) the last request
// waiting from one far ahead; from one barely behind, nothing moves.
func TestSwarmMakeRoomForTheFurthestBehind(t *testing.T) {
	s := &swarmSvc{heldBy: map[peer.ID]int{}, maxQ: 1}
	r := &swarmRel{pieces: make([]cid.Cid, 64), serving: map[*swarmServe]struct{}{}}
	serve := func(id string, held int) *swarmServe {
		sv := &swarmServe{svc: s, rel: r, peer: peer.ID(id), greeted: true, has: swarm.NewBitfield(64), kick: make(chan struct{}, 1)}
		sv.cond = sync.NewCond(&sv.mu)
		s.heldBy[sv.peer] = held
		r.serving[sv] = struct{}{}
		return sv
	}
	ahead, near, behind := serve("ahead", 40), serve("near", 4), serve("behind", 2)
	ahead.queue = []int{7, 9}
	s.queued.Store(2)
	s.makeRoom(near, 0) // 4 pieces against 40
	if len(ahead.queue) != 1 || ahead.queue[0] != 7 || s.queued.Load() != 1 {
		t.Fatalf("a request far behind did not take the last waiting slot of one ahead: queue %v, queued %d", ahead.queue, s.queued.Load())
	}
	typ, body, err := readFrame(bufio.NewReader(bytes.NewReader(ahead.ctrl[0])), 64)
	if i, ok := piece(body); err != nil || typ != frBusy || !ok || i != 9 {
		t.Fatalf("the neighbour ahead got frame %d for piece %d (%v), want BUSY for 9", typ, i, err)
	}
	near.queue = []int{3}
	s.queued.Store(2)
	s.makeRoom(behind, 0) // "near" holds 4, within roomMargin of 2; "ahead" still waits
	if len(near.queue) != 1 || len(ahead.queue) != 0 || s.queued.Load() != 1 {
		t.Fatalf("queues %v and %v, queued %d: want the one ahead to give way, not the one near", near.queue, ahead.queue, s.queued.Load())
	}
	ahead.queue = []int{7}
	s.queued.Store(2)
	behind.offered = swarm.NewBitfield(64)
	behind.offered.Set(5)
	s.makeRoom(behind, 5) // a piece we offered is served whatever the queue
	if len(ahead.queue) != 1 {
		t.Fatal("a request for an offered piece turned another away")
	}
	s.queued.Store(0)
	near.queue = []int{3, 4}
	s.makeRoom(behind, 0) // room left: nothing moves
	if len(near.queue) != 2 {
		t.Fatal("a request was turned away with room in the queue")
	}
}

// piece parses a body that is a piece number alone (CANCEL, DONT_HAVE,
// BUSY, OFFER, and HAVE or REQUEST without a count).
func piece(body []byte) (int, bool) {
	i, held, ok := pieceHeld(body)
	return i, ok && held < 0
}

// TestSwarmOneStreamPerNeighbour: a device that fetches a release from the
// seed opens one swarm stream to it. The stream that asked for the inner
// blocks carries the fetch on (the seed follows INNER with its BITFIELD),
// instead of a second stream and HELLO a round trip later.
func TestSwarmOneStreamPerNeighbour(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	var streams atomic.Int32
	f.seed.Host().SetStreamHandler(swarmProto, func(st network.Stream) {
		if st.Conn().RemotePeer() == dev.ID() {
			streams.Add(1)
		}
		f.seed.swarm.handle(st)
	})
	f.connect(f.seed.Host(), dev.Host())
	rel, _, _ := f.publish(randomBytes(t, 512<<10), "2.0.0")
	waitFor(t, "fetched", 60*time.Second, func() bool {
		_, ok := dev.Fetched(rel.ID())
		return ok
	})
	if got := dev.Status().Releases[rel.ID()].Fetch.BlocksFetched; got < 8 {
		t.Fatalf("the device fetched %d blocks, want the whole release", got)
	}
	if n := streams.Load(); n != 1 {
		t.Errorf("the device opened %d swarm streams to the seed, want 1", n)
	}
	if st := f.seed.SwarmStats(); st.Sent < 512<<10 {
		t.Errorf("the seed sent %d bytes by the swarm protocol, want the whole release", st.Sent)
	}
}

// TestSwarmNoInner: a neighbour asked for the inner blocks before it knew
// the release, and then told NO_INNER (the asker got them elsewhere),
// answers with its BITFIELD alone once it knows the release: no INNER.
func TestSwarmNoInner(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	rel := f.release(randomBytes(t, 512<<10), "2.0.0")
	root, err := cid.Decode(rel.RootCID)
	if err != nil {
		t.Fatal(err)
	}
	peerA := f.newHost()
	f.connect(peerA, dev.Host())
	ask := func(noInner bool) (network.Stream, *bufio.Reader) {
		st, err := peerA.NewStream(context.Background(), dev.ID(), swarmProto)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Reset() })
		watchdog := time.AfterFunc(30*time.Second, func() { _ = st.Reset() }) // mocknet streams have no deadlines
		t.Cleanup(func() { watchdog.Stop() })
		out := frame(frHello, append(uvarint(len(root.Bytes())), root.Bytes()...))
		if noInner {
			out = append(out, frame(frNoInner, nil)...)
		}
		if _, err := st.Write(out); err != nil {
			t.Fatal(err)
		}
		return st, bufio.NewReader(st)
	}
	_, told := ask(true)
	_, plain := ask(false)
	f.connect(f.seed.Host(), dev.Host())
	f.announceTo(dev, rel)
	if typ, _, err := readFrame(plain, swarmMaxFrame); err != nil || typ != frInner {
		t.Fatalf("the stream not told NO_INNER: want INNER first, got frame %d, %v", typ, err)
	}
	if typ, _, err := readFrame(told, swarmMaxFrame); err != nil || typ != frBitfield {
		t.Fatalf("the stream told NO_INNER: want BITFIELD first, got frame %d, %v", typ, err)
	}
}

// TestPaceHold: a block handed to an idle link frees its slot at once; one
// handed to a busy link holds it until one block is left to send.
func TestPaceHold(t *testing.T) {
	now := time.Unix(1000, 0)
	const rate = 1e6 // 1 MB/s: 10,000 bytes take 10 ms
	free, hold := paceHold(now, time.Time{}, 10000, rate)
	if !free.Equal(now.Add(10*time.Millisecond)) || hold != 0 {
		t.Fatalf("idle link: done at +%v, held %v; want +10ms and 0", free.Sub(now), hold)
	}
	free, hold = paceHold(now, free, 10000, rate)
	if !free.Equal(now.Add(20*time.Millisecond)) || hold != 10*time.Millisecond {
		t.Fatalf("one block queued: done at +%v, held %v; want +20ms and 10ms", free.Sub(now), hold)
	}
	later := now.Add(time.Second) // the link went idle meanwhile
	free, hold = paceHold(later, free, 5000, rate)
	if !free.Equal(later.Add(5*time.Millisecond)) || hold != 0 {
		t.Fatalf("after idling: done at +%v, held %v; want +5ms and 0", free.Sub(later), hold)
	}
}

// TestSwarmPacedSlots: with a pace set, the slot of a block written while
// the link is busy comes back only when the link has one block left, in
// virtual time; unpaced it comes back as the write returns.
func TestSwarmPacedSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &swarmSvc{heldBy: map[peer.ID]int{}, upFree: 1, pace: 1e6}
		sv := &swarmServe{svc: s, has: swarm.NewBitfield(4)}
		if !granted(s.acquire(sv)) {
			t.Fatal("a free slot was not granted")
		}
		s.written(10000) // idle link: free at once
		if !granted(s.acquire(sv)) {
			t.Fatal("the slot of a block sent on an idle link was held")
		}
		s.written(10000) // 10 ms of the link still to go before this one
		w := s.acquire(sv)
		time.Sleep(9 * time.Millisecond)
		synctest.Wait()
		if granted(w) {
			t.Fatal("the slot came back with more than one block left for the link")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if !granted(w) {
			t.Fatal("the slot did not come back once one block was left")
		}
		s.pace = 0
		s.written(10000)
		if s.upFree != 1 {
			t.Fatalf("unpaced: %d slots free after the write, want 1", s.upFree)
		}
	})
}

// TestUplinkRateConfig: uplink_rate parses as a rate, and a bad one (or
// one without its unit) is a config error.
func TestUplinkRateConfig(t *testing.T) {
	c := &Config{Role: RoleSeed, DataDir: t.TempDir(), TrustRoot: "root.json", UplinkRate: "2.5MB/s"}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if c.uplinkRate() != 2500000 {
		t.Fatalf("uplink rate %d, want 2500000", c.uplinkRate())
	}
	for _, bad := range []string{"fast", "2.5"} { // no unit: 2.5 bytes a second
		c.UplinkRate = bad
		if err := c.Check(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "uplink_rate") {
			t.Fatalf("uplink_rate %q: %v", bad, err)
		}
	}
}
