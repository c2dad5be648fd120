package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"
	ipld "github.com/ipfs/go-ipld-format"
)

// ErrHashMismatch is returned when a block's bytes do not hash to its CID.
var ErrHashMismatch = errors.New("block bytes do not match CID")

// StoreConfig tunes the badger store. The zero value gives the defaults.
type StoreConfig struct {
	// MemTableMiB is badger's memtable size. Default 16 (badger's own
	// default, 64, costs too much memory on a small gateway).
	MemTableMiB int
	// ValueLogMiB is the size of one value-log file. Default 256.
	ValueLogMiB int
	// BlockCacheMiB is badger's block cache. Default 16.
	BlockCacheMiB int
}

// Store is a node's on-disk state: one badger database holding blocks (under
// /blocks), references to blocks that lie in release files (under
// /filerefs, see FileRef) and node state records (under whatever keys the
// node uses). Blocks reads both kinds alike.
type Store struct {
	DS     Datastore
	Blocks *VerifyingBlockstore
	dir    string
	gate   *closeGate // nil for a store not on badger
}

// Datastore is what a node keeps its state in: keys and values, durable
// syncs, and transactions that write several keys at once or none.
type Datastore interface {
	ds.Batching
	ds.TxnDatastore
}

// OpenStore opens (creating if needed) the badger store in dir.
func OpenStore(dir string, cfg StoreConfig) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store dir: %w", err)
	}
	def := func(v, d int) int64 {
		if v <= 0 {
			v = d
		}
		return int64(v) << 20
	}
	opts := badger4.DefaultOptions
	opts.Options = badger.DefaultOptions("").
		WithMemTableSize(def(cfg.MemTableMiB, 16)).
		WithValueLogFileSize(def(cfg.ValueLogMiB, 256)).
		WithBlockCacheSize(def(cfg.BlockCacheMiB, 16)).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithLoggingLevel(badger.ERROR).
		WithSyncWrites(false).
		// A value that rotted on disk fails its CRC as it is read
		// (see VerifyingBlockstore.Served).
		WithVerifyValueChecksum(true).
		// Blocks (up to 2 MiB) go to the value log, an append-only file,
		// not into the LSM tree: bulk writes without compaction storms.
		WithValueThreshold(4 << 10)
	d, err := badger4.NewDatastore(filepath.Clean(dir), &opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	refs := &refBlockstore{Blockstore: blockstore.NewBlockstore(d), ds: d}
	vb := NewVerifyingBlockstore(refs)
	st := &Store{DS: d, Blocks: vb, dir: dir, gate: &closeGate{}}
	vb.readInto = badgerReadInto(d, st.gate)
	return st, nil
}

// closeGate keeps Close from closing badger under a read that goes to it
// directly (badgerReadInto), as go-ds-badger4's own methods are kept.
type closeGate struct {
	mu     sync.RWMutex
	closed bool
}

// badgerReadInto reads a block held in d (not one held by FileRef) into
// buf, growing it if short: found is false if d does not hold it. The
// same key as boxo's blockstore writes (BlockPrefix, then the multihash).
func badgerReadInto(d *badger4.Datastore, gate *closeGate) func(context.Context, cid.Cid, []byte) ([]byte, bool, error) {
	return func(_ context.Context, c cid.Cid, buf []byte) (out []byte, found bool, err error) {
		gate.mu.RLock()
		defer gate.mu.RUnlock()
		if gate.closed {
			return nil, false, badger4.ErrClosed
		}
		key := blockstore.BlockPrefix.Child(dshelp.MultihashToDsKey(c.Hash())).Bytes()
		err = d.DB.View(func(txn *badger.Txn) error {
			item, err := txn.Get(key)
			if err != nil {
				return err
			}
			out, err = item.ValueCopy(buf[:0])
			return err
		})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", c, err)
		}
		return out, true, nil
	}
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if s.gate != nil { // wait for direct reads, and let none start
		s.gate.mu.Lock()
		s.gate.closed = true
		s.gate.mu.Unlock()
	}
	return s.DS.Close()
}

// Sync makes every write under prefix durable (fsync). Callers use it before
// they acknowledge state that must survive a crash.
func (s *Store) Sync(ctx context.Context, prefix ds.Key) error { return s.DS.Sync(ctx, prefix) }

// VerifyingBlockstore re-hashes every block on Put and PutMany and refuses
// those whose bytes do not match their CID. Bitswap already derives CIDs from
// received bytes; this is the second lock on the door, and it covers every
// other way a block can arrive (import, publishing, tests).
//
// It re-hashes on Get too: a block that rotted on disk (a flipped bit, a
// torn write) is deleted, reported to OnCorrupt, and read as not found — so
// it is neither served to peers nor assembled into a file, and the next
// fetch gets it again from a peer.
type VerifyingBlockstore struct {
	blockstore.Blockstore
	// OnCorrupt, if set, is told about every corrupt block found on Get.
	OnCorrupt func(cid.Cid, error)

	mu       sync.Mutex
	verified map[string]struct{} // multihashes hashed since the store opened

	// readInto, if set, reads a block the underlying store holds itself
	// into a caller's buffer (see servedView.GetInto).
	readInto func(ctx context.Context, c cid.Cid, buf []byte) ([]byte, bool, error)
}

// maxVerified bounds the set of blocks known verified (about 30 MiB; 64
// GiB of 256 KiB blocks). Past it the set starts again, which costs only
// a hash per block on its next upload.
const maxVerified = 1 << 18

func (v *VerifyingBlockstore) markVerified(c cid.Cid, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !ok {
		delete(v.verified, string(c.Hash()))
		return
	}
	if v.verified == nil || len(v.verified) >= maxVerified {
		v.verified = map[string]struct{}{}
	}
	v.verified[string(c.Hash())] = struct{}{}
}

func (v *VerifyingBlockstore) isVerified(c cid.Cid) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.verified[string(c.Hash())]
	return ok
}

// Get reads c and checks its bytes against it.
func (v *VerifyingBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	return v.get(ctx, c, false)
}

func (v *VerifyingBlockstore) get(ctx context.Context, c cid.Cid, trustStore bool) (blocks.Block, error) {
	b, err := v.Blockstore.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	fb, inFile := b.(fileBlock)
	if inFile {
		b = fb.Block
	}
	if err := v.check(ctx, b, trustStore && !inFile, !inFile); err != nil {
		return nil, err
	}
	return b, nil
}

// check hashes b against its CID unless skip allows it and b was hashed
// since the store opened; a block that fails is forgotten (corrupt). A
// block held in the store itself (remember) is marked hashed.
func (v *VerifyingBlockstore) check(ctx context.Context, b blocks.Block, skip, remember bool) error {
	c := b.Cid()
	// Badger answers a value it cannot read (a CRC mismatch, a value
	// log cut short) with no bytes and no error: those are hashed, and
	// fail.
	if skip && len(b.RawData()) > 0 && v.isVerified(c) {
		return nil
	}
	if verr := VerifyBlock(b); verr != nil {
		return v.corrupt(ctx, c, verr)
	}
	if remember {
		v.markVerified(c, true)
	}
	return nil
}

// corrupt forgets c, which failed its check, and reports it.
func (v *VerifyingBlockstore) corrupt(ctx context.Context, c cid.Cid, verr error) error {
	v.markVerified(c, false)
	_ = v.Blockstore.DeleteBlock(ctx, c)
	if v.OnCorrupt != nil {
		v.OnCorrupt(c, verr)
	}
	return ipld.ErrNotFound{Cid: c}
}

// Served is the store as uploads read it. A block held in badger that
// this process has hashed since the store opened — on Put, or on an
// earlier read — is not hashed again: badger checks each value's CRC-32C
// as it reads it (VerifyValueChecksum) and returns no bytes for a value
// that fails, so a byte that rots on disk meanwhile is still caught, and
// a seed with a bad disk stops serving the block rather than being banned
// by the fleet for sending it. The first read
// after the store opens does hash (badger, reopening a value log whose
// last entry was torn, can return the wrong bytes without an error), and
// blocks held in a release file (FileRef) always are: anything may have
// changed that file. Reads for local use (Get) always hash. The SHA-256
// of every block was the largest cost of serving on a fast link.
func (v *VerifyingBlockstore) Served() blockstore.Blockstore { return servedView{v} }

type servedView struct{ *VerifyingBlockstore }

func (s servedView) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	return s.get(ctx, c, true)
}

// GetInto is Get for an upload that recycles its buffers: the block's
// bytes are read into buf (grown if short) and returned, with the same
// checks as Get. owned says the result's array is buf's or new, held by
// nothing else, so the caller may reuse it; a block read Get's way (held
// by FileRef, or a store without readInto) is not owned.
func (s servedView) GetInto(ctx context.Context, c cid.Cid, buf []byte) (data []byte, owned bool, err error) {
	if s.readInto == nil {
		return s.getShared(ctx, c)
	}
	data, found, err := s.readInto(ctx, c, buf)
	if err != nil {
		return nil, false, err
	}
	if !found {
		return s.getShared(ctx, c)
	}
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, false, err
	}
	if err := s.check(ctx, b, true, true); err != nil {
		return nil, false, err
	}
	return data, true, nil
}

func (s servedView) getShared(ctx context.Context, c cid.Cid) ([]byte, bool, error) {
	b, err := s.get(ctx, c, true)
	if err != nil {
		return nil, false, err
	}
	return b.RawData(), false, nil
}

// GetInto reads c from bs into buf (see servedView.GetInto) where bs can
// (the store's Served view, or Throttled over it), else by Get (not
// owned).
func GetInto(ctx context.Context, bs blockstore.Blockstore, c cid.Cid, buf []byte) (data []byte, owned bool, err error) {
	if g, ok := bs.(interface {
		GetInto(context.Context, cid.Cid, []byte) ([]byte, bool, error)
	}); ok {
		return g.GetInto(ctx, c, buf)
	}
	b, err := bs.Get(ctx, c)
	if err != nil {
		return nil, false, err
	}
	return b.RawData(), false, nil
}

// Intact reports whether c is stored and its bytes hash to it (a corrupt
// copy is deleted on the way).
func (v *VerifyingBlockstore) Intact(ctx context.Context, c cid.Cid) bool {
	_, err := v.Get(ctx, c)
	return err == nil
}

// NewVerifyingBlockstore wraps bs.
func NewVerifyingBlockstore(bs blockstore.Blockstore) *VerifyingBlockstore {
	return &VerifyingBlockstore{Blockstore: bs}
}

// VerifyBlock checks that b's bytes hash to b's CID.
func VerifyBlock(b blocks.Block) error {
	c, err := b.Cid().Prefix().Sum(b.RawData())
	if err != nil {
		return fmt.Errorf("hash block %s: %w", b.Cid(), err)
	}
	if !c.Equals(b.Cid()) {
		return fmt.Errorf("%w: %s", ErrHashMismatch, b.Cid())
	}
	return nil
}

// Put verifies then stores b.
func (v *VerifyingBlockstore) Put(ctx context.Context, b blocks.Block) error {
	if err := VerifyBlock(b); err != nil {
		return err
	}
	return v.PutVerified(ctx, b)
}

// PutVerified stores b, which the caller has just checked against its
// CID (VerifyBlock).
func (v *VerifyingBlockstore) PutVerified(ctx context.Context, b blocks.Block) error {
	if err := v.Blockstore.Put(ctx, b); err != nil {
		return err
	}
	v.markVerified(b.Cid(), true)
	return nil
}

// DeleteBlock removes c.
func (v *VerifyingBlockstore) DeleteBlock(ctx context.Context, c cid.Cid) error {
	v.markVerified(c, false)
	return v.Blockstore.DeleteBlock(ctx, c)
}

// PutMany verifies every block, then stores them all; one bad block stores
// none.
func (v *VerifyingBlockstore) PutMany(ctx context.Context, bs []blocks.Block) error {
	for _, b := range bs {
		if err := VerifyBlock(b); err != nil {
			return err
		}
	}
	if err := v.Blockstore.PutMany(ctx, bs); err != nil {
		return err
	}
	for _, b := range bs {
		v.markVerified(b.Cid(), true)
	}
	return nil
}

// Has reports whether c is stored.
func Has(ctx context.Context, bs blockstore.Blockstore, c cid.Cid) bool {
	ok, err := bs.Has(ctx, c)
	return err == nil && ok
}
