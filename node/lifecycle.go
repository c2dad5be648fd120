package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// This file carries out the asset owner's side of the IEC 62443-2-3 patch
// lifecycle on the device. The decisions are policy's (Authorise,
// InstallGate, Transition); the node applies their events, records every
// transition, and gates the installer.

// transition applies a lifecycle event to st and records it (log, audit
// log). An event the lifecycle does not allow from the current state is
// refused and logged; st is unchanged. Called with n.mu held.
func (n *Node) transition(st *releaseState, ev policy.Event, at time.Time, actor, ref string) bool {
	if last := len(st.Lifecycle.History); last > 0 && at.Before(st.Lifecycle.History[last-1].At) {
		at = st.Lifecycle.History[last-1].At
	}
	next, err := st.Lifecycle.Apply(ev, at, actor, ref)
	if err != nil {
		n.log.Warn("lifecycle transition refused", "release", st.ReleaseID, "event", ev, "err", err)
		return false
	}
	from := st.Lifecycle.State
	// The audit record is written first: a transition that cannot be
	// recorded does not happen (it is tried again on the next evaluation).
	if err := n.auditTransition(st, from, next.State, ev, at, actor, ref); err != nil {
		n.log.Error("audit log append failed; transition postponed", "release", st.ReleaseID, "event", ev, "err", err)
		return false
	}
	st.Lifecycle = next
	n.log.Info("lifecycle", "release", st.ReleaseID, "from", from, "to", next.State, "event", ev, "by", actor)
	return true
}

// decisions returns the operator decisions held for release id. Called
// with n.mu held.
func (n *Node) decisions(id string) []trust.Decision {
	var out []trust.Decision
	for _, d := range n.docs {
		if d.Decision != nil && d.Decision.Release == id {
			out = append(out, *d.Decision)
		}
	}
	return out
}

// authorise asks the owner policy whether adv's release is authorised for
// this device's group. Without an owner policy everything is (a lab).
// Called with n.mu held.
func (n *Node) authorise(adv trust.Advisory) policy.Authorisation {
	if n.owner == nil {
		return policy.Authorisation{State: policy.StateAuthorised, Reason: "no owner policy: authorised on receipt", By: "auto", At: adv.Published, Auto: true}
	}
	return policy.Authorise(n.owner, n.cfg.Group, adv, n.decisions(adv.ReleaseID))
}

// lifecycleStep moves the release's lifecycle along: received, then
// authorised and scheduled, or rejected, and re-authorised after a failure
// only by a newer decision. Called with n.mu held.
func (n *Node) lifecycleStep(st *releaseState, adv trust.Advisory, rel trust.Release) {
	now := n.now().UTC()
	if st.Lifecycle.State == 0 {
		l, _ := policy.NewLifecycle(rel.ID(), n.host.ID().String()).StartAt(policy.StateReleased)
		st.Lifecycle, st.Deadline = l, adv.Deadline
		st.Wave = n.waveOf(rel.ID())
		n.transition(st, policy.EvReceive, now, "device", adv.ID)
	}
	auth := n.authorise(adv)
	st.Auth, st.SIA = auth.Reason, auth.SIA
	by := auth.By
	if by == policy.ByOperator {
		by = "operator " + n.decisionSigner(rel.ID(), auth.Seq)
	}
	authorise := func() {
		if n.transition(st, policy.EvAuthorise, now, by, auth.SIA) {
			st.AuthAt = auth.At
			n.transition(st, policy.EvSchedule, now, "device", "")
		}
	}
	switch st.Lifecycle.State {
	case policy.StateInInternalTest:
		switch auth.State {
		case policy.StateAuthorised:
			authorise()
		case policy.StateNotAuthorised:
			n.transition(st, policy.EvReject, now, by, auth.Reason)
		}
	case policy.StateAuthorised:
		if auth.State == policy.StateNotAuthorised {
			n.transition(st, policy.EvReject, now, by, auth.Reason)
		} else {
			n.transition(st, policy.EvSchedule, now, "device", "")
		}
	case policy.StateEffective:
		if auth.State == policy.StateNotAuthorised && st.Phase != policy.PhaseInstalling {
			n.transition(st, policy.EvReject, now, by, auth.Reason)
		}
	case policy.StateInstallFailed, policy.StateRolledBack:
		// Not retried silently: only a newer authorisation re-opens it.
		if auth.State == policy.StateAuthorised && auth.At.After(st.AuthAt) {
			authorise()
			st.Attempts, st.FailedStep, st.Phase = 0, "", policy.PhaseFetched
			if !st.Fetched {
				st.Phase = policy.PhaseNone
			}
		} else if auth.State == policy.StateNotAuthorised {
			n.transition(st, policy.EvReject, now, by, auth.Reason)
		}
	}
}

// decisionSigner is the key id of the operator who signed the decision
// with sequence number seq about release id. Called with n.mu held.
func (n *Node) decisionSigner(id string, seq uint64) string {
	for _, d := range n.docs {
		if d.Decision != nil && d.Decision.Release == id && d.Decision.Seq == seq && len(d.Signers) > 0 {
			return d.Signers[0][:16]
		}
	}
	return "(unknown)"
}

// waveOf is the device's rollout wave for a release. Called with n.mu held.
func (n *Node) waveOf(id string) int {
	if n.owner == nil {
		return 0
	}
	plan, err := n.owner.Rollout.Plan()
	if err != nil {
		return 0
	}
	return policy.WaveOf(n.host.ID().String(), id, plan)
}

// installGate says whether the installer may run now: the lifecycle is
// Effective and the owner policy's window and wave allow it. Called with
// n.mu held.
func (n *Node) installGate(st *releaseState, adv trust.Advisory) (bool, string) {
	if st.Lifecycle.State != policy.StateEffective {
		return false, "lifecycle " + st.Lifecycle.State.String() + ": " + st.Auth
	}
	if n.owner == nil {
		return true, ""
	}
	auth := n.authorise(adv)
	return policy.InstallGate(n.owner, n.cfg.Group, n.host.ID().String(), st.ReleaseID, auth, n.waveStats(st.ReleaseID), n.now())
}

// auditEvents maps lifecycle events to the audit log's event names.
var auditEvents = map[policy.Event]string{
	policy.EvReceive:       audit.EventAdvisoryReceived,
	policy.EvAuthorise:     audit.EventAuthorised,
	policy.EvReject:        audit.EventRejected,
	policy.EvInstallOK:     audit.EventInstalled,
	policy.EvInstallFailed: audit.EventInstallFailed,
	policy.EvRollBack:      audit.EventRolledBack,
	policy.EvRecall:        audit.EventRecalled,
}

// auditTransition appends a lifecycle transition to the audit log.
func (n *Node) auditTransition(st *releaseState, from, to policy.State, ev policy.Event, at time.Time, actor, ref string) error {
	event, ok := auditEvents[ev]
	if !ok {
		event = audit.EventTransition
	}
	d := map[string]string{audit.DetailFrom: from.String(), audit.DetailTo: to.String()}
	switch ev {
	case policy.EvReceive:
		d[audit.DetailAdvisory] = ref
	case policy.EvAuthorise:
		d[audit.DetailBy], d[audit.DetailSIA] = actor, ref
		if !st.Deadline.IsZero() {
			d[audit.DetailDeadline] = st.Deadline.UTC().Format(time.RFC3339)
		}
	case policy.EvInstallOK:
		_, d[audit.DetailVersion], _ = strings.Cut(st.ReleaseID, "@")
	default:
		if ref != "" {
			d[audit.DetailReason] = ref
		}
	}
	return n.auditEvent(at, actor, event, st.ReleaseID, d)
}

// auditEvent appends one record to the audit log (none on a seed).
func (n *Node) auditEvent(at time.Time, actor, event, release string, details map[string]string) error {
	if n.audit == nil {
		return nil
	}
	if actor == "" {
		actor = "node"
	}
	_, err := n.audit.Append(n.ctx, audit.Entry{Time: at.UTC(), Actor: actor, Event: event, Release: release,
		Device: n.host.ID().String(), Details: details})
	if err == nil {
		crashpoint.Hit(crashpoint.AuditAppended)
	}
	return err
}

func (n *Node) loadOwnerPolicy() error {
	p, ops, err := n.cfg.LoadOwnerPolicy()
	if err != nil {
		return err
	}
	n.owner, n.operators = p, ops
	return nil
}

// openAudit opens the node's audit log, signed with its identity key.
func (n *Node) openAudit() error {
	key := n.host.Peerstore().PrivKey(n.host.ID())
	if key == nil {
		return fmt.Errorf("audit log: no private key for %s", n.host.ID())
	}
	l, err := audit.Open(n.ctx, n.store.DS, key)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	n.audit = l
	return nil
}
