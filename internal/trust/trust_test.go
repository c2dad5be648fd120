package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// seededReader makes deterministic keys.
type seededReader struct{ r *rand.ChaCha8 }

func (s seededReader) Read(p []byte) (int, error) { return s.r.Read(p) }

func keys(t testing.TB, n int, seed byte) []*PrivateKey {
	var s [32]byte
	s[0] = seed
	rd := seededReader{rand.NewChaCha8(s)}
	out := make([]*PrivateKey, n)
	for i := range out {
		k, err := GenerateKey(rd)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = k
	}
	return out
}

func pubs(ks ...*PrivateKey) []PublicKey {
	out := make([]PublicKey, len(ks))
	for i, k := range ks {
		out[i] = k.Public()
	}
	return out
}

// world is a supplier with 3 root keys (threshold 2) and one key per role.
type world struct {
	rootKeys          []*PrivateKey
	rel, adv, hb, oth *PrivateKey
	root              Root
	rootEnv           []byte
}

func newWorld(t testing.TB) *world {
	ks := keys(t, 7, 1)
	w := &world{rootKeys: ks[:3], rel: ks[3], adv: ks[4], hb: ks[5], oth: ks[6]}
	w.root = NewRoot(1, t0.AddDate(1, 0, 0), map[string]RoleKeys{
		RoleRoot:      {Keys: pubs(ks[:3]...), Threshold: 2},
		RoleRelease:   {Keys: pubs(w.rel), Threshold: 1},
		RoleAdvisory:  {Keys: pubs(w.adv), Threshold: 1},
		RoleHeartbeat: {Keys: pubs(w.hb), Threshold: 1},
	})
	env, err := SignRoot(w.root, w.rootKeys[0], w.rootKeys[1])
	if err != nil {
		t.Fatal(err)
	}
	w.rootEnv = env.Marshal()
	return w
}

func testRelease() Release {
	return Release{Product: "plc-fw", Version: "2.0.0", RootCID: "bafy", Size: 10, ChunkSize: 4, Seq: 5,
		SHA256: "aa00000000000000000000000000000000000000000000000000000000000000", Published: t0, Expires: t0.AddDate(0, 6, 0)}
}

// decodeTestCSAF stands in for internal/csaf.Advisory (which imports this
// package): the payload is the Advisory as JSON.
func decodeTestCSAF(b []byte) (Advisory, error) {
	var a Advisory
	return a, json.Unmarshal(b, &a)
}

func testAdvisory(seq uint64) Advisory {
	return Advisory{ID: "A-1", Product: "plc-fw", FixedVersion: "2.0.0", ReleaseID: "plc-fw@2.0.0", Seq: seq, Published: t0}
}

func signAdv(t testing.TB, a Advisory, k ...*PrivateKey) []byte {
	b, _ := json.Marshal(a)
	return SignWith(TypeCSAF, b, k...).Marshal()
}

func mustRel(t testing.TB, r Release, k ...*PrivateKey) []byte {
	env, err := SignRelease(r, k...)
	if err != nil {
		t.Fatal(err)
	}
	return env.Marshal()
}

func TestOpenVerifies(t *testing.T) {
	w := newWorld(t)
	data := mustRel(t, testRelease(), w.rel)
	doc, err := Open(data, w.root, decodeTestCSAF)
	if err != nil || doc.Release == nil || doc.Release.ID() != "plc-fw@2.0.0" || len(doc.Signers) != 1 {
		t.Fatalf("valid envelope: doc %+v err %v", doc, err)
	}
	env, _ := ParseEnvelope(data)
	tampered := env
	tampered.Payload = bytes.Replace(env.Payload, []byte(`"size":10`), []byte(`"size":11`), 1)
	if bytes.Equal(tampered.Payload, env.Payload) {
		t.Fatal("test did not tamper")
	}
	retyped := env
	retyped.PayloadType = TypeCSAF
	unsigned := env
	unsigned.Signatures = nil
	// Mix and match: a valid signature lifted from another document.
	other, _ := ParseEnvelope(mustRel(t, Release{Product: "plc-fw", Version: "1.0.0", RootCID: "bafx", Size: 9, ChunkSize: 4, Seq: 1,
		SHA256: testRelease().SHA256, Expires: t0.AddDate(1, 0, 0)}, w.rel))
	spliced := env
	spliced.Signatures = other.Signatures
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"tampered payload", tampered.Marshal(), ErrBadSig},
		{"payload type swapped (advisory key role)", retyped.Marshal(), ErrWrongRole},
		{"signature spliced from another release", spliced.Marshal(), ErrBadSig},
		{"unknown key", mustRel(t, testRelease(), w.oth), ErrUnknownKey},
		{"wrong role: heartbeat key signs a release", mustRel(t, testRelease(), w.hb), ErrWrongRole},
		{"wrong role: root key signs a release", mustRel(t, testRelease(), w.rootKeys[0]), ErrWrongRole},
		{"unsigned", unsigned.Marshal(), ErrUnsigned},
		{"not json", []byte("hello"), ErrMalformed},
		{"unknown envelope field", []byte(`{"payloadType":"x","payload":"eA==","signatures":[],"extra":1}`), ErrMalformed},
		{"oversized", make([]byte, MaxEnvelopeSize+1), ErrMalformed},
		{"unknown payload type", Sign("text/plain", []byte("x"), w.rel).Marshal(), ErrPayloadType},
	}
	for _, c := range cases {
		if _, err := Open(c.data, w.root, decodeTestCSAF); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// Unknown payload fields (a newer supplier tool) survive: the payload is
// kept byte for byte, so re-sending never breaks the signature.
func TestUnknownFieldsKept(t *testing.T) {
	w := newWorld(t)
	b, _ := json.Marshal(testRelease())
	b = append(b[:len(b)-1], []byte(`,"future_field":{"x":[1,2]}}`)...)
	env := SignWith(TypeRelease, b, w.rel)
	doc, err := Open(env.Marshal(), w.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Open(doc.Envelope.Marshal(), w.root, nil)
	if err != nil || !bytes.Equal(again.Envelope.Payload, b) {
		t.Fatalf("re-serialised envelope: %v", err)
	}
}

func TestThresholdFaking(t *testing.T) {
	ks := keys(t, 4, 2)
	root := NewRoot(1, t0.AddDate(1, 0, 0), map[string]RoleKeys{
		RoleRoot: {Keys: pubs(ks[0]), Threshold: 1}, RoleRelease: {Keys: pubs(ks[1], ks[2], ks[3]), Threshold: 2},
		RoleAdvisory: {Keys: pubs(ks[0]), Threshold: 1}, RoleHeartbeat: {Keys: pubs(ks[0]), Threshold: 1},
	})
	if err := root.Validate(); err != nil {
		t.Fatal(err)
	}
	one := mustRel(t, testRelease(), ks[1])
	env, _ := ParseEnvelope(one)
	dup := env
	dup.Signatures = append(dup.Signatures, env.Signatures[0], env.Signatures[0])
	two := mustRel(t, testRelease(), ks[1], ks[2])
	for _, c := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"one of two", one, false},
		{"same signature three times", dup.Marshal(), false},
		{"two distinct keys", two, true},
	} {
		_, err := Open(c.data, root, nil)
		if c.ok != (err == nil) || (!c.ok && !errors.Is(err, ErrThreshold)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Roots that fake thresholds are invalid.
	zero := root
	zero.Roles = map[string]Role{}
	for k, v := range root.Roles {
		zero.Roles[k] = v
	}
	r := zero.Roles[RoleRelease]
	r.Threshold = 0
	zero.Roles[RoleRelease] = r
	dupKeys := zero
	dupKeys.Roles = map[string]Role{}
	for k, v := range root.Roles {
		dupKeys.Roles[k] = v
	}
	dr := dupKeys.Roles[RoleRelease]
	dr.KeyIDs = []string{dr.KeyIDs[0], dr.KeyIDs[0]}
	dupKeys.Roles[RoleRelease] = dr
	badID := NewRoot(1, t0.AddDate(1, 0, 0), map[string]RoleKeys{RoleRoot: {Keys: pubs(ks[0]), Threshold: 1}})
	for _, c := range []struct {
		name string
		r    Root
	}{{"zero threshold", zero}, {"same key twice in a role", dupKeys}, {"missing roles", badID}} {
		if _, err := SignRoot(c.r, ks[0]); !errors.Is(err, ErrInvalidRoot) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A key id that is not the hash of its key.
	lie := root
	lie.Keys = map[string]RootKey{}
	for id, k := range root.Keys {
		lie.Keys[id] = k
	}
	k0 := ks[0].Public().KeyID()
	rk := lie.Keys[k0]
	rk.Public = lie.Keys[ks[1].Public().KeyID()].Public
	lie.Keys[k0] = rk
	if err := lie.Validate(); !errors.Is(err, ErrInvalidRoot) {
		t.Errorf("lying key id: %v", err)
	}
}

func TestProductScopedKey(t *testing.T) {
	w := newWorld(t)
	id := w.rel.Public().KeyID()
	k := w.root.Keys[id]
	k.Products = []string{"hmi-app"}
	w.root.Keys[id] = k
	_, err := Open(mustRel(t, testRelease(), w.rel), w.root, nil)
	if !errors.Is(err, ErrKeyNotAllowed) || !errors.Is(err, ErrThreshold) {
		t.Fatalf("release for plc-fw by a key scoped to hmi-app: %v", err)
	}
	hmi := testRelease()
	hmi.Product = "hmi-app"
	if _, err := Open(mustRel(t, hmi, w.rel), w.root, nil); err != nil {
		t.Fatalf("in-scope release: %v", err)
	}
}

func TestRollbackExpiryConflict(t *testing.T) {
	w := newWorld(t)
	st, err := NewState(w.rootEnv)
	if err != nil {
		t.Fatal(err)
	}
	open := func(data []byte) Document {
		d, err := Open(data, st.Root, decodeTestCSAF)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	r5 := open(mustRel(t, testRelease(), w.rel))
	if err := st.Check(r5, t0); err != nil {
		t.Fatal(err)
	}
	st.Apply(r5)
	before := st.Clone()
	old := testRelease()
	old.Version, old.Seq = "1.9.0", 4
	conflict := testRelease()
	conflict.Version = "2.0.1"
	expired := testRelease()
	expired.Seq, expired.Expires = 9, t0.Add(-time.Hour)
	a2 := open(signAdv(t, testAdvisory(2), w.adv))
	st.Apply(a2)
	before = st.Clone()
	for _, c := range []struct {
		name string
		doc  Document
		now  time.Time
		want error
	}{
		{"older release replayed", open(mustRel(t, old, w.rel)), t0, ErrRollback},
		{"same seq, other release", open(mustRel(t, conflict, w.rel)), t0, ErrConflict},
		{"same release again", r5, t0, ErrDuplicate},
		{"expired release", open(mustRel(t, expired, w.rel)), t0, ErrExpired},
		{"older advisory revision", open(signAdv(t, testAdvisory(1), w.adv)), t0, ErrRollback},
		{"any document after the root expired", open(signAdv(t, testAdvisory(3), w.adv)), t0.AddDate(2, 0, 0), ErrExpired},
	} {
		if err := st.Check(c.doc, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if fmt.Sprint(st.Marks) != fmt.Sprint(before.Marks) {
		t.Fatal("Check changed the state")
	}
	newer := open(signAdv(t, testAdvisory(3), w.adv))
	if err := st.Check(newer, t0); err != nil {
		t.Fatalf("newer advisory revision: %v", err)
	}
}

func TestFreshness(t *testing.T) {
	w := newWorld(t)
	st, _ := NewState(w.rootEnv)
	if f := st.Freshness(t0); f.State != Stale {
		t.Fatalf("no heartbeat: %+v", f)
	}
	hb := func(seq uint64, latest map[string]uint64) Document {
		env, err := SignHeartbeat(Heartbeat{Seq: seq, Issued: t0, Expires: t0.Add(time.Hour), RootVersion: 1, Latest: latest}, w.hb)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Open(env.Marshal(), st.Root, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	h1 := hb(1, map[string]uint64{"release/plc-fw": 5})
	if err := st.Check(h1, t0); err != nil {
		t.Fatal(err)
	}
	st.Apply(h1)
	if f := st.Freshness(t0.Add(time.Minute)); f.State != Behind || len(f.Missing) != 1 || f.Missing[0] != "release/plc-fw" {
		t.Fatalf("heartbeat lists a newer release: %+v", f)
	}
	rel, _ := Open(mustRel(t, testRelease(), w.rel), st.Root, nil)
	st.Apply(rel)
	if f := st.Freshness(t0.Add(time.Minute)); f.State != Fresh {
		t.Fatalf("up to date: %+v", f)
	}
	if f := st.Freshness(t0.Add(2 * time.Hour)); f.State != Stale || !strings.Contains(f.Detail, "cannot confirm latest") {
		t.Fatalf("heartbeat expired (freeze): %+v", f)
	}
	if err := st.Check(hb(1, nil), t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("replayed heartbeat seq with other content: %v", err)
	}
	if f := st.Freshness(t0.AddDate(2, 0, 0)); f.State != RootExpired {
		t.Fatalf("root expired: %+v", f)
	}
}

func TestRootRotation(t *testing.T) {
	w := newWorld(t)
	st, _ := NewState(w.rootEnv)
	nk := keys(t, 3, 9) // new root key, new release key, attacker
	// v2: root role gets a new key (threshold 2 of old k1,k2 + new), release key rotated.
	v2 := NewRoot(2, t0.AddDate(1, 0, 0), map[string]RoleKeys{
		RoleRoot:      {Keys: pubs(w.rootKeys[1], w.rootKeys[2], nk[0]), Threshold: 2},
		RoleRelease:   {Keys: pubs(nk[1]), Threshold: 1},
		RoleAdvisory:  {Keys: pubs(w.adv), Threshold: 1},
		RoleHeartbeat: {Keys: pubs(w.hb), Threshold: 1},
	})
	sign := func(r Root, k ...*PrivateKey) []byte {
		env, err := SignRoot(r, k...)
		if err != nil {
			t.Fatal(err)
		}
		return env.Marshal()
	}
	// Fast-forward: the old release key was stolen and signed seq 2^60.
	ff := testRelease()
	ff.Seq = 1 << 60
	ffDoc, _ := Open(mustRel(t, ff, w.rel), st.Root, nil)
	st.Apply(ffDoc)
	adv, _ := Open(signAdv(t, testAdvisory(7), w.adv), st.Root, decodeTestCSAF)
	st.Apply(adv)

	before := st.Clone()
	v3 := v2
	v3.Version = 3
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"signed only by the new root keys", sign(v2, w.rootKeys[2], nk[0]), ErrThreshold},
		{"signed only by old keys (new root's threshold unmet)", sign(v2, w.rootKeys[0]), ErrThreshold},
		{"version gap", sign(v3, w.rootKeys[0], w.rootKeys[1], w.rootKeys[2], nk[0]), ErrRootVersion},
		{"same version again", w.rootEnv, ErrRollback},
		{"not a root", mustRel(t, testRelease(), w.rel), ErrPayloadType},
	} {
		if _, err := st.UpdateRoot(c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if st.Root.Version != 1 || fmt.Sprint(st.Marks) != fmt.Sprint(before.Marks) {
		t.Fatal("a refused root changed the state")
	}
	changed, err := st.UpdateRoot(sign(v2, w.rootKeys[1], w.rootKeys[2], nk[0]))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(changed) != "[root release]" {
		t.Fatalf("changed roles %v", changed)
	}
	// The stolen key is revoked with its fast-forwarded mark; the advisory
	// role kept its mark.
	if _, err := Open(mustRel(t, testRelease(), w.rel), st.Root, nil); !errors.Is(err, ErrWrongRole) && !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoked release key still accepted: %v", err)
	}
	good, err := Open(mustRel(t, testRelease(), nk[1]), st.Root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(good, t0); err != nil {
		t.Fatalf("after rotation the supplier's normal seq must be accepted (fast-forward recovery): %v", err)
	}
	if st.Marks["advisory/A-1"].Seq != 7 {
		t.Fatal("advisory mark lost in an unrelated rotation")
	}
	// Restore from JSON.
	b, _ := json.Marshal(st)
	var back State
	if err := json.Unmarshal(b, &back); err != nil || back.Restore() != nil || back.Root.Version != 2 {
		t.Fatalf("restore: %v", err)
	}
}

func TestRotationCap(t *testing.T) {
	w := newWorld(t)
	st, _ := NewState(w.rootEnv)
	var chain [][]byte
	for v := int64(2); v <= MaxRootRotations+2; v++ {
		r := w.root
		r.Version = v
		env, _ := SignRoot(r, w.rootKeys...)
		chain = append(chain, env.Marshal())
	}
	if _, err := st.UpdateRoots(chain); !errors.Is(err, ErrTooManyRotations) || st.Root.Version != 1 {
		t.Fatalf("endless chain: %v, now v%d", err, st.Root.Version)
	}
	if _, err := st.UpdateRoots(chain[:5]); err != nil || st.Root.Version != 6 {
		t.Fatalf("short chain: %v v%d", err, st.Root.Version)
	}
	// Replaying the chain is harmless.
	if _, err := st.UpdateRoots(chain[:5]); err != nil || st.Root.Version != 6 {
		t.Fatalf("replayed chain: %v v%d", err, st.Root.Version)
	}
}

func TestInvalidDocumentsRefused(t *testing.T) {
	w := newWorld(t)
	bad := testRelease()
	bad.Product = "bad id!"
	noSeq := testRelease()
	noSeq.Seq = 0
	noExp := testRelease()
	noExp.Expires = time.Time{}
	badHW := testRelease()
	badHW.Hardware = []string{"x y"}
	badC := testRelease()
	badC.AppliesTo = []string{">=1.0 <<2"}
	for _, r := range []Release{bad, noSeq, noExp, badHW, badC} {
		if _, err := SignRelease(r, w.rel); !errors.Is(err, ErrInvalidDocument) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	adv := testAdvisory(1)
	adv.ReleaseID = "plc-fw@1.0.0"
	if _, err := Open(signAdv(t, adv, w.adv), w.root, decodeTestCSAF); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("advisory pointing at the wrong release: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateKey(nil)
	priv, pub := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	if err := WriteKeyPair(k, priv, pub); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(priv)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %o", st.Mode().Perm())
	}
	if err := WriteKeyPair(k, priv, pub); err == nil {
		t.Fatal("overwrote an existing key")
	}
	k2, err := LoadPrivateKey(priv)
	if err != nil || k2.Public().KeyID() != k.Public().KeyID() {
		t.Fatalf("reload: %v", err)
	}
	pk, err := LoadPublicKey(pub)
	if err != nil || pk.KeyID() != k.Public().KeyID() {
		t.Fatalf("public reload: %v", err)
	}
	os.Chmod(priv, 0o640)
	if _, err := LoadPrivateKey(priv); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("group-readable key accepted: %v", err)
	}
}

// FuzzOpen feeds arbitrary envelopes (and, through them, manifests,
// heartbeats, recalls and roots) to Open and State.
func FuzzOpen(f *testing.F) {
	w := newWorld(f)
	f.Add(mustRel(f, testRelease(), w.rel))
	f.Add(w.rootEnv)
	hb, _ := SignHeartbeat(Heartbeat{Seq: 1, Issued: t0, Expires: t0.Add(time.Hour), Latest: map[string]uint64{"a": 1}}, w.hb)
	f.Add(hb.Marshal())
	rc, _ := SignRecall(Recall{Product: "p", Version: "1", Seq: 1, Expires: t0.Add(time.Hour)}, w.rel)
	f.Add(rc.Marshal())
	f.Add([]byte(`{"payloadType":"a","payload":"","signatures":[{"keyid":"x","sig":""}]}`))
	st, _ := NewState(w.rootEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Open(data, w.root, decodeTestCSAF)
		if err != nil {
			return
		}
		if doc.Key() == "" {
			t.Fatal("accepted a document with no payload")
		}
		if doc.Root == nil {
			_ = st.Check(doc, t0)
		} else {
			_, _ = st.Clone().UpdateRoot(data)
		}
	})
}

// FuzzManifest feeds arbitrary payloads, correctly signed, to the release
// manifest decoder: a supplier tool bug must not crash a device.
func FuzzManifest(f *testing.F) {
	w := newWorld(f)
	b, _ := json.Marshal(testRelease())
	f.Add(b)
	f.Add([]byte(`{"product":"p","version":"1","seq":1,"applies_to":[">=1"]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		env := SignWith(TypeRelease, payload, w.rel)
		doc, err := Open(env.Marshal(), w.root, nil)
		if err == nil && doc.Release.Validate() != nil {
			t.Fatal("accepted an invalid manifest")
		}
	})
}

func TestOperatorDecision(t *testing.T) {
	ops := keys(t, 2, 5)
	d := Decision{Action: DecisionAuthorise, Release: "plc-fw@2.0.0", Group: "line-a", SIA: "SIA-2026-17", Seq: 3, Issued: t0}
	env, err := SignDecision(d, ops[0])
	if err != nil {
		t.Fatal(err)
	}
	doc, err := OpenDecision(env.Marshal(), pubs(ops[0]))
	if err != nil || doc.Decision == nil || doc.Key() != "decision/plc-fw@2.0.0/line-a" || doc.Seq() != 3 {
		t.Fatalf("valid decision: %+v %v", doc, err)
	}
	forged, _ := SignDecision(d, ops[1])
	if _, err := OpenDecision(forged.Marshal(), pubs(ops[0])); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("decision by a key the policy does not name: %v", err)
	}
	tampered := env
	tampered.Payload = bytes.Replace(env.Payload, []byte("SIA-2026-17"), []byte("SIA-2026-18"), 1)
	if _, err := OpenDecision(tampered.Marshal(), pubs(ops[0])); !errors.Is(err, ErrBadSig) {
		t.Fatalf("tampered decision: %v", err)
	}
	if _, err := OpenDecision(mustRel(t, testRelease(), ops[0]), pubs(ops[0])); !errors.Is(err, ErrPayloadType) {
		t.Fatalf("a release is not a decision: %v", err)
	}
	for _, bad := range []Decision{{Action: "maybe", Release: "p@1", Seq: 1}, {Action: DecisionReject, Release: "nover", Seq: 1}, {Action: DecisionReject, Release: "p@1"}} {
		if _, err := SignDecision(bad, ops[0]); !errors.Is(err, ErrInvalidDocument) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}
