package content

import (
	"context"
	"errors"
	"sync"

	"github.com/ipfs/boxo/blockstore"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// OpenMemStore returns a store held in memory, for the simulator's stack
// engine: thousands of nodes in one process cannot each open a badger
// database, and the simulator measures the network, not the disk. Blocks
// are verified exactly as in the badger store. Nothing survives Close.
func OpenMemStore() *Store {
	m := &memDatastore{MutexDatastore: dssync.MutexWrap(ds.NewMapDatastore())}
	return &Store{DS: m, Blocks: NewVerifyingBlockstore(blockstore.NewBlockstore(m))}
}

// memDatastore adds transactions to a map datastore: writes are buffered
// and applied together, under one lock, on Commit.
type memDatastore struct {
	*dssync.MutexDatastore
	commit sync.Mutex
}

func (m *memDatastore) NewTransaction(_ context.Context, readOnly bool) (ds.Txn, error) {
	return &memTxn{m: m, readOnly: readOnly}, nil
}

var errReadOnlyTxn = errors.New("write in a read-only transaction")

type memOp struct {
	key    ds.Key
	value  []byte
	delete bool
}

type memTxn struct {
	m        *memDatastore
	readOnly bool
	ops      []memOp
}

func (t *memTxn) Get(ctx context.Context, k ds.Key) ([]byte, error) { return t.m.Get(ctx, k) }
func (t *memTxn) Has(ctx context.Context, k ds.Key) (bool, error)   { return t.m.Has(ctx, k) }
func (t *memTxn) GetSize(ctx context.Context, k ds.Key) (int, error) {
	return t.m.GetSize(ctx, k)
}
func (t *memTxn) Query(ctx context.Context, q query.Query) (query.Results, error) {
	return t.m.Query(ctx, q)
}

func (t *memTxn) Put(_ context.Context, k ds.Key, v []byte) error {
	if t.readOnly {
		return errReadOnlyTxn
	}
	t.ops = append(t.ops, memOp{key: k, value: append([]byte(nil), v...)})
	return nil
}

func (t *memTxn) Delete(_ context.Context, k ds.Key) error {
	if t.readOnly {
		return errReadOnlyTxn
	}
	t.ops = append(t.ops, memOp{key: k, delete: true})
	return nil
}

func (t *memTxn) Commit(ctx context.Context) error {
	t.m.commit.Lock()
	defer t.m.commit.Unlock()
	for _, op := range t.ops {
		var err error
		if op.delete {
			err = t.m.Delete(ctx, op.key)
		} else {
			err = t.m.Put(ctx, op.key, op.value)
		}
		if err != nil {
			return err
		}
	}
	t.ops = nil
	return nil
}

func (t *memTxn) Discard(context.Context) { t.ops = nil }
