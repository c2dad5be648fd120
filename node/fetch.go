package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/boxo/blockservice"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Errors from fetching.
var (
	ErrTooLarge = errors.New("release larger than allowed")
	ErrMismatch = errors.New("reassembled file does not match the signed manifest")
	// ErrDiskFull: the data dir has too little space for a release. The
	// fetch is refused before any block is written, and retried with the
	// usual backoff, so it resumes once space returns.
	ErrDiskFull = errors.New("not enough disk space")
	errRecalled = errors.New("release recalled")
)

func (n *Node) runFetch(rel trust.Release) {
	ctx, cancel := context.WithCancel(n.ctx)
	defer cancel()
	stats, file, err := n.fetchDelta(ctx, rel, cancel)
	if err != nil && ctx.Err() == nil {
		deltaErr, deltaBytes := "", stats.BytesFetched
		if !errors.Is(err, errNoDelta) {
			n.log.Warn("delta failed; fetching the whole release", "release", rel.ID(), "err", err)
			deltaErr = err.Error()
		}
		stats, file, err = n.fetch(ctx, releaseTarget(rel), cancel)
		stats.DeltaBytes, stats.DeltaError = deltaBytes, deltaErr
	}
	if n.ctx.Err() != nil {
		return // shutting down: the record still says fetching and resumes on restart
	}
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("fetch of %s stopped: %w", rel.ID(), errRecalled)
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

// target is a DAG to fetch and the file it must assemble to: a release, or
// the delta that rebuilds it.
type target struct {
	ID      string // for logs and errors
	Track   string // the fetch-tracking key: the release ID
	RootCID string
	Size    int64
	SHA256  string
	Chunk   int
	Dir     string // under <data_dir>/releases
	Name    string
	// FileRefs: the leaves stay in the assembled file, the store keeps
	// references to them (a release's file is kept; a delta's is not).
	FileRefs bool
}

func releaseTarget(rel trust.Release) target {
	return target{ID: rel.ID(), Track: rel.ID(), RootCID: rel.RootCID, Size: rel.Size, SHA256: rel.SHA256, Chunk: rel.ChunkSize,
		Dir: rel.ID(), Name: rel.Product + "-" + rel.Version + ".bin", FileRefs: true}
}

// fetch gets every block of t's DAG that the store lacks, level by level,
// in the order content.PlanWants chooses; bitswap asks all connected peers
// and takes each block from whoever has it. Then it reassembles the file
// from the local store and checks size and SHA-256 against the manifest.
func (n *Node) fetch(ctx context.Context, t target, cancel context.CancelFunc) (fs FetchStats, file string, err error) {
	start := time.Now()
	if max := n.cfg.maxReleaseSize(); t.Size > max {
		return fs, "", fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, t.ID, t.Size, max)
	}
	root, err := cid.Decode(t.RootCID)
	if err != nil {
		return fs, "", fmt.Errorf("release %s: root CID: %w", t.ID, err)
	}
	if err := n.checkSpace(t); err != nil {
		return fs, "", err
	}
	var dup0, dupB0 uint64
	if s, err := n.bs.Stat(); err == nil {
		dup0, dupB0 = s.DupBlksReceived, s.DupDataReceived
	}
	swarmDup0 := n.SwarmStats().Duplicate
	// Bytes a DAG of this size can hold, with generous room for
	// intermediate nodes; more than this is an endless-data attack.
	limit := t.Size + t.Size/8 + 1<<20
	track := n.trackFetch(t.Track, cancel)
	defer func() { fs.Refetched = n.untrackFetch(t.Track, track) }()
	// Present blocks are read and re-hashed: a block that rotted on disk
	// is deleted and fetched again (resume after a crash, or a flipped
	// bit), never assembled.
	has := func(c cid.Cid) bool { return n.store.Blocks.Intact(ctx, c) }
	var pf *pieceFile // the file, written as the leaves arrive
	defer func() { pf.discard() }()
	viaInner := map[cid.Cid]bool{}
	if n.swarming() && root.Type() == cid.DagProtobuf && !has(root) {
		// The inner blocks by the swarm protocol, from whichever
		// neighbour knows them first; bitswap gets what is still missing.
		defer n.swarm.dropAsks(root) // those its swarm session did not take
		for _, b := range n.swarmInner(ctx, root, n.stallTimeout) {
			viaInner[b.Cid()] = true
			fs.BlocksFetched++
			fs.BytesFetched += int64(len(b.RawData()))
		}
	}
	var parents []cid.Cid
	level := []cid.Cid{root}
	for len(level) > 0 {
		fs.BlocksTotal += len(level)
		present := make(map[cid.Cid]bool, len(level))
		for _, c := range level { // outside n.mu: reading may find and report a corrupt block
			present[c] = has(c)
		}
		n.mu.Lock()
		want := content.PlanWants(level, func(c cid.Cid) bool { return present[c] }, n.rng)
		n.mu.Unlock()
		track.hold(level, want)
		fs.BlocksPresent += len(level) - len(want)
		for _, c := range content.UniqueCIDs(level) {
			if viaInner[c] {
				fs.BlocksPresent-- // fetched just now, counted above
			}
		}
		got := func(size int) error {
			fs.BlocksFetched++
			fs.BytesFetched += int64(size)
			if fs.BytesFetched > limit {
				return fmt.Errorf("%w: %s sent more than %d bytes", ErrTooLarge, t.ID, limit)
			}
			if fs.BlocksFetched%16 == 0 {
				n.progressUpdate(t.Track, fs)
			}
			return nil
		}
		if n.swarming() && len(want) > 0 && content.LeafLevel(level) {
			var sink pieceSink
			if pf = n.openPieceFile(ctx, t, parents, level); pf != nil {
				sink = pf.put
			}
			err = n.getPieces(ctx, root, level, want, t.Chunk, got, sink)
		} else {
			err = n.getBlocks(ctx, want, t.Chunk, got)
		}
		if err != nil {
			return fs, "", err
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
		parents, level = level, next
	}
	if s, err := n.bs.Stat(); err == nil {
		fs.DupBlocks, fs.DupBytes = s.DupBlksReceived-dup0, s.DupDataReceived-dupB0
	}
	fs.DupBytes += uint64(n.SwarmStats().Duplicate - swarmDup0)
	fs.BytesByPeer = n.bytesByPeer()
	n.swarm.fetched(ctx, root)
	file, err = n.assemble(ctx, t, root, pf)
	fs.DurationSeconds = time.Since(start).Seconds()
	return fs, file, err
}

// getPieces fetches the leaf level of root's DAG: by the swarm protocol
// from the neighbours that speak it, with bitswap rounds when that stalls
// (swarmFetch); by bitswap alone if another fetch of the same DAG already
// holds its swarm session. chunk is the release's leaf size (0 if not
// known), which sets how many pieces are asked for at once.
func (n *Node) getPieces(ctx context.Context, root cid.Cid, level, want []cid.Cid, chunk int, got func(size int) error, sink pieceSink) error {
	missing, err := n.swarmFetch(ctx, root, level, want, chunk, got, sink)
	if err != nil || len(missing) == 0 {
		return err
	}
	return n.getAll(ctx, missing, got)
}

// swarming reports whether fetches use the swarm protocol: on unless the
// config says bitswap, or a download cap is set (bitswap's batches pace it).
func (n *Node) swarming() bool {
	return n.swarm != nil && n.cfg.Transfer != TransferBitswap && n.downLim == nil
}

// releaseDir is where t's file is assembled.
func (n *Node) releaseDir(t target) string {
	return filepath.Join(n.cfg.Resolve(n.cfg.DataDir), "releases", t.Dir)
}

// pieceFile is the file a swarm fetch writes as pieces arrive
// (content.PieceFile); taken once assemble owns the file. When refs is set
// the file is also where the store keeps the leaves: each verified piece
// is written to the file only, and the store records where it lies
// (content.FileRef), so a leaf is not written twice.
type pieceFile struct {
	*content.PieceFile
	store *content.Store
	refs  bool
	taken bool
}

// openPieceFile starts the file for the leaf level of t's DAG, whose
// level above is parents; nil (and assemble reads the DAG back instead)
// if files are not kept or the layout is unusable. The file has one name
// per target, so a fetch cut short (a crash, a shutdown) resumes into the
// file whose pieces the store already references.
func (n *Node) openPieceFile(ctx context.Context, t target, parents, leaves []cid.Cid) *pieceFile {
	if n.discardFiles {
		return nil
	}
	dir, err := filepath.Abs(n.releaseDir(t))
	if err != nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil
	}
	// Temporary files of an assembly that was killed mid-way.
	if stale, _ := filepath.Glob(filepath.Join(dir, partialPrefix(t)+"*")); len(stale) > 0 {
		for _, p := range stale {
			os.Remove(p)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, partialName(t)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	p, err := content.NewPieceFile(ctx, n.store.Blocks, f, parents, leaves, t.Size)
	if err != nil {
		n.log.Warn("fetch: cannot lay out the file from the DAG; it will be assembled after the fetch", "release", t.ID, "err", err)
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	return &pieceFile{PieceFile: p, store: n.store, refs: t.FileRefs}
}

// partialPrefix names the temporary files assemble writes when it reads
// the DAG back.
func partialPrefix(t target) string { return ".partial-" + t.Name + "-" }

// partialName is the file a swarm fetch writes as pieces arrive.
func partialName(t target) string { return ".partial-" + t.Name }

// put writes verified block b, piece i, to the file and reports whether it
// is stored by reference there; if not, the caller stores it.
func (p *pieceFile) put(ctx context.Context, i int, b blocks.Block) bool {
	if err := p.Put(i, b.RawData()); err != nil || !p.refs {
		return false
	}
	return p.store.AddFileRef(ctx, b.Cid(), p.Ref(i)) == nil
}

// discard closes the file if assemble did not take it. It stays on disk
// when the store references pieces in it: the next fetch resumes there.
func (p *pieceFile) discard() {
	if p == nil || p.taken {
		return
	}
	p.taken = true
	p.File().Close()
	if !p.refs {
		os.Remove(p.File().Name())
	}
}

// linkFinal gives file (verified) the name final as a second link and
// points the store's references to pieces at it. If this fails the caller's
// rename still moves the file, and references left behind read as missing:
// those pieces are fetched again.
func (n *Node) linkFinal(ctx context.Context, file, final string, pieces []cid.Cid) error {
	abs, err := filepath.Abs(final)
	if err != nil {
		return err
	}
	next := abs + ".next"
	_ = os.Remove(next)
	if err := os.Link(file, next); err != nil {
		return fmt.Errorf("link file: %w", err)
	}
	if err := os.Rename(next, abs); err != nil {
		os.Remove(next)
		return fmt.Errorf("move file: %w", err)
	}
	return n.store.MoveFileRefs(ctx, pieces, file, abs)
}

// diskMargin is room kept free beyond a release's own needs, for the block
// store's tables and logs, the audit log and the state files.
const diskMargin = 32 << 20

// checkSpace refuses a fetch the data dir has no room for: the blocks and
// the assembled file each take the release's size. Writing on regardless
// would fail half-way at best and, for the block store's memory-mapped
// files, kill the process with SIGBUS at worst.
func (n *Node) checkSpace(t target) error {
	dir := n.cfg.Resolve(n.cfg.DataDir)
	free := freeBytes(dir)
	need := 2*t.Size + diskMargin
	if free >= 0 && free < need {
		return fmt.Errorf("%w in %s for %s: it needs about %d MiB, %d MiB free", ErrDiskFull, dir, t.ID, need>>20, free>>20)
	}
	return nil
}

// getBlocks fetches every CID in want, calling got for each block as it is
// stored. bitswap can stall: its server may answer DONT_HAVE for a block it
// receives a moment later and then never say HAVE, and a hostile peer may
// say HAVE and never send. So a round that brings no block for
// stallTimeout is cancelled (bitswap sends CANCELs) and the blocks still
// missing are asked for again in a fresh session, which broadcasts fresh
// want-haves to every connected peer.
func (n *Node) getBlocks(ctx context.Context, want []cid.Cid, chunk int, got func(size int) error) error {
	if n.downLim == nil {
		return n.getAll(ctx, want, got)
	}
	// Download cap: ask for about a second's worth of blocks at a time,
	// once the limiter allows their (estimated) bytes, with up to two
	// batches in flight so a batch's round trip does not eat the budget.
	var mu sync.Mutex
	locked := func(size int) error { mu.Lock(); defer mu.Unlock(); return got(size) }
	k := max(1, int(n.downLim.Limit())/max(chunk, 1))
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	slots := make(chan struct{}, 2)
	for i := 0; i < len(want); i += k {
		batch := want[i:min(i+k, len(want))]
		if err := content.WaitBytes(ctx, n.downLim, len(batch)*chunk); err != nil {
			wg.Wait()
			return err
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := n.getAll(ctx, batch, locked); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}()
		select {
		case err := <-errs:
			wg.Wait()
			return err
		default:
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return nil
}

// getAll gets every block in want, round after round.
func (n *Node) getAll(ctx context.Context, want []cid.Cid, got func(size int) error) error {
	rounds := 0
	for len(want) > 0 {
		rounds++
		missing, err := n.getRound(ctx, want, got)
		if err != nil {
			return err
		}
		if len(missing) == len(want) && rounds > 1 {
			n.log.Debug("fetch stalled again; retrying", "missing", len(missing), "round", rounds)
		}
		want = missing
	}
	return nil
}

// getRound runs one bitswap session over want until every block arrived or
// none arrived for stallTimeout, and returns the CIDs still missing. At
// most fetchWindow blocks are asked for at a time, the next as soon as one
// arrives: a device that asks for a whole release at once queues its
// wants at every neighbour that has the blocks, the queues grow long,
// bitswap's DONT_HAVE timeouts fire, and the same block is asked of (and
// sent by) several peers.
func (n *Node) getRound(ctx context.Context, want []cid.Cid, got func(size int) error) ([]cid.Cid, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pending := make(map[cid.Cid]struct{}, len(want))
	for _, c := range want {
		pending[c] = struct{}{}
	}
	n.bitswapRounds.Add(1) // see notifyBitswap
	defer n.bitswapRounds.Add(-1)
	sess := blockservice.NewSession(rctx, n.bserv)
	type result struct {
		b   blocks.Block
		err error
	}
	arrived := make(chan result)
	next, inflight := 0, 0
	ask := func() {
		for ; inflight < n.fetchWindow && next < len(want); next++ {
			inflight++
			go func(c cid.Cid) {
				b, err := sess.GetBlock(rctx, c)
				select {
				case arrived <- result{b, err}:
				case <-rctx.Done():
				}
			}(want[next])
		}
	}
	ask()
	stall := time.NewTimer(n.stallTimeout)
	defer stall.Stop()
	for len(pending) > 0 {
		select {
		case r := <-arrived:
			inflight--
			ask()
			if r.err != nil {
				continue // still pending: asked for again next round
			}
			b := r.b
			if _, ok := pending[b.Cid()]; !ok {
				continue
			}
			delete(pending, b.Cid())
			if err := got(len(b.RawData())); err != nil {
				return nil, err
			}
			stall.Reset(n.stallTimeout)
		case <-stall.C:
			return remaining(want, pending), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

func remaining(want []cid.Cid, pending map[cid.Cid]struct{}) []cid.Cid {
	out := make([]cid.Cid, 0, len(pending))
	for _, c := range want {
		if _, ok := pending[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// progressWriteInterval: a fetch's progress reaches status.json at most
// this often (Status has it at once). Each write ends in an fsync, which
// on ext4 waits for the data the fetch has written meanwhile, so it runs
// on its own goroutine, one at a time: in the swarm session's loop it
// stalled the requests of a fast link (every 16 pieces, at first, wrote
// status.json 64 times in a 256 MiB fetch).
const progressWriteInterval = 250 * time.Millisecond

func (n *Node) progressUpdate(id string, fs FetchStats) {
	n.mu.Lock()
	if st := n.progress[id]; st != nil {
		st.Fetch = fs
	}
	now := time.Now()
	write := now.Sub(n.progressWritten) >= progressWriteInterval
	if write {
		n.progressWritten = now
	}
	n.mu.Unlock()
	if write && n.statusAsync.CompareAndSwap(false, true) {
		n.goFn(func() {
			defer n.statusAsync.Store(false)
			n.writeStatus()
		})
	}
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
	if n.swarm != nil {
		n.swarm.mu.Lock()
		for p, b := range n.swarm.recvBy {
			out[p.String()] += b
		}
		n.swarm.mu.Unlock()
	}
	return out
}

// assemble writes the release file from the local store into
// <data>/releases/<id>/ and checks it against the manifest. Nothing
// unverified ever has the final name.
func (n *Node) assemble(ctx context.Context, t target, root cid.Cid, pf *pieceFile) (string, error) {
	if n.discardFiles {
		size, sum, err := content.Assemble(ctx, n.store.Blocks, root, io.Discard)
		if err != nil {
			return "", err
		}
		if size != t.Size || sum != t.SHA256 {
			return "", fmt.Errorf("%w: %s: got %d bytes sha256 %s", ErrMismatch, t.ID, size, sum)
		}
		return "", nil
	}
	dir := n.releaseDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create release dir: %w", err)
	}
	final := filepath.Join(dir, t.Name)
	var tmp *os.File
	var size int64
	var sum string
	var err error
	if pf != nil {
		// Written as the pieces arrived: fill in the rest, read it back.
		tmp, pf.taken = pf.File(), true
		size, sum, err = pf.Finish(ctx, n.store.Blocks)
		if errors.Is(err, content.ErrLayout) {
			n.log.Warn("assemble: the file written during the fetch is unusable; reading the DAG again", "release", t.ID, "err", err)
			tmp.Close()
			os.Remove(tmp.Name())
			tmp = nil
		}
	}
	if tmp == nil {
		if tmp, err = os.CreateTemp(dir, partialPrefix(t)+"*"); err != nil {
			return "", fmt.Errorf("create file: %w", err)
		}
		size, sum, err = content.Assemble(ctx, n.store.Blocks, root, tmp)
	}
	defer os.Remove(tmp.Name())
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
	if size != t.Size || sum != t.SHA256 {
		return "", fmt.Errorf("%w: %s: got %d bytes sha256 %s, want %d bytes sha256 %s", ErrMismatch, t.ID, size, sum[:min(16, len(sum))], t.Size, t.SHA256[:16])
	}
	if pf != nil && pf.refs && tmp == pf.File() {
		// The store's references into the file follow it to its final
		// name. The file gets that name while it keeps the old one (a
		// second link), so every reference resolves throughout: a
		// neighbour may be fetching pieces from it right now. The old
		// name goes when assemble returns.
		if err := n.linkFinal(ctx, tmp.Name(), final, pf.Pieces()); err != nil {
			n.log.Warn("assemble: the store's references to the file's pieces were not updated", "release", t.ID, "err", err)
		}
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("move verified file: %w", err)
	}
	crashpoint.Hit(crashpoint.FileAssembled)
	return final, nil
}
