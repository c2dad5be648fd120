package node

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/boxo/blockstore"
	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// TestAirGapImport: a release exported from the seed as a CAR file installs
// on a device with no network at all, which then seeds a neighbour; a CAR
// with a tampered manifest or a flipped block stores nothing.
func TestAirGapImport(t *testing.T) {
	f := newFleet(t, 2)
	island, nbr := f.devs[0], f.devs[1] // neither is connected to anything
	rel, _, _ := f.publish(randomBytes(t, 700<<10), "2.0.0")
	var car bytes.Buffer
	st, err := f.seed.ExportCAR(context.Background(), &car, rel.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(island.Host().Network().Peers()) != 0 {
		t.Fatal("the island device has peers")
	}

	// Tampered files first: nothing may be stored.
	flipped := bytes.Clone(car.Bytes())
	flipped[len(flipped)/2] ^= 1
	if _, err := island.ImportCAR(context.Background(), bytes.NewReader(flipped)); !errors.Is(err, content.ErrCorruptCAR) {
		t.Fatalf("flipped byte: %v", err)
	}
	forged := f.release(randomBytes(t, 10<<10), "6.6.6")
	rogue, _ := trust.GenerateKey(nil)
	var bad bytes.Buffer
	if _, err := content.WriteBundle(context.Background(), &bad, mustCID(t, forged.RootCID), f.seed.store.Blocks, [][]byte{f.signRelease(forged, rogue)}); err != nil {
		t.Fatal(err)
	}
	if _, err := island.ImportCAR(context.Background(), &bad); !errors.Is(err, trust.ErrUnknownKey) {
		t.Fatalf("forged manifest: %v", err)
	}
	keys, _ := island.store.Blocks.AllKeysChan(context.Background())
	for k := range keys {
		t.Fatalf("block %s stored from a refused file", k)
	}

	res, err := island.ImportCAR(context.Background(), bytes.NewReader(car.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Release != rel.ID() || res.Blocks != st.Blocks {
		t.Fatalf("import %+v, export %+v", res, st)
	}
	waitInstalled(t, island, rel.ID())
	// The neighbour learns of the release from the island and fetches from it.
	f.connect(island.Host(), nbr.Host())
	waitInstalled(t, nbr, rel.ID())
	if by := nbr.Status().Releases[rel.ID()].Fetch.BytesByPeer; by[island.ID().String()] == 0 {
		t.Fatalf("the neighbour did not fetch from the island: %v", by)
	}
}

func mustCID(t *testing.T, s string) cid.Cid {
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCorruptStoreRepaired: a device's store holds blocks of a release that
// rotted on disk (a flipped byte, written under the block's key behind the
// blockstore's back). When the release arrives the device detects them,
// deletes them, fetches them again from a peer and installs the right file;
// it never serves the rotten bytes.
func TestCorruptStoreRepaired(t *testing.T) {
	f := newFleet(t, 1)
	dev := f.devs[0]
	data := randomBytes(t, 400<<10)
	// The device already holds the whole DAG, as after an earlier fetch...
	imp, err := content.Import(context.Background(), content.DAGService(dev.store.Blocks), bytes.NewReader(data), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	// ...and one leaf rots on disk.
	var leaf cid.Cid
	all, _ := dev.store.Blocks.AllKeysChan(context.Background())
	for c := range all {
		if c.Prefix().Codec == cid.Raw {
			leaf = c
		}
	}
	b, err := dev.store.Blocks.Get(context.Background(), leaf)
	if err != nil {
		t.Fatal(err)
	}
	rotten := bytes.Clone(b.RawData())
	rotten[len(rotten)/2] ^= 0x40
	key := blockstore.BlockPrefix.Child(dshelp.MultihashToDsKey(leaf.Hash()))
	if err := dev.store.DS.Put(context.Background(), key, rotten); err != nil {
		t.Fatal(err)
	}
	f.connect(f.seed.Host(), dev.Host())
	rel, _, _ := f.publish(data, "2.0.0")
	if rel.RootCID != imp.Root.String() {
		t.Fatal("test setup: different DAG")
	}
	waitInstalled(t, dev, rel.ID())
	st := dev.Status()
	if st.Counters.CorruptBlocks != 1 {
		t.Fatalf("corrupt blocks detected: %d, want 1", st.Counters.CorruptBlocks)
	}
	if r := st.Releases[rel.ID()]; r.Fetch.BlocksFetched != 1 {
		t.Fatalf("fetched %d blocks, want exactly the rotten one", r.Fetch.BlocksFetched)
	}
	got, err := os.ReadFile(filepath.Join(dev.cfg.DataDir, "installed.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal("installed file differs from the release")
	}
}
