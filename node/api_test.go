package node

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// These tests run the HTTP API on a mocknet fleet: a device with an owner
// policy whose group is not auto-authorised, and the API on a loopback port.

const apiToken = "0123456789abcdef-test-token"

// apiPolicy: one group, no auto-authorisation, one wave.
const apiPolicy = `zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell}]
rollout: {waves: [1.0], soak: 0s}
`

// apiDo sends one request and returns the status and body.
func apiDo(t *testing.T, method, url, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// apiGetJSON GETs path and decodes the answer, failing on anything but 200.
func apiGetJSON(t *testing.T, a *API, path string, out any) {
	t.Helper()
	code, b := apiDo(t, http.MethodGet, "http://"+a.Addr()+path, "", nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// apiFixture is a seed and one policy device (group "line") holding a
// fetched release awaiting a decision.
type apiFixture struct {
	f   *fleet
	o   ownerFixture
	dev *Node
	id  string
}

func newAPIFixture(t *testing.T) apiFixture {
	t.Helper()
	o := writeOwnerPolicy(t, apiPolicy)
	f := newFleet(t, 0)
	dev := f.policyDevice(o, "line", nil)
	waitMesh(t, dev)
	rel, _, _ := f.publish(randomBytes(t, 150<<10), "2.0.0")
	id := rel.ID()
	waitFor(t, "the device fetched and awaits a decision", 20*time.Second, func() bool {
		r := dev.Status().Releases[id]
		return r != nil && r.Fetched && r.Lifecycle.State == policy.StateInInternalTest
	})
	return apiFixture{f: f, o: o, dev: dev, id: id}
}

func serveAPI(t *testing.T, n *Node, token string, opts ...APIOption) *API {
	t.Helper()
	a, err := n.ServeAPI("127.0.0.1:0", token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func envelopeBody(env []byte) map[string]json.RawMessage {
	return map[string]json.RawMessage{"envelope": env}
}

// TestAPIActionsNeedTokenAndSignature: without the token every action is
// 401; with it, a decision signed by a key the owner policy does not name,
// or tampered after signing, is 403 and nothing is held; a good one is 200,
// held, and the device installs. Recalls are checked against the root.
func TestAPIActionsNeedTokenAndSignature(t *testing.T) {
	fx := newAPIFixture(t)
	dev, id := fx.dev, fx.id
	a := serveAPI(t, dev, apiToken)
	base := "http://" + a.Addr() + APIPrefix
	slot := "decision/" + id + "/line"
	good := fx.o.decision(t, trust.DecisionAuthorise, id, "line", "SIA-9", 1, fx.f.clk.now())

	for _, tok := range []string{"", "wrong-token-wrong-token"} {
		for _, path := range []string{"authorise", "reject", "recall"} {
			if code, b := apiDo(t, http.MethodPost, base+path, tok, envelopeBody(good)); code != http.StatusUnauthorized {
				t.Fatalf("POST %s with token %q: %d %s, want 401", path, tok, code, b)
			}
		}
	}
	if dev.hasDoc(slot) {
		t.Fatal("a decision was held after unauthenticated requests")
	}

	rogue, _ := trust.GenerateKey(nil)
	forged, err := trust.SignDecision(trust.Decision{Action: trust.DecisionAuthorise, Release: id, Group: "line", SIA: "SIA-9", Seq: 2, Issued: fx.f.clk.now()}, rogue)
	if err != nil {
		t.Fatal(err)
	}
	tampered, _ := trust.ParseEnvelope(good)
	tampered.Payload = bytes.Replace(tampered.Payload, []byte("SIA-9"), []byte("SIA-6"), 1)
	unsigned, _ := trust.ParseEnvelope(good)
	unsigned.Signatures = nil
	for name, env := range map[string][]byte{"unknown key": forged.Marshal(), "tampered": tampered.Marshal(), "unsigned": unsigned.Marshal()} {
		code, b := apiDo(t, http.MethodPost, base+"authorise", apiToken, envelopeBody(env))
		if code != http.StatusForbidden {
			t.Fatalf("%s decision: %d %s, want 403", name, code, b)
		}
	}
	if dev.hasDoc(slot) {
		t.Fatal("a forged decision is held")
	}

	// Fields only: this API holds no operator key to sign them with.
	if code, b := apiDo(t, http.MethodPost, base+"authorise", apiToken, map[string]string{"release": id, "group": "line"}); code != http.StatusConflict {
		t.Fatalf("unsigned fields without an operator key: %d %s, want 409", code, b)
	}
	// A reject envelope on the authorise route, both forms at once, junk.
	rej := fx.o.decision(t, trust.DecisionReject, id, "line", "", 3, fx.f.clk.now())
	for name, body := range map[string]any{
		"reject on authorise": envelopeBody(rej),
		"both forms":          map[string]any{"envelope": json.RawMessage(good), "release": id},
		"unknown field":       map[string]any{"release": id, "colour": "red"},
		"not an envelope":     envelopeBody([]byte(`{"payloadType":"x"}`)),
	} {
		if code, b := apiDo(t, http.MethodPost, base+"authorise", apiToken, body); code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s, want 400", name, code, b)
		}
	}
	if dev.hasDoc(slot) {
		t.Fatal("a refused request left a decision")
	}

	code, b := apiDo(t, http.MethodPost, base+"authorise", apiToken, envelopeBody(good))
	if code != http.StatusOK {
		t.Fatalf("good decision: %d %s", code, b)
	}
	var res ActionResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Document != slot || res.SignedBy != "client" || len(res.Signers) != 1 || res.Signers[0] != fx.o.op.Public().KeyID() || res.Decision == nil || res.Decision.SIA != "SIA-9" {
		t.Fatalf("result %+v", res)
	}
	if !dev.hasDoc(slot) {
		t.Fatal("the accepted decision is not held")
	}
	waitInstalled(t, dev, id)

	// The same decision again is a duplicate: accepted as already held.
	if code, b := apiDo(t, http.MethodPost, base+"authorise", apiToken, envelopeBody(good)); code != http.StatusOK {
		t.Fatalf("repeated decision: %d %s", code, b)
	}
	// Another decision with the same sequence number conflicts with it.
	conflict := fx.o.decision(t, trust.DecisionReject, id, "line", "", 1, fx.f.clk.now())
	if code, b := apiDo(t, http.MethodPost, base+"reject", apiToken, envelopeBody(conflict)); code != http.StatusConflict {
		t.Fatalf("conflicting decision: %d %s, want 409", code, b)
	}

	// Recalls: signed by an operator key (not a release key) → 403; by the
	// supplier's release key → 200.
	now := fx.f.clk.now().UTC()
	rc := trust.Recall{Product: "plc-fw", Version: "2.0.0", Reason: "bricks rev A", Seq: 1, Published: now, Expires: now.AddDate(1, 0, 0)}
	bad, _ := trust.SignRecall(rc, fx.o.op)
	if code, b := apiDo(t, http.MethodPost, base+"recall", apiToken, envelopeBody(bad.Marshal())); code != http.StatusForbidden {
		t.Fatalf("recall signed by an operator key: %d %s, want 403", code, b)
	}
	if code, b := apiDo(t, http.MethodPost, base+"recall", apiToken, map[string]string{"release": id, "reason": "x"}); code != http.StatusConflict {
		t.Fatalf("recall fields without a release key: %d %s, want 409", code, b)
	}
	goodRc, _ := trust.SignRecall(rc, fx.f.sup.rel)
	if code, b := apiDo(t, http.MethodPost, base+"recall", apiToken, envelopeBody(goodRc.Marshal())); code != http.StatusOK {
		t.Fatalf("recall: %d %s", code, b)
	}
	waitFor(t, "the device holds the recall", 10*time.Second, func() bool { return dev.hasDoc("recall/" + id) })

	// An API without a token refuses every action.
	closed := serveAPI(t, dev, "")
	if code, b := apiDo(t, http.MethodPost, "http://"+closed.Addr()+APIPrefix+"reject", apiToken, envelopeBody(rej)); code != http.StatusUnauthorized {
		t.Fatalf("API without a token: %d %s, want 401", code, b)
	}
}

// TestAPIOperatorKeySigns: with the local operator's key the node signs a
// decision from its fields (the dashboard's buttons); with a key the policy
// does not name the decision is refused like any forgery.
func TestAPIOperatorKeySigns(t *testing.T) {
	fx := newAPIFixture(t)
	dev, id := fx.dev, fx.id
	slot := "decision/" + id + "/line"

	rogue, _ := trust.GenerateKey(nil)
	ra := serveAPI(t, dev, apiToken, WithOperatorKey(rogue))
	var ov Overview
	apiGetJSON(t, ra, APIPrefix+"overview", &ov)
	if ov.OperatorKey != rogue.Public().KeyID() || ov.OperatorKeyNamed || !ov.Actions || !ov.Policy {
		t.Fatalf("overview with a rogue key: %+v", ov)
	}
	fields := map[string]string{"release": id, "group": "line", "sia": "SIA-2026-042", "reason": "tested on the bench"}
	if code, b := apiDo(t, http.MethodPost, "http://"+ra.Addr()+APIPrefix+"authorise", apiToken, fields); code != http.StatusForbidden {
		t.Fatalf("decision signed by a key the policy does not name: %d %s, want 403", code, b)
	}
	if dev.hasDoc(slot) {
		t.Fatal("a decision signed by a rogue operator key is held")
	}
	if code, b := apiDo(t, http.MethodPost, "http://"+ra.Addr()+APIPrefix+"authorise", "", fields); code != http.StatusUnauthorized {
		t.Fatalf("fields without the token: %d %s, want 401", code, b)
	}

	a := serveAPI(t, dev, apiToken, WithOperatorKey(fx.o.op))
	apiGetJSON(t, a, APIPrefix+"overview", &ov)
	if !ov.OperatorKeyNamed {
		t.Fatalf("overview: the operator key should be named: %+v", ov)
	}
	if code, b := apiDo(t, http.MethodPost, "http://"+a.Addr()+APIPrefix+"authorise", apiToken, map[string]string{"release": "no version"}); code != http.StatusBadRequest {
		t.Fatalf("bad release field: %d %s, want 400", code, b)
	}
	code, b := apiDo(t, http.MethodPost, "http://"+a.Addr()+APIPrefix+"authorise", apiToken, fields)
	if code != http.StatusOK {
		t.Fatalf("decision from fields: %d %s", code, b)
	}
	var res ActionResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.SignedBy != "node" || res.Decision == nil || res.Decision.SIA != "SIA-2026-042" || res.Decision.Group != "line" || res.Decision.Seq == 0 {
		t.Fatalf("result %+v", res)
	}
	waitInstalled(t, dev, id)
	r := dev.Status().Releases[id]
	if r.SIA != "SIA-2026-042" {
		t.Fatalf("SIA in force %q", r.SIA)
	}
	// A second decision from fields gets a higher sequence number and
	// supersedes the first (a reject after the install is refused by the
	// lifecycle, but the document is valid and held).
	code, b = apiDo(t, http.MethodPost, "http://"+a.Addr()+APIPrefix+"reject", apiToken, map[string]string{"release": id, "group": "line", "reason": "second thoughts"})
	if code != http.StatusOK {
		t.Fatalf("second decision: %d %s", code, b)
	}
	var res2 ActionResult
	json.Unmarshal(b, &res2)
	if res2.Seq <= res.Seq {
		t.Fatalf("second decision seq %d not above %d", res2.Seq, res.Seq)
	}

	// Recalls signed by the node's release key (a supplier's seed).
	sa := serveAPI(t, fx.f.seed, apiToken, WithReleaseKey(fx.f.sup.rel))
	code, b = apiDo(t, http.MethodPost, "http://"+sa.Addr()+APIPrefix+"recall", apiToken, map[string]string{"release": id, "reason": "bricks rev A boards"})
	if code != http.StatusOK {
		t.Fatalf("recall from fields: %d %s", code, b)
	}
	waitFor(t, "the device holds the recall", 10*time.Second, func() bool { return dev.hasDoc("recall/" + id) })
}

// TestAPIReads: every read route answers from loopback without a token, and
// carries what the dashboard shows; other machines and rebound host names
// need the token; the dashboard is served with its security headers.
func TestAPIReads(t *testing.T) {
	o := writeOwnerPolicy(t, apiPolicy)
	f := newFleet(t, 0)
	dev := f.policyDevice(o, "line", nil)
	waitMesh(t, dev)
	at := f.clk.now()
	due := func(version string, deadline time.Time) []byte {
		b, err := csaf.New(csaf.Params{ID: "TSA-" + version, Title: "fix " + version, Product: "plc-fw", FixedVersion: version,
			CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Time: at, Initial: at.Add(-time.Hour), Deadline: deadline})
		if err != nil {
			t.Fatal(err)
		}
		return trust.SignWith(trust.TypeCSAF, b, f.sup.adv).Marshal()
	}
	rel := f.release(randomBytes(t, 200<<10), "2.0.0")
	f.announce(f.signRelease(rel), due("2.0.0", at.Add(-time.Hour)), due("2.1.0", at.Add(7*24*time.Hour)),
		f.advisory(trust.Release{Product: "plc-fw", Version: "2.2.0"}, 1, at))
	id := rel.ID()
	waitFor(t, "the device fetched and reported", 20*time.Second, func() bool {
		r := dev.Status().Releases[id]
		fr := dev.Status().Fleet[id]
		return r != nil && r.Fetched && fr != nil && fr.States["in-internal-test"] == 1
	})
	a := serveAPI(t, dev, apiToken)

	var advs []AdvisoryView
	apiGetJSON(t, a, APIPrefix+"advisories", &advs)
	if len(advs) != 3 || advs[0].ID != "TSA-2.0.0" || advs[1].ID != "TSA-2.1.0" || advs[2].ID != "TSA-2.2.0" {
		t.Fatalf("advisories not sorted by deadline: %+v", advs)
	}
	first := advs[0]
	if !first.Overdue || advs[1].Overdue || advs[2].Overdue || first.ReleaseID != id || first.Severity != "CRITICAL" ||
		first.BaseScore != 9.8 || !first.Applies || first.State != "in-internal-test" || len(first.AffectedProducts) == 0 || first.Fleet == nil {
		t.Fatalf("advisory view %+v", first)
	}

	var rels []ReleaseView
	apiGetJSON(t, a, APIPrefix+"releases", &rels)
	if len(rels) != 1 || rels[0].ID != id || !rels[0].Manifest || rels[0].Size != 200<<10 || rels[0].Local == nil || rels[0].Fleet == nil {
		t.Fatalf("releases %+v", rels)
	}
	l := rels[0].Local
	if l.Fetch.Percent != 100 || l.Fetch.BlocksTotal == 0 || l.Fetch.BlocksHeld != l.Fetch.BlocksTotal || l.State != policy.StateInInternalTest ||
		len(l.History) == 0 || l.Phase != policy.PhaseFetched || rels[0].Advisory != "TSA-2.0.0" {
		t.Fatalf("local progress %+v", l)
	}

	var fl FleetDetail
	apiGetJSON(t, a, APIPrefix+"fleet", &fl)
	if len(fl.Devices) != 1 || !fl.Devices[0].Self || fl.Devices[0].Group != "line" || fl.Releases[id] == nil || len(fl.Releases[id].Overdue) != 1 {
		t.Fatalf("fleet %+v", fl)
	}

	var pv PeersView
	apiGetJSON(t, a, APIPrefix+"peers", &pv)
	var self, seed bool
	for _, p := range pv.Peers {
		self = self || (p.Self && p.ID == dev.ID().String())
		seed = seed || (p.ID == f.seed.ID().String() && p.Connected && len(p.Addrs) > 0)
	}
	if !self || !seed {
		t.Fatalf("peers %+v", pv)
	}

	var av AuditView
	apiGetJSON(t, a, APIPrefix+"audit?release="+id+"&limit=1", &av)
	if av.Total == 0 || len(av.Records) != 1 || av.Records[0].Release != id {
		t.Fatalf("audit %+v", av)
	}
	if code, _ := apiDo(t, http.MethodGet, "http://"+a.Addr()+APIPrefix+"audit?limit=x", "", nil); code != http.StatusBadRequest {
		t.Fatalf("bad limit: %d", code)
	}
	var st Status
	apiGetJSON(t, a, APIPrefix+"status", &st)
	if st.PeerID != dev.ID().String() || st.Releases[id] == nil {
		t.Fatalf("status %+v", st)
	}
	var ov Overview
	apiGetJSON(t, a, APIPrefix+"overview", &ov)
	if ov.Advisories != 3 || ov.Overdue != 1 || ov.Devices != 1 || ov.Releases != 1 || ov.Group != "line" || ov.OperatorKey != "" || len(ov.Operators) != 1 {
		t.Fatalf("overview %+v", ov)
	}

	// With a roster, peers and devices carry their zone and role.
	roster, err := trust.SignRoster(trust.Roster{Fleet: "plant", Seq: 1, Issued: f.clk.now(), Members: []trust.Member{
		{Peer: dev.ID().String(), Zone: "cell", Role: trust.MemberDevice},
		{Peer: f.seed.ID().String(), Zone: "dmz", Role: trust.MemberSeed},
	}}, o.op)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Announce(t.Context(), roster.Marshal()); err != nil {
		t.Fatal(err)
	}
	apiGetJSON(t, a, APIPrefix+"peers", &pv)
	zones := map[string]string{}
	for _, p := range pv.Peers {
		if p.Enrolled {
			zones[p.ID] = p.Zone + "/" + p.Role
		}
	}
	if pv.Fleet != "plant" || zones[dev.ID().String()] != "cell/device" || zones[f.seed.ID().String()] != "dmz/seed" {
		t.Fatalf("peers with a roster: %+v", pv)
	}
	apiGetJSON(t, a, APIPrefix+"fleet", &fl)
	if fl.Devices[0].Zone != "cell" {
		t.Fatalf("device zone %+v", fl.Devices[0])
	}

	// Another machine, or a page whose host name was rebound to loopback,
	// needs the token.
	h := a.Handler()
	for _, c := range []struct {
		remote, host, token string
		want                int
	}{
		{"127.0.0.1:5000", "127.0.0.1:8480", "", http.StatusOK},
		{"[::1]:5000", "localhost:8480", "", http.StatusOK},
		{"10.1.2.3:5000", "10.1.2.1:8480", "", http.StatusUnauthorized},
		{"10.1.2.3:5000", "10.1.2.1:8480", "bad", http.StatusUnauthorized},
		{"10.1.2.3:5000", "10.1.2.1:8480", apiToken, http.StatusOK},
		{"127.0.0.1:5000", "evil.example:8480", "", http.StatusUnauthorized},
		{"127.0.0.1:5000", "evil.example:8480", apiToken, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/advisories", nil)
		req.RemoteAddr, req.Host = c.remote, c.host
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("GET from %s as %s with token %q: %d, want %d", c.remote, c.host, c.token, rec.Code, c.want)
		}
	}

	// The dashboard.
	for _, c := range []struct {
		method, path string
		want         int
		ctype        string
	}{
		{http.MethodGet, "/", http.StatusOK, "text/html"},
		{http.MethodGet, "/app.js", http.StatusOK, "text/javascript"},
		{http.MethodGet, "/style.css", http.StatusOK, "text/css"},
		{http.MethodGet, "/missing.js", http.StatusNotFound, ""},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, ""},
		{http.MethodGet, "/api/v1/nothing", http.StatusNotFound, "application/json"},
		{http.MethodDelete, "/api/v1/status", http.StatusNotFound, "application/json"},
	} {
		req, _ := http.NewRequest(c.method, "http://"+a.Addr()+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.want, c.ctype)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: security headers missing: %q", c.method, c.path, csp)
		}
		if c.path == "/" && c.want == http.StatusOK && !bytes.Contains(body, []byte(`src="app.js"`)) {
			t.Errorf("index.html does not load app.js")
		}
	}
}

// TestAPIToken: the token file is created with mode 0600 on first use and
// read back; a short token is refused.
func TestAPIToken(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "api.token")
	tok, err := LoadOrCreateAPIToken(p)
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q, %v", tok, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v", fi.Mode(), err)
	}
	again, err := LoadOrCreateAPIToken(p)
	if err != nil || again != tok {
		t.Fatalf("read back %q, %v", again, err)
	}
	short := filepath.Join(dir, "short.token")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, err := LoadOrCreateAPIToken(short); err == nil {
		t.Fatal("a 3-character token was accepted")
	}
}
