package model

import (
	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// result turns the finished run into the engine-independent Result.
func (e *engine) result() (*scenario.Result, error) {
	g := e.g
	r := &scenario.Result{Engine: "model", Nodes: g.Devices}
	var adv, patch []float64
	for n := range e.n {
		if !g.HonestDevice(n) {
			continue
		}
		r.HonestDevices++
		a := -1.0
		if e.st[n].seen&1 != 0 && e.advAt[n] <= e.horizon {
			a = e.advAt[n]
		}
		adv = append(adv, a)
		if e.k > 0 {
			p := -1.0
			if e.st[n].flags&fDone != 0 && e.patchAt[n] <= e.horizon {
				p = e.patchAt[n]
			}
			patch = append(patch, p)
		}
	}
	r.VirtualSeconds = scenario.Round(e.end)
	d := &r.Advisory
	d.DeliveredFraction, d.P50S, d.P99S, d.MaxS, d.CDF = scenario.Summarise(adv, r.HonestDevices)
	if e.k > 0 {
		p := &scenario.PatchResult{}
		p.CompletedFraction, p.P50S, p.P99S, p.MaxS, p.CDF = scenario.Summarise(patch, r.HonestDevices)
		p.SeedEgressRatio = scenario.Round(float64(e.seedSent) / float64(e.file))
		if all := e.seedRecv + e.peerRecv + e.dupRecv + e.rejRecv; all > 0 {
			p.DuplicateRatio = scenario.Round(float64(e.dupRecv) / float64(all))
		}
		if e.sw != nil {
			w := e.swWaits
			for n, sch := range e.sw {
				if sch != nil && g.HonestDevice(n) {
					w = w.Add(sch.Waits())
				}
			}
			p.Waits = scenario.NewWaitShares(w.Full, w.Starved, w.Blocked)
		}
		r.Patch = p
	}
	r.Attacks = scenario.Attacks{ForgedSent: e.forgedSent, BadBlocksServed: e.badServed}
	r.Upload = e.series.finish(max(e.end, e.series.b0))
	r.BytesBySource = map[string]int64{"seed": e.seedRecv, "peer": e.peerRecv, "duplicate": e.dupRecv, "rejected": e.rejRecv}
	if err := r.Finish(e.s, g); err != nil {
		return nil, err
	}
	return r, nil
}
