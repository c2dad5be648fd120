package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Keys of the node's records in the store (blocks live under /blocks).
var (
	prefixDocs      = ds.NewKey("/tocsin/docs")
	prefixProgress  = ds.NewKey("/tocsin/progress")
	prefixInstalled = ds.NewKey("/tocsin/installed")
	keyTrust        = ds.NewKey("/tocsin/trust")
)

// releaseState is one release's progress on this device, persisted as JSON.
type releaseState struct {
	policy.Progress
	ReleaseID   string    `json:"release_id"`
	File        string    `json:"file,omitempty"`
	Error       string    `json:"error,omitempty"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	FetchedAt   time.Time `json:"fetched_at,omitzero"`
	InstalledAt time.Time `json:"installed_at,omitzero"`
	// Interrupted is set when the node restarts and finds the installer
	// was running: it may or may not have taken effect (see runInstall).
	Interrupted bool       `json:"interrupted,omitempty"`
	Fetch       FetchStats `json:"fetch"`
	// Lifecycle is the IEC 62443-2-3 asset-owner lifecycle of the release
	// on this device, with every transition.
	Lifecycle policy.Lifecycle `json:"lifecycle,omitzero"`
	// Auth is the authorisation in force and why; AuthAt the time of the
	// authorisation last applied (a failed install waits for a newer one).
	Auth     string    `json:"authorisation,omitempty"`
	AuthAt   time.Time `json:"authorised_at,omitzero"`
	SIA      string    `json:"sia,omitempty"`
	Wave     int       `json:"wave"`
	Gate     string    `json:"gate,omitempty"` // why installation waits
	Deadline time.Time `json:"deadline,omitzero"`
}

// FetchStats describe the last fetch of a release by this process.
type FetchStats struct {
	BlocksTotal   int    `json:"blocks_total"`
	BlocksPresent int    `json:"blocks_present_at_start"`
	BlocksFetched int    `json:"blocks_fetched"`
	BytesFetched  int64  `json:"bytes_fetched"`
	DupBlocks     uint64 `json:"dup_blocks"`
	DupBytes      uint64 `json:"dup_bytes"`
	// Refetched counts blocks received that the store already held when
	// this fetch began (0 on a correct resume).
	Refetched       int              `json:"refetched_blocks"`
	BytesByPeer     map[string]int64 `json:"bytes_by_peer,omitempty"`
	DurationSeconds float64          `json:"duration_seconds"`
	// Delta is true when the release was rebuilt from a delta (then
	// BytesFetched counts the delta's blocks). DeltaBytes and DeltaError
	// describe a delta that was tried and failed before the whole release
	// was fetched.
	Delta      bool   `json:"delta,omitempty"`
	DeltaBytes int64  `json:"delta_bytes,omitempty"`
	DeltaError string `json:"delta_error,omitempty"`
}

// saveProgress persists a release's state durably. Called with n.mu held.
func (n *Node) saveProgress(ctx context.Context, st *releaseState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode progress: %w", err)
	}
	k := prefixProgress.ChildString(st.ReleaseID)
	if err := n.store.DS.Put(ctx, k, b); err != nil {
		return fmt.Errorf("store progress %s: %w", st.ReleaseID, err)
	}
	if err := n.store.Sync(ctx, k); err != nil {
		return err
	}
	crashpoint.Hit(crashpoint.ProgressSaved)
	return nil
}

func (n *Node) saveInstalled(ctx context.Context, product, version string) error {
	k := prefixInstalled.ChildString(product)
	if err := n.store.DS.Put(ctx, k, []byte(version)); err != nil {
		return fmt.Errorf("record installed %s %s: %w", product, version, err)
	}
	return n.store.Sync(ctx, k)
}

// loadState reads the records a previous run left. The stored trusted
// state wins over the config's root unless the config holds a newer root
// (the operator re-enrolled the device). Documents are verified again
// against the resulting root, and the marks are raised to every document
// held, so a lost state record can never open a rollback.
func (n *Node) loadState(ctx context.Context) error {
	switch b, err := n.store.DS.Get(ctx, keyTrust); {
	case errors.Is(err, ds.ErrNotFound):
	case err != nil:
		return fmt.Errorf("read trusted state: %w", err)
	default:
		var st trust.State
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("trusted state record is corrupt: %w", err)
		}
		if err := st.Restore(); err != nil {
			return err
		}
		if st.Root.Version >= n.trust.Root.Version {
			n.trust = &st
		} else {
			n.log.Warn("config trust_root is newer than the stored root; using it", "stored", st.Root.Version, "config", n.trust.Root.Version)
			n.trust.Marks, n.trust.Heartbeat = st.Marks, st.Heartbeat
		}
	}
	res, err := n.store.DS.Query(ctx, query.Query{Prefix: prefixDocs.String()})
	if err != nil {
		return fmt.Errorf("read documents: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return fmt.Errorf("read documents: %w", err)
	}
	for _, e := range entries {
		doc, err := trust.Open(e.Value, n.trust.Root, csaf.Advisory)
		if err != nil {
			n.log.Warn("ignoring stored document that no longer verifies", "key", e.Key, "err", err)
			continue
		}
		if doc.Root == nil {
			if m := n.trust.Marks[doc.Slot()]; doc.Seq() > m.Seq {
				n.trust.Apply(doc)
			}
		}
		n.hold(doc)
	}
	sort.Strings(n.order)

	res, err = n.store.DS.Query(ctx, query.Query{Prefix: prefixProgress.String()})
	if err != nil {
		return fmt.Errorf("read progress: %w", err)
	}
	entries, err = res.Rest()
	if err != nil {
		return fmt.Errorf("read progress: %w", err)
	}
	for _, e := range entries {
		var st releaseState
		if err := json.Unmarshal(e.Value, &st); err != nil {
			return fmt.Errorf("progress record %s is corrupt: %w", e.Key, err)
		}
		_, recalled := n.docs["recall/"+st.ReleaseID]
		switch {
		case st.Phase == policy.PhaseFetching: // interrupted: resume from stored blocks
			st.Phase = policy.PhaseNone
		case st.Phase == policy.PhaseInstalling && recalled && st.InstalledAt.IsZero():
			st.Phase = policy.PhaseFetched // an install interrupted by the recall: never finished
		case st.Phase == policy.PhaseInstalling && recalled: // interrupted rollback: it runs again
			st.Phase = policy.PhaseInstalled
		case st.Phase == policy.PhaseInstalling: // interrupted: see runInstall
			st.Phase, st.Interrupted = policy.PhaseFetched, true
		}
		if st.Fetched {
			if _, err := os.Stat(st.File); err != nil {
				st.Fetched, st.File = false, ""
				if st.Phase == policy.PhaseFetched {
					st.Phase = policy.PhaseNone
				}
			}
		}
		st.Recalled = recalled
		n.progress[st.ReleaseID] = &st
	}

	res, err = n.store.DS.Query(ctx, query.Query{Prefix: prefixInstalled.String()})
	if err != nil {
		return fmt.Errorf("read installed: %w", err)
	}
	entries, err = res.Rest()
	if err != nil {
		return fmt.Errorf("read installed: %w", err)
	}
	for _, e := range entries {
		n.installed[ds.RawKey(e.Key).BaseNamespace()] = string(e.Value)
	}
	return nil
}

// device is what the device runs now: the config's products, overridden by
// what Tocsin has installed since. Called with n.mu held.
func (n *Node) device() policy.Device {
	d := policy.Device{Products: map[string]string{}, Hardware: n.cfg.Hardware}
	for _, p := range n.cfg.Products {
		d.Products[p.ID] = p.Version
	}
	for prod, v := range n.installed {
		if cur, ok := d.Products[prod]; ok && policy.CompareVersions(v, cur) > 0 {
			d.Products[prod] = v
		}
	}
	return d
}

// Status is the node's externally visible state, written to
// <data_dir>/status.json on every change.
type Status struct {
	PeerID    string                   `json:"peer_id"`
	Role      Role                     `json:"role"`
	Addrs     []string                 `json:"addrs"`
	Peers     int                      `json:"peers"`
	Products  map[string]string        `json:"products"`
	Documents []string                 `json:"documents"`
	Releases  map[string]*releaseState `json:"releases"`
	Counters  Counters                 `json:"counters"`
	Trust     TrustStatus              `json:"trust"`
	Group     string                   `json:"group,omitempty"`
	// Fleet is the fleet view from every device's status report, by
	// release.
	Fleet     map[string]*FleetRelease `json:"fleet,omitempty"`
	Bitswap   BitswapStats             `json:"bitswap"`
	Swarm     SwarmStats               `json:"swarm"`
	UpdatedAt time.Time                `json:"updated_at"`
}

// TrustStatus is what the device can say about its trusted state.
type TrustStatus struct {
	RootVersion int64           `json:"root_version"`
	RootExpires time.Time       `json:"root_expires"`
	Freshness   trust.Freshness `json:"freshness"`
	Heartbeat   uint64          `json:"heartbeat_seq,omitempty"`
	Recalled    []string        `json:"recalled,omitempty"`
}

// BitswapStats are the node's bitswap totals since start.
type BitswapStats struct {
	BlocksSent     uint64 `json:"blocks_sent"`
	DataSent       uint64 `json:"data_sent"`
	BlocksReceived uint64 `json:"blocks_received"`
	DataReceived   uint64 `json:"data_received"`
	DupBlocks      uint64 `json:"dup_blocks"`
	DupData        uint64 `json:"dup_data"`
}

// Status returns a snapshot of the node's state.
func (n *Node) Status() Status {
	var bst BitswapStats
	if n.bs != nil {
		if s, err := n.bs.Stat(); err == nil {
			bst = BitswapStats{s.BlocksSent, s.DataSent, s.BlocksReceived, s.DataReceived, s.DupBlksReceived, s.DupDataReceived}
		}
	}
	sw := n.SwarmStats() // before n.mu: it takes the swarm's lock
	n.mu.Lock()
	defer n.mu.Unlock()
	st := Status{Role: n.cfg.Role, Products: n.device().Products, Releases: map[string]*releaseState{},
		Counters: n.counters, Bitswap: bst, Swarm: sw, UpdatedAt: n.now().UTC(), Documents: append([]string(nil), n.order...)}
	if n.host != nil {
		st.PeerID = n.host.ID().String()
		st.Addrs = n.Addrs()
		st.Peers = len(n.host.Network().Peers())
	}
	for id, r := range n.progress {
		c := *r
		st.Releases[id] = &c
	}
	st.Trust = n.trustStatus()
	st.Group = n.cfg.Group
	st.Fleet = n.fleetView(n.now())
	return st
}

// trustStatus is called with n.mu held.
func (n *Node) trustStatus() TrustStatus {
	ts := TrustStatus{RootVersion: n.trust.Root.Version, RootExpires: n.trust.Root.Expires, Freshness: n.trust.Freshness(n.now())}
	if n.trust.Heartbeat != nil {
		ts.Heartbeat = n.trust.Heartbeat.Seq
	}
	for _, d := range n.docs {
		if d.Recall != nil {
			ts.Recalled = append(ts.Recalled, d.Recall.ReleaseID())
		}
	}
	sort.Strings(ts.Recalled)
	return ts
}

// TrustState returns a copy of the node's trusted state.
func (n *Node) TrustState() *trust.State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.trust.Clone()
}

// writeStatus writes status.json atomically (temp file, rename).
func (n *Node) writeStatus() {
	if n.store == nil {
		return
	}
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	b, err := json.MarshalIndent(n.Status(), "", "  ")
	if err != nil {
		return
	}
	if err := fsutil.WriteAtomic(n.statusPath, b, 0o644); err != nil {
		n.log.Warn("write status", "err", err)
	}
}

// ReadStatus reads a node's status.json from its data dir.
func ReadStatus(dataDir string) (Status, error) {
	var st Status
	b, err := os.ReadFile(filepath.Join(dataDir, "status.json"))
	if err != nil {
		return st, fmt.Errorf("read status: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("parse status: %w", err)
	}
	return st, nil
}

// Fetched reports whether release id has been fetched and verified on this
// node, and when (by the node's clock). Cheaper than Status for callers
// that watch many nodes, such as the simulator.
func (n *Node) Fetched(id string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.progress[id]
	if st == nil || !st.Fetched {
		return time.Time{}, false
	}
	return st.FetchedAt, true
}

// BitswapStats returns the node's bitswap counters alone.
func (n *Node) BitswapStats() BitswapStats {
	if n.bs == nil {
		return BitswapStats{}
	}
	s, err := n.bs.Stat()
	if err != nil {
		return BitswapStats{}
	}
	return BitswapStats{s.BlocksSent, s.DataSent, s.BlocksReceived, s.DataReceived, s.DupBlksReceived, s.DupDataReceived}
}
