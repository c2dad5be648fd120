package content

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestImportAssembleRoundTrip(t *testing.T) {
	st, err := OpenStore(t.TempDir(), StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	ctx := context.Background()
	imp, err := Import(ctx, DAGService(st.Blocks), bytes.NewReader(data), 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	dry, err := Import(ctx, Discard(), bytes.NewReader(data), 256<<10)
	if err != nil || !dry.Root.Equals(imp.Root) {
		t.Fatalf("discarding import gave %s, storing import %s (%v)", dry.Root, imp.Root, err)
	}
	sum := sha256.Sum256(data)
	if imp.Size != int64(len(data)) || imp.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("import reported %d bytes %s", imp.Size, imp.SHA256)
	}
	var out bytes.Buffer
	n, got, err := Assemble(ctx, st.Blocks, imp.Root, &out)
	if err != nil || n != int64(len(data)) || got != imp.SHA256 || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("assemble: %d bytes, sha %s, err %v", n, got, err)
	}
}

func TestVerifyingBlockstoreRefusesMismatch(t *testing.T) {
	st, err := OpenStore(t.TempDir(), StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	good := blocks.NewBlock([]byte("genuine"))
	bad, _ := blocks.NewBlockWithCid([]byte("forged!"), good.Cid())
	ctx := context.Background()
	if err := st.Blocks.Put(ctx, bad); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Put of a mismatched block: %v", err)
	}
	if err := st.Blocks.PutMany(ctx, []blocks.Block{blocks.NewBlock([]byte("ok")), bad}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("PutMany with a mismatched block: %v", err)
	}
	if Has(ctx, st.Blocks, good.Cid()) || Has(ctx, st.Blocks, blocks.NewBlock([]byte("ok")).Cid()) {
		t.Fatal("a block from a refused write was stored")
	}
	if err := st.Blocks.Put(ctx, good); err != nil || !Has(ctx, st.Blocks, good.Cid()) {
		t.Fatalf("genuine block: %v", err)
	}
}

func TestPlanWantsSkipsHeldAndShuffles(t *testing.T) {
	var cs []cid.Cid
	for i := 0; i < 64; i++ {
		cs = append(cs, blocks.NewBlock([]byte{byte(i)}).Cid())
	}
	held := map[cid.Cid]bool{cs[3]: true, cs[10]: true}
	has := func(c cid.Cid) bool { return held[c] }
	a := PlanWants(cs, has, mrand.New(mrand.NewPCG(1, 1)))
	b := PlanWants(cs, has, mrand.New(mrand.NewPCG(2, 2)))
	a2 := PlanWants(cs, has, mrand.New(mrand.NewPCG(1, 1)))
	if len(a) != 62 || len(b) != 62 {
		t.Fatalf("want 62 missing, got %d and %d", len(a), len(b))
	}
	for _, c := range a {
		if held[c] {
			t.Fatal("planned a block the store holds")
		}
	}
	same := 0
	for i := range a {
		if a[i].Equals(b[i]) {
			same++
		}
		if !a[i].Equals(a2[i]) {
			t.Fatal("same seed, different plan")
		}
	}
	if same > 16 {
		t.Fatalf("two seeds agree on %d of 62 positions: not shuffled", same)
	}
}

func TestGateSuperSeeding(t *testing.T) {
	g := NewGate(GateConfig{Interval: 2 * time.Second})
	leaf := blocks.NewBlock([]byte("leaf")).Cid()
	leaf = cid.NewCidV1(cid.Raw, leaf.Hash())
	node := cid.NewCidV1(cid.DagProtobuf, leaf.Hash())
	a, b, c := peer.ID("a"), peer.ID("b"), peer.ID("c")
	t0 := time.Unix(1000, 0)
	steps := []struct {
		p    peer.ID
		c    cid.Cid
		at   time.Duration
		want bool
	}{
		{a, leaf, 0, true},                      // first asker gets it
		{a, leaf, 100 * time.Millisecond, true}, // and may ask again
		{b, leaf, time.Second, false},           // others wait: fetch it from a
		{b, node, time.Second, true},            // intermediate nodes always served
		{b, leaf, 2 * time.Second, true},        // one more per interval
		{c, leaf, 3 * time.Second, false},
		{c, leaf, 4 * time.Second, true},
	}
	for i, s := range steps {
		if got := g.Allow(s.p, s.c, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d: Allow(%s, t+%s) = %v, want %v", i, s.p, s.at, got, s.want)
		}
	}
	off := NewGate(GateConfig{})
	if !off.Allow(b, leaf, t0) || !off.Allow(c, leaf, t0) {
		t.Fatal("a disabled gate refused")
	}
}
