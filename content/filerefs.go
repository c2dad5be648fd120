package content

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	ipld "github.com/ipfs/go-ipld-format"
)

// FileRef says where a block's bytes lie in a file on disk: a release's
// file holds every leaf of its DAG, so a device that wrote the file as the
// leaves arrived keeps each leaf there and only a reference to it in the
// store (like boxo's filestore, which we do not use: it keys files by a
// path under one root and needs its own datastore wiring; this is the
// three fields we need). Writing each 256 KiB leaf twice — into badger's
// value log and into the file — was the largest cost of a fetch on a fast
// link.
type FileRef struct {
	Path string // absolute
	Off  int64
	Len  int64
}

// refPrefix is where references live in the datastore, beside /blocks.
var refPrefix = ds.NewKey("/filerefs")

func refKey(c cid.Cid) ds.Key { return refPrefix.Child(dshelp.MultihashToDsKey(c.Hash())) }

func encodeRef(r FileRef) []byte {
	b := binary.AppendUvarint(nil, uint64(r.Off))
	b = binary.AppendUvarint(b, uint64(r.Len))
	return append(b, r.Path...)
}

func decodeRef(b []byte) (FileRef, error) {
	off, n := binary.Uvarint(b)
	if n <= 0 || off > 1<<62 {
		return FileRef{}, errors.New("bad file reference")
	}
	l, m := binary.Uvarint(b[n:])
	if m <= 0 || l > 1<<31 {
		return FileRef{}, errors.New("bad file reference")
	}
	return FileRef{Path: string(b[n+m:]), Off: int64(off), Len: int64(l)}, nil
}

// refBlockstore is a blockstore whose blocks are either in the store
// itself or, by FileRef, in a file. It does not verify what it reads from
// a file: the VerifyingBlockstore above it re-hashes every block on Get and
// deletes (here: forgets) a reference whose bytes changed, so a file that
// rotted or was edited is fetched again, never served.
type refBlockstore struct {
	blockstore.Blockstore
	ds ds.Datastore
}

func (r *refBlockstore) ref(ctx context.Context, c cid.Cid) (FileRef, bool) {
	return readRef(ctx, r.ds, c)
}

// readRef reads c's reference; one that does not decode is deleted.
func readRef(ctx context.Context, d ds.Datastore, c cid.Cid) (FileRef, bool) {
	v, err := d.Get(ctx, refKey(c))
	if err != nil {
		return FileRef{}, false
	}
	ref, err := decodeRef(v)
	if err != nil {
		_ = d.Delete(ctx, refKey(c))
		return FileRef{}, false
	}
	return ref, true
}

// usable reports whether ref's file is there and long enough. A reference
// into a file that is not there reads as missing but is kept: the file may
// be between two names (MoveFileRefs follows a rename), and forgetting the
// reference then would lose a piece the node has announced. Only bytes
// that fail their hash make the store forget one (VerifyingBlockstore).
func (r *refBlockstore) usable(ref FileRef) bool {
	fi, err := os.Stat(ref.Path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() >= ref.Off+ref.Len
}

func (r *refBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := r.Blockstore.Get(ctx, c)
	if !ipld.IsNotFound(err) {
		return b, err
	}
	ref, ok := r.ref(ctx, c)
	if !ok {
		return nil, err
	}
	f, ferr := os.Open(ref.Path)
	if errors.Is(ferr, fs.ErrNotExist) {
		return nil, err // see usable
	}
	if ferr != nil {
		return nil, fmt.Errorf("read %s from %s: %w", c, ref.Path, ferr)
	}
	defer f.Close()
	data := make([]byte, ref.Len)
	if _, ferr := f.ReadAt(data, ref.Off); ferr != nil {
		if errors.Is(ferr, io.EOF) {
			return nil, err // the file is shorter: see usable
		}
		return nil, fmt.Errorf("read %s from %s: %w", c, ref.Path, ferr)
	}
	b, err = blocks.NewBlockWithCid(data, c)
	if err != nil {
		return nil, err
	}
	return fileBlock{b}, nil
}

// fileBlock marks a block read from a file (VerifyingBlockstore always
// hashes those, and unwraps them).
type fileBlock struct{ blocks.Block }

func (r *refBlockstore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if ok, err := r.Blockstore.Has(ctx, c); ok || err != nil {
		return ok, err
	}
	ref, ok := r.ref(ctx, c)
	return ok && r.usable(ref), nil
}

func (r *refBlockstore) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	n, err := r.Blockstore.GetSize(ctx, c)
	if !ipld.IsNotFound(err) {
		return n, err
	}
	if ref, ok := r.ref(ctx, c); ok && r.usable(ref) {
		return int(ref.Len), nil
	}
	return n, err
}

// DeleteBlock forgets c in both places (the file itself is not touched).
func (r *refBlockstore) DeleteBlock(ctx context.Context, c cid.Cid) error {
	if err := r.ds.Delete(ctx, refKey(c)); err != nil {
		return fmt.Errorf("delete file reference: %w", err)
	}
	return r.Blockstore.DeleteBlock(ctx, c)
}

// AllKeysChan lists the blocks held in the store, then those held only by
// reference. Raw-leaf CIDs are what references name (a release's leaves).
func (r *refBlockstore) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	in, err := r.Blockstore.AllKeysChan(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan cid.Cid)
	go func() {
		defer close(out)
		for c := range in {
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
		res, err := r.ds.Query(ctx, query.Query{Prefix: refPrefix.String(), KeysOnly: true})
		if err != nil {
			return
		}
		defer res.Close()
		for e := range res.Next() {
			if e.Error != nil {
				return
			}
			mh, err := dshelp.DsKeyToMultihash(ds.NewKey(ds.RawKey(e.Key).BaseNamespace()))
			if err != nil {
				continue
			}
			c := cid.NewCidV1(cid.Raw, mh)
			if held, _ := r.Blockstore.Has(ctx, c); held {
				continue
			}
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// AddFileRef records that c's bytes (already verified against c by the
// caller) lie in ref's file.
func (s *Store) AddFileRef(ctx context.Context, c cid.Cid, ref FileRef) error {
	if err := s.DS.Put(ctx, refKey(c), encodeRef(ref)); err != nil {
		return fmt.Errorf("store file reference: %w", err)
	}
	return nil
}

// MoveFileRefs points the references of cs that name file from at file to
// instead (the file was renamed).
func (s *Store) MoveFileRefs(ctx context.Context, cs []cid.Cid, from, to string) error {
	b, err := s.DS.Batch(ctx)
	if err != nil {
		return fmt.Errorf("move file references: %w", err)
	}
	for _, c := range cs {
		ref, ok := readRef(ctx, s.DS, c)
		if !ok || ref.Path != from {
			continue
		}
		ref.Path = to
		if err := b.Put(ctx, refKey(c), encodeRef(ref)); err != nil {
			return fmt.Errorf("move file references: %w", err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("move file references: %w", err)
	}
	return nil
}
