package node

import (
	"context"
	"sort"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// evalLoop asks policy what to do whenever something changes, and once a
// second for retries.
func (n *Node) evalLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		n.evaluate()
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		case <-t.C:
		}
	}
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
		d := policy.Next(dev, adv, rel, st.Progress, n.retry, n.now())
		switch d.Action {
		case policy.Fetch:
			n.log.Info("fetching release", "release", rel.ID(), "reason", d.Reason)
			st.Phase, st.StartedAt, st.Error = policy.PhaseFetching, n.now().UTC(), ""
			if err := n.saveProgress(n.ctx, st); err != nil {
				n.log.Error("persist progress", "err", err)
				continue
			}
			n.goFn(func() { n.runFetch(rel) })
		case policy.Install:
			n.log.Info("installing release", "release", rel.ID())
			st.Phase, st.Error = policy.PhaseInstalling, ""
			if err := n.saveProgress(n.ctx, st); err != nil {
				n.log.Error("persist progress", "err", err)
				continue
			}
			file := st.File
			n.goFn(func() { n.runInstall(rel, file) })
		}
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
