package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/overlay"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Report is a device's status report, gossiped on overlay.TopicStatus and
// signed by the device's peer key: what it runs and where each release
// stands on it. Every node keeps the newest report of every device; the
// fleet view and the rollout's wave statistics are computed from them.
type Report struct {
	Device   string                   `json:"device"` // peer ID; must be the message's author
	Group    string                   `json:"group,omitempty"`
	Seq      uint64                   `json:"seq"` // increases with every report
	Time     time.Time                `json:"time"`
	Products map[string]string        `json:"products"`
	Releases map[string]ReleaseReport `json:"releases"`
}

// ReleaseReport is one release on one device.
type ReleaseReport struct {
	State    policy.State `json:"state"` // IEC 62443-2-3 lifecycle state
	Wave     int          `json:"wave"`
	Deadline time.Time    `json:"deadline,omitzero"`
	Error    string       `json:"error,omitempty"`
}

// MaxReportSize caps one status report.
const MaxReportSize = 64 << 10

// reportInterval: a device re-sends its report this often even when nothing
// changed, so late joiners learn the fleet.
const reportInterval = 30 * time.Second

func (n *Node) joinStatus() error {
	t, sub, err := n.gossip.JoinTopic(overlay.TopicStatus, n.validateReport)
	if err != nil {
		return err
	}
	n.statusTopic = t
	n.goFn(func() {
		for {
			m, err := sub.Next(n.ctx)
			if err != nil {
				return
			}
			if r, ok := m.ValidatorData.(Report); ok {
				n.mu.Lock()
				n.fleet[r.Device] = r
				n.mu.Unlock()
				n.wake() // wave statistics may have changed
			}
		}
	})
	return nil
}

// validateReport accepts a report only from its own device, well-formed,
// and newer than the last one held; older ones are ignored (not forwarded).
func (n *Node) validateReport(_ context.Context, author peer.ID, data []byte) (pubsub.ValidationResult, any) {
	if len(data) > MaxReportSize {
		return pubsub.ValidationReject, nil
	}
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || r.Device != author.String() || len(r.Releases) > 1024 || len(r.Products) > 256 {
		return pubsub.ValidationReject, nil
	}
	if author == n.host.ID() {
		return pubsub.ValidationAccept, r
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.fleet[r.Device]; ok && old.Seq >= r.Seq {
		return pubsub.ValidationIgnore, nil
	}
	return pubsub.ValidationAccept, r
}

// reportLoop publishes this device's report when it changed, and every
// reportInterval.
func (n *Node) reportLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last []byte
	var sent time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		r := n.report()
		body, _ := json.Marshal(struct {
			P map[string]string
			R map[string]ReleaseReport
		}{r.Products, r.Releases})
		if bytes.Equal(body, last) && time.Since(sent) < reportInterval {
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			continue
		}
		if err := n.statusTopic.Publish(n.ctx, b); err != nil {
			if n.ctx.Err() == nil {
				n.log.Debug("publish status report", "err", err)
			}
			continue
		}
		last, sent = body, time.Now()
	}
}

// report builds this device's current report.
func (n *Node) report() Report {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now().UTC()
	seq := uint64(now.UnixNano())
	if seq <= n.reportSeq {
		seq = n.reportSeq + 1
	}
	n.reportSeq = seq
	r := Report{Device: n.host.ID().String(), Group: n.cfg.Group, Seq: seq, Time: now,
		Products: n.device().Products, Releases: map[string]ReleaseReport{}}
	for id, st := range n.progress {
		if st.Lifecycle.State == 0 {
			continue
		}
		r.Releases[id] = ReleaseReport{State: st.Lifecycle.State, Wave: st.Wave, Deadline: st.Deadline, Error: st.Error}
	}
	n.fleet[r.Device] = r
	return r
}

// waveStats counts, per wave, the devices that finished an installation
// attempt of release id and how many failed, from every report held.
// Called with n.mu held.
func (n *Node) waveStats(id string) []policy.WaveStats {
	var out []policy.WaveStats
	for _, r := range n.fleet {
		rr, ok := r.Releases[id]
		if !ok {
			continue
		}
		for len(out) <= rr.Wave {
			out = append(out, policy.WaveStats{})
		}
		switch rr.State {
		case policy.StateInstalled:
			out[rr.Wave].Attempted++
		case policy.StateInstallFailed, policy.StateRolledBack:
			out[rr.Wave].Attempted++
			out[rr.Wave].Failed++
		}
	}
	return out
}

// FleetRelease is the fleet view of one release: devices per lifecycle
// state, per wave, and those past the delivery deadline without it.
type FleetRelease struct {
	States  map[string]int `json:"states"`
	Waves   map[int]int    `json:"waves"`
	Overdue []string       `json:"overdue,omitempty"`
}

// fleetView is called with n.mu held.
func (n *Node) fleetView(now time.Time) map[string]*FleetRelease {
	out := map[string]*FleetRelease{}
	devs := make([]string, 0, len(n.fleet))
	for d := range n.fleet {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		for id, rr := range n.fleet[d].Releases {
			fr := out[id]
			if fr == nil {
				fr = &FleetRelease{States: map[string]int{}, Waves: map[int]int{}}
				out[id] = fr
			}
			fr.States[rr.State.String()]++
			fr.Waves[rr.Wave]++
			if !rr.Deadline.IsZero() && now.After(rr.Deadline) && rr.State != policy.StateInstalled {
				fr.Overdue = append(fr.Overdue, fmt.Sprintf("%s (%s, due %s)", d, rr.State, rr.Deadline.Format(time.DateOnly)))
			}
		}
	}
	return out
}
