package node

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Reliability check 1 (issue 9): every document type a device accepts —
// release manifest, CSAF advisory, heartbeat, recall, trust root, operator
// decision, fleet roster — forged four ways: signatures removed, signed by
// a key nobody trusts, payload changed after signing, and signed by a
// trusted key of the wrong role (another supplier role, or the supplier
// for an owner document). Each is mounted on the attack bed (seed — d0 —
// d1, an attacker next to d0) whose devices run an owner policy, so owner
// documents are judged too: d0 refuses it with the specific error, its
// trusted state does not move, and d1 never sees it.

// policyBed is newBed with an owner policy (operator keys, auto
// authorisation) on both devices.
func policyBed(t *testing.T) (*bed, ownerFixture) {
	t.Helper()
	o := writeOwnerPolicy(t, `zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell}]
auto_authorise: [{min_severity: HIGH}]
rollout: {waves: [1.0], soak: 0s}
`)
	f := newFleet(t, 0, noScoring)
	dev := func(name string) *Node {
		cfg := f.deviceConfig(filepath.Join(t.TempDir(), name))
		cfg.Policy, cfg.Group = o.path, "line"
		n := f.start(cfg)
		f.devs = append(f.devs, n)
		return n
	}
	b := wireBed(t, f, dev("d0"), dev("d1"))
	return b, o
}

// tamper flips the case of one letter in the second half of the payload.
func tamper(t *testing.T, data []byte) []byte {
	t.Helper()
	env, err := trust.ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	p := append([]byte(nil), env.Payload...)
	for i := len(p) / 2; i < len(p); i++ {
		if c := p[i]; c >= 'a' && c <= 'z' {
			p[i] = c - 'a' + 'A'
			env.Payload = p
			return env.Marshal()
		}
	}
	t.Fatal("no letter to tamper with")
	return nil
}

func unsign(t *testing.T, data []byte) []byte {
	t.Helper()
	env, err := trust.ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	env.Signatures = nil
	return env.Marshal()
}

func TestReliabilityForgeryMatrix(t *testing.T) {
	reliabilitySuite(t)
	b, o := policyBed(t)
	s := b.sup
	rogue, _ := trust.GenerateKey(nil)
	now := b.clk.now().UTC()

	rel := b.base
	rel.Version, rel.Seq = "2.1.0", rel.Seq+1
	hb := trust.Heartbeat{Seq: uint64(now.UnixMilli()), Issued: now, Expires: now.Add(time.Hour), RootVersion: 1, Latest: map[string]uint64{"release/plc-fw": rel.Seq}}
	rc := trust.Recall{Product: "plc-fw", Version: b.base.Version, Reason: "forged", Seq: 1, Published: now, Expires: now.AddDate(0, 1, 0)}
	v2 := cloneRoot(s.root)
	v2.Version = 2
	dec := trust.Decision{Action: trust.DecisionReject, Release: b.base.ID(), Group: "line", Seq: 5, Issued: now}
	roster := trust.Roster{Fleet: "plant", Seq: 1, Issued: now, Members: []trust.Member{{Peer: b.dev.ID().String(), Zone: "cell", Role: trust.MemberDevice}}}

	sign := map[string]func(keys ...*trust.PrivateKey) []byte{
		"manifest": func(k ...*trust.PrivateKey) []byte { return b.signRelease(rel, k...) },
		"advisory": func(k ...*trust.PrivateKey) []byte { return b.advisory(rel, 1, now, k...) },
		"heartbeat": func(k ...*trust.PrivateKey) []byte {
			return must(trust.SignHeartbeat(hb, k...)).Marshal()
		},
		"recall":   func(k ...*trust.PrivateKey) []byte { return must(trust.SignRecall(rc, k...)).Marshal() },
		"root":     func(k ...*trust.PrivateKey) []byte { return must(trust.SignRoot(v2, k...)).Marshal() },
		"decision": func(k ...*trust.PrivateKey) []byte { return must(trust.SignDecision(dec, k...)).Marshal() },
		"roster":   func(k ...*trust.PrivateKey) []byte { return must(trust.SignRoster(roster, k...)).Marshal() },
	}
	// The genuine signers, and a trusted key of the wrong role.
	genuine := map[string][]*trust.PrivateKey{
		"manifest": {s.rel}, "advisory": {s.adv}, "heartbeat": {s.hb}, "recall": {s.rel},
		"root": {s.rootKeys[0], s.rootKeys[1]}, "decision": {o.op}, "roster": {o.op},
	}
	wrongRole := map[string][]*trust.PrivateKey{
		"manifest": {s.adv}, "advisory": {s.rel}, "heartbeat": {s.adv}, "recall": {s.hb},
		"root": {s.rel, s.adv}, "decision": {s.rel}, "roster": {s.rootKeys[0]},
	}
	// The error each forgery must be refused with.
	want := map[string]map[string]error{
		"unsigned":    {"*": trust.ErrUnsigned},
		"unknown key": {"*": trust.ErrUnknownKey, "root": trust.ErrThreshold},
		"tampered":    {"*": trust.ErrBadSig, "root": trust.ErrThreshold},
		"wrong role":  {"*": trust.ErrWrongRole, "root": trust.ErrThreshold, "decision": trust.ErrUnknownKey, "roster": trust.ErrUnknownKey},
	}
	n := 0
	for _, typ := range []string{"manifest", "advisory", "heartbeat", "recall", "root", "decision", "roster"} {
		good := sign[typ](genuine[typ]...)
		forged := map[string][]byte{
			"unsigned":    unsign(t, good),
			"unknown key": sign[typ](rogue),
			"tampered":    tamper(t, good),
			"wrong role":  sign[typ](wrongRole[typ]...),
		}
		if typ == "root" {
			forged["unknown key"] = sign[typ](rogue, rogue)
			// A root's key ids are checked before its signatures; change
			// its version instead, which only the signatures protect.
			env, _ := trust.ParseEnvelope(good)
			env.Payload = bytes.Replace(env.Payload, []byte(`"version":2`), []byte(`"version":9`), 1)
			if string(env.Payload) == string(must(trust.ParseEnvelope(good)).Payload) {
				t.Fatal("test setup: no version field in the root payload")
			}
			forged["tampered"] = env.Marshal()
		}
		for _, kind := range []string{"unsigned", "unknown key", "tampered", "wrong role"} {
			w := want[kind][typ]
			if w == nil {
				w = want[kind]["*"]
			}
			b.mount(t, fmt.Sprintf("%s, %s", typ, kind), forged[kind], w)
			n++
		}
	}
	// The genuine documents are accepted: the forgeries were refused for
	// what was forged, not for what they say.
	accepted := 0
	for _, typ := range []string{"manifest", "advisory", "heartbeat", "recall", "decision", "roster"} {
		if _, err := b.dev.accept(sign[typ](genuine[typ]...)); err != nil && !errors.Is(err, errKnown) {
			t.Errorf("genuine %s refused: %v", typ, err)
		} else {
			accepted++
		}
	}
	t.Logf("reliability: injected=%d types=7 kinds=4 refused=%d forwarded=0 genuine_accepted=%d/6", n, n, accepted)
}
