package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Errors from fetching.
var (
	ErrTooLarge   = errors.New("release larger than allowed")
	ErrMismatch   = errors.New("reassembled file does not match the signed manifest")
	ErrIncomplete = errors.New("fetch incomplete")
)

func (n *Node) runFetch(rel trust.Release) {
	stats, file, err := n.fetch(n.ctx, rel)
	if n.ctx.Err() != nil {
		return // shutting down: the record still says fetching and resumes on restart
	}
	n.finish(rel, "fetch", err, func(st *releaseState) {
		st.Fetch = stats
		if err == nil {
			st.Phase, st.Fetched, st.File, st.FetchedAt = policy.PhaseFetched, true, file, n.now().UTC()
			n.log.Info("release fetched and verified", "release", rel.ID(), "blocks_fetched", stats.BlocksFetched,
				"blocks_present", stats.BlocksPresent, "seconds", fmt.Sprintf("%.2f", stats.DurationSeconds))
		}
	})
}

// fetch gets every block of rel's DAG that the store lacks, level by level,
// in the order content.PlanWants chooses; bitswap asks all connected peers
// and takes each block from whoever has it. Then it reassembles the file
// from the local store and checks size and SHA-256 against the manifest.
func (n *Node) fetch(ctx context.Context, rel trust.Release) (fs FetchStats, file string, err error) {
	start := time.Now()
	if max := n.cfg.maxReleaseSize(); rel.Size > max {
		return fs, "", fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, rel.ID(), rel.Size, max)
	}
	root, err := cid.Decode(rel.RootCID)
	if err != nil {
		return fs, "", fmt.Errorf("release %s: root CID: %w", rel.ID(), err)
	}
	var dup0, dupB0 uint64
	if s, err := n.bs.Stat(); err == nil {
		dup0, dupB0 = s.DupBlksReceived, s.DupDataReceived
	}
	// Bytes a DAG of this size can hold, with generous room for
	// intermediate nodes; more than this is an endless-data attack.
	limit := rel.Size + rel.Size/8 + 1<<20
	n.mu.Lock()
	n.heldAtStart, n.refetched = map[cid.Cid]struct{}{}, 0
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		fs.Refetched = n.refetched
		n.heldAtStart = nil
		n.mu.Unlock()
	}()
	ses := blockservice.NewSession(ctx, n.bserv)
	has := func(c cid.Cid) bool { return content.Has(ctx, n.store.Blocks, c) }
	level := []cid.Cid{root}
	for len(level) > 0 {
		fs.BlocksTotal += len(level)
		n.mu.Lock()
		want := content.PlanWants(level, has, n.rng)
		wanted := make(map[cid.Cid]bool, len(want))
		for _, c := range want {
			wanted[c] = true
		}
		for _, c := range level {
			if !wanted[c] {
				n.heldAtStart[c] = struct{}{}
			}
		}
		n.mu.Unlock()
		fs.BlocksPresent += len(level) - len(want)
		if len(want) > 0 {
			got := 0
			for b := range ses.GetBlocks(ctx, want) {
				got++
				fs.BlocksFetched++
				fs.BytesFetched += int64(len(b.RawData()))
				if fs.BytesFetched > limit {
					return fs, "", fmt.Errorf("%w: %s sent more than %d bytes", ErrTooLarge, rel.ID(), limit)
				}
				if got%16 == 0 {
					n.progressUpdate(rel.ID(), fs)
				}
			}
			if got < len(want) {
				if ctx.Err() != nil {
					return fs, "", ctx.Err()
				}
				return fs, "", fmt.Errorf("%w: %d of %d blocks", ErrIncomplete, got, len(want))
			}
		}
		var next []cid.Cid
		for _, c := range level {
			if c.Type() != cid.DagProtobuf {
				continue
			}
			b, err := n.store.Blocks.Get(ctx, c)
			if err != nil {
				return fs, "", fmt.Errorf("read %s: %w", c, err)
			}
			links, err := content.Links(b)
			if err != nil {
				return fs, "", err
			}
			next = append(next, links...)
		}
		level = next
	}
	if s, err := n.bs.Stat(); err == nil {
		fs.DupBlocks, fs.DupBytes = s.DupBlksReceived-dup0, s.DupDataReceived-dupB0
	}
	fs.BytesByPeer = n.bytesByPeer()
	file, err = n.assemble(ctx, rel, root)
	fs.DurationSeconds = time.Since(start).Seconds()
	return fs, file, err
}

func (n *Node) progressUpdate(id string, fs FetchStats) {
	n.mu.Lock()
	if st := n.progress[id]; st != nil {
		st.Fetch = fs
	}
	n.mu.Unlock()
	n.writeStatus()
}

// bytesByPeer reads bitswap's ledger: block bytes received per peer. It
// counts a duplicate that arrived while the block was still wanted.
func (n *Node) bytesByPeer() map[string]int64 {
	n.mu.Lock()
	peers := make([]peer.ID, 0, len(n.peersSeen))
	for p := range n.peersSeen {
		peers = append(peers, p)
	}
	n.mu.Unlock()
	out := map[string]int64{}
	for _, p := range peers {
		if r := n.bs.LedgerForPeer(p); r != nil && r.Recv > 0 {
			out[p.String()] = int64(r.Recv)
		}
	}
	return out
}

// assemble writes the release file from the local store into
// <data>/releases/<id>/ and checks it against the manifest. Nothing
// unverified ever has the final name.
func (n *Node) assemble(ctx context.Context, rel trust.Release, root cid.Cid) (string, error) {
	dir := filepath.Join(n.cfg.Resolve(n.cfg.DataDir), "releases", rel.ID())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create release dir: %w", err)
	}
	final := filepath.Join(dir, rel.Product+"-"+rel.Version+".bin")
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", fmt.Errorf("create file: %w", err)
	}
	defer os.Remove(tmp.Name())
	size, sum, err := content.Assemble(ctx, n.store.Blocks, root, tmp)
	if err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("sync file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("close file: %w", err)
	}
	if size != rel.Size || sum != rel.SHA256 {
		return "", fmt.Errorf("%w: %s: got %d bytes sha256 %s, want %d bytes sha256 %s", ErrMismatch, rel.ID(), size, sum[:16], rel.Size, rel.SHA256[:16])
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("move verified file: %w", err)
	}
	return final, nil
}
