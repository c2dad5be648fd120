package node

import (
	"context"
	"sort"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// evalLoop asks policy what to do whenever something changes, and once a
// second for retries.
func (n *Node) evalLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		n.checkFreshness()
		n.evaluate()
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		case <-t.C:
		}
	}
}

// syncLoop pulls from every neighbour every SyncInterval: catch-up on
// connect misses documents published while a new connection was still
// joining the gossip mesh.
func (n *Node) syncLoop() {
	t := time.NewTicker(n.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.sync.PullAll()
		}
	}
}

// checkFreshness reports a change of the trusted state's freshness (a
// heartbeat expiring is a change nothing else announces).
func (n *Node) checkFreshness() {
	n.mu.Lock()
	f := n.trust.Freshness(n.now())
	changed := f.State != n.lastFresh
	n.lastFresh = f.State
	n.mu.Unlock()
	if !changed {
		return
	}
	if f.State == trust.Behind && n.sync != nil {
		go n.sync.PullAll() // the heartbeat names documents we lack: ask the neighbours
	}
	if f.State == trust.Fresh {
		n.log.Info("trusted state", "freshness", f.State, "detail", f.Detail)
	} else if n.cfg.Role != RoleSeed {
		n.log.Warn("trusted state", "freshness", f.State, "detail", f.Detail)
	}
	n.writeStatus()
}

// evaluate runs policy.Next for every release an applicable advisory points
// at, and starts the fetch or install it asks for.
func (n *Node) evaluate() {
	if n.cfg.Role == RoleSeed {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	dev := n.device()
	keys := make([]string, 0, len(n.docs))
	for k, d := range n.docs {
		if d.Advisory != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	// Recalled releases the device has progress for are decided apart from
	// advisories: once installed, the advisory no longer applies, but the
	// rollback still must run.
	ids := make([]string, 0, len(n.progress))
	for id := range n.progress {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st := n.progress[id]
		relDoc, ok := n.docs["release/"+id]
		if _, recalled := n.docs["recall/"+id]; !recalled || !ok {
			continue
		}
		st.Recalled = true
		if st.Lifecycle.State != 0 && st.Lifecycle.State != policy.StateRecalled {
			rc := n.docs["recall/"+id].Recall
			n.transition(st, policy.EvRecall, n.now().UTC(), "supplier", rc.Reason)
			if err := n.saveProgress(n.ctx, st); err != nil {
				n.log.Error("persist progress", "err", err)
			}
		}
		n.act(relDoc.Release, st, policy.OnRecall(id, st.Progress, n.retry, n.now()), dev)
	}
	n.cacheForConduit()
	n.completeInterrupted(dev)
	for _, k := range keys {
		adv := *n.docs[k].Advisory
		if !policy.Applies(dev, adv) {
			continue
		}
		relDoc, ok := n.docs["release/"+adv.ReleaseID]
		if !ok {
			continue // the manifest has not arrived yet
		}
		rel := *relDoc.Release
		st := n.progress[rel.ID()]
		if st == nil {
			st = &releaseState{ReleaseID: rel.ID()}
			n.progress[rel.ID()] = st
		}
		if _, ok := n.docs["recall/"+rel.ID()]; ok {
			st.Recalled = true
			continue // decided above once there is progress to act on
		}
		before := len(st.Lifecycle.History)
		n.lifecycleStep(st, adv, rel)
		if len(st.Lifecycle.History) != before {
			if err := n.saveProgress(n.ctx, st); err != nil {
				n.log.Error("persist progress", "err", err)
			}
		}
		d := policy.Next(dev, adv, rel, st.Progress, n.retry, n.now())
		if d.Action == policy.Install {
			ok, why := n.installGate(st, adv)
			if !ok {
				d = policy.Decision{Action: policy.Wait, Reason: why}
			}
			if st.Gate != why {
				st.Gate = why
				if err := n.saveProgress(n.ctx, st); err != nil {
					n.log.Error("persist progress", "err", err)
				}
			}
		}
		n.act(&rel, st, d, dev)
	}
}

// cacheForConduit makes a gateway (a conduit in the roster) fetch every
// release it learns of, whether or not it runs the product, so it can serve
// the blocks to the zones it joins; it never installs them. Called with n.mu
// held.
func (n *Node) cacheForConduit() {
	if m, ok := n.rosterLocked().Member(n.host.ID().String()); !ok || m.Role != trust.MemberGateway {
		return
	}
	for _, d := range n.docs {
		rel := d.Release
		if rel == nil {
			continue
		}
		if _, recalled := n.docs["recall/"+rel.ID()]; recalled {
			continue
		}
		st := n.progress[rel.ID()]
		if st == nil {
			st = &releaseState{ReleaseID: rel.ID()}
			n.progress[rel.ID()] = st
		}
		if st.Fetched || st.Phase == policy.PhaseFetching {
			continue
		}
		if st.Phase == policy.PhaseFailed && n.now().Before(st.LastFailure.Add(n.retry.Backoff(st.Attempts))) {
			continue
		}
		n.act(rel, st, policy.Decision{Action: policy.Fetch, Reason: "gateway caches releases for the zones it joins"}, n.device())
	}
}

// act starts what a decision asks for. Called with n.mu held.
func (n *Node) act(relp *trust.Release, st *releaseState, d policy.Decision, dev policy.Device) {
	rel := *relp
	if d.Err != nil && st.Error != d.Err.Error() && st.Phase == policy.PhaseNone {
		n.log.Warn("release refused", "release", rel.ID(), "err", d.Err)
		st.Error = d.Err.Error()
		if err := n.saveProgress(n.ctx, st); err != nil {
			n.log.Error("persist progress", "err", err)
		}
	}
	switch d.Action {
	case policy.Fetch:
		n.log.Info("fetching release", "release", rel.ID(), "reason", d.Reason)
		st.Phase, st.StartedAt, st.Error = policy.PhaseFetching, n.now().UTC(), ""
		if err := n.saveProgress(n.ctx, st); err != nil {
			n.log.Error("persist progress", "err", err)
			return
		}
		n.goFn(func() { n.runFetch(rel) })
	case policy.Install:
		n.log.Info("installing release", "release", rel.ID())
		if err := n.auditEvent(n.now(), "node", audit.EventInstallStarted, rel.ID(), map[string]string{audit.DetailVersion: rel.Version}); err != nil {
			n.log.Error("audit log append failed; install postponed", "release", rel.ID(), "err", err)
			return
		}
		resumed := st.Interrupted
		if !resumed {
			st.Previous = dev.Products[rel.Product]
		}
		st.Phase, st.Error = policy.PhaseInstalling, ""
		if err := n.saveProgress(n.ctx, st); err != nil {
			n.log.Error("persist progress", "err", err)
			return
		}
		file, prev := st.File, st.Previous
		n.goFn(func() { n.runInstall(rel, file, prev, resumed) })
	case policy.Rollback:
		n.log.Warn("release recalled after install; rolling back", "release", rel.ID(), "to", st.Previous)
		st.Phase, st.Error = policy.PhaseInstalling, ""
		if err := n.saveProgress(n.ctx, st); err != nil {
			n.log.Error("persist progress", "err", err)
			return
		}
		prev := st.Previous
		n.goFn(func() { n.runRollback(rel, prev) })
	}
}

// finish records the outcome of a fetch or install and wakes the loop.
func (n *Node) finish(rel trust.Release, step string, err error, update func(*releaseState)) {
	n.mu.Lock()
	st := n.progress[rel.ID()]
	if err != nil {
		st.Phase, st.Attempts, st.LastFailure, st.FailedStep, st.Error = policy.PhaseFailed, st.Attempts+1, n.now().UTC(), step, err.Error()
		n.log.Warn(step+" failed", "release", rel.ID(), "attempt", st.Attempts, "err", err)
	} else {
		st.Attempts, st.FailedStep = 0, ""
	}
	if update != nil {
		update(st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if perr := n.saveProgress(ctx, st); perr != nil {
		n.log.Error("persist progress", "err", perr)
	}
	cancel()
	n.mu.Unlock()
	n.writeStatus()
	n.wake()
}

// completeInterrupted records the installs a kill interrupted after the
// installed version was saved but before the outcome was: the device runs
// the release, so the install is done and must not be repeated (and the
// advisory no longer applies, so nothing else would finish the record).
// Called with n.mu held.
func (n *Node) completeInterrupted(dev policy.Device) {
	for id, st := range n.progress {
		if !st.Interrupted || st.Phase != policy.PhaseFetched {
			continue
		}
		relDoc, ok := n.docs["release/"+id]
		if !ok || relDoc.Release == nil || dev.Products[relDoc.Release.Product] != relDoc.Release.Version {
			continue
		}
		now := n.now().UTC()
		st.Interrupted, st.Phase, st.InstalledAt = false, policy.PhaseInstalled, now
		n.transition(st, policy.EvInstallOK, now, "device", relDoc.Release.SHA256)
		if err := n.saveProgress(n.ctx, st); err != nil {
			n.log.Error("persist progress", "err", err)
		}
		n.log.Info("release installed (its record completed after a restart)", "release", id)
		n.goFn(n.writeStatus) // it takes n.mu, held here
	}
}
