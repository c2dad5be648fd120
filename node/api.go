package node

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/tocsin-iiot/tocsin/internal/audit"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/dashboard"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// This file is the node's HTTP API and the dashboard behind it, for the
// operator's browser and scripts. It listens on TCP, unlike the control
// socket (control.go), so it has its own rules:
//
// Routes (JSON, under APIPrefix):
//
//	GET  /api/v1/status      the same Status as the control socket and status.json
//	GET  /api/v1/overview    this node, counts, trust freshness, what the API can sign
//	GET  /api/v1/advisories  advisories sorted by delivery deadline (AdvisoryView)
//	GET  /api/v1/releases    releases: manifest, fetch progress, lifecycle (ReleaseView)
//	GET  /api/v1/fleet       devices from the status reports, per-release counts (FleetDetail)
//	GET  /api/v1/peers       self, connected and reporting peers, zone from the roster (PeersView)
//	GET  /api/v1/audit       the node's audit records; ?release=ID, ?limit=N (default 200)
//	POST /api/v1/authorise   an operator decision (DecisionRequest) → ActionResult
//	POST /api/v1/reject      likewise
//	POST /api/v1/recall      a supplier recall (RecallRequest) → ActionResult
//	GET  /                   the dashboard (internal/dashboard)
//
// Access:
//
//   - Reads need no token only from the same machine: the peer address is a
//     loopback address and the Host header names a loopback host
//     (localhost, 127.0.0.0/8, ::1), which also defeats DNS rebinding.
//     Anything else needs the token.
//   - Every POST needs the token, "Authorization: Bearer TOKEN", else 401.
//     An API started without a token refuses every POST (401).
//   - The token is not a signature. What changes state are signed documents,
//     handed to Node.Announce, which verifies them exactly as it verifies
//     gossip: a decision against the owner policy's operator keys, a recall
//     against the trust root's release role. A document whose signature does
//     not verify, or whose signer the policy or root does not name, is
//     refused with 403 and nothing is stored or gossiped.
//   - A request may carry the signed envelope itself ({"envelope": {...}},
//     signed by `tocsin` or any DSSE signer with the operator's key), or
//     only the decision's fields; then the node signs them with the local
//     operator's key it was started with (WithOperatorKey, `--operator-key`),
//     on the operator's behalf: holding the token on this machine is then
//     holding that key's authority, so keep the token file 0600. Without
//     such a key a fields-only request is refused (409). Recalls are signed
//     the same way with WithReleaseKey (a supplier's seed).
//   - Responses carry a Content-Security-Policy that allows only the
//     dashboard's own same-origin files, no framing, and no caching of API
//     answers. No CORS headers are sent, so other origins can neither read
//     answers nor send the Authorization header.

// DefaultAPIAddr is where ServeAPI listens when addr is "".
const DefaultAPIAddr = "127.0.0.1:8480"

// APIPrefix is the path prefix of every API route.
const APIPrefix = "/api/v1/"

// maxAPIBody caps a request body: one envelope and a few fields.
const maxAPIBody = trust.MaxEnvelopeSize + 64<<10

// API is a node's HTTP API and dashboard server.
type API struct {
	n      *Node
	token  string
	opKey  *trust.PrivateKey // signs decisions on the local operator's behalf
	relKey *trust.PrivateKey // signs recalls (a supplier's seed)
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
	once   sync.Once

	seqMu   sync.Mutex
	lastSeq uint64
}

// APIOption configures ServeAPI.
type APIOption func(*API)

// WithOperatorKey lets the API sign operator decisions with k, on behalf of
// the local operator, when a request with the token carries only the
// decision's fields. k must be one of the owner policy's operator keys, or
// every such decision is refused (403) like any forgery.
func WithOperatorKey(k *trust.PrivateKey) APIOption { return func(a *API) { a.opKey = k } }

// WithReleaseKey lets the API sign recalls with k (a release-role key of the
// trust root) when a request with the token carries only the recall's
// fields. For a supplier's seed; a device should never hold it.
func WithReleaseKey(k *trust.PrivateKey) APIOption { return func(a *API) { a.relKey = k } }

// ServeAPI listens on addr (DefaultAPIAddr when "") and serves the HTTP API
// and the dashboard until Close or until the node stops. token is required
// on every state-changing request and on reads from other machines; ""
// disables every action. See the comment at the top of api.go.
func (n *Node) ServeAPI(addr string, token string, opts ...APIOption) (*API, error) {
	if addr == "" {
		addr = DefaultAPIAddr
	}
	a := n.newAPI(token, opts...)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	a.ln = ln
	a.srv = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() { _ = a.srv.Serve(ln) }()
	go func() {
		select {
		case <-n.ctx.Done():
			a.Close()
		case <-a.done:
		}
	}()
	signer := "none"
	if a.opKey != nil {
		signer = a.opKey.Public().KeyID()[:16]
	}
	n.log.Info("operator API and dashboard", "url", "http://"+ln.Addr().String()+"/", "actions", token != "", "operator_key", signer)
	if token == "" {
		n.log.Warn("the API has no token: every action is refused, and only this machine may read")
	}
	return a, nil
}

func (n *Node) newAPI(token string, opts ...APIOption) *API {
	a := &API{n: n, token: token, done: make(chan struct{})}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Addr is the address the API listens on, host:port.
func (a *API) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Close stops the server. It is safe to call twice.
func (a *API) Close() error {
	var err error
	a.once.Do(func() {
		close(a.done)
		if a.srv != nil {
			err = a.srv.Close()
		}
	})
	return err
}

// Handler is the API and dashboard as an http.Handler (ServeAPI serves it;
// tests may use it with httptest).
func (a *API) Handler() http.Handler {
	n := a.n
	mux := http.NewServeMux()
	read := func(path string, h http.HandlerFunc) { mux.Handle("GET "+APIPrefix+path, a.readAccess(h)) }
	read("status", n.apiStatus)
	read("overview", a.serveOverview)
	read("advisories", n.apiAdvisories)
	read("releases", n.apiReleases)
	read("fleet", n.apiFleet)
	read("peers", n.apiPeers)
	read("audit", n.apiAudit)
	mux.Handle("GET /metrics", a.readAccess(n.MetricsHandler()))
	mux.Handle("POST "+APIPrefix+"authorise", a.writeAccess(a.decisionHandler(trust.DecisionAuthorise)))
	mux.Handle("POST "+APIPrefix+"reject", a.writeAccess(a.decisionHandler(trust.DecisionReject)))
	mux.Handle("POST "+APIPrefix+"recall", a.writeAccess(http.HandlerFunc(a.serveRecall)))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path)
	})
	mux.Handle("/", dashboard.Handler())
	return securityHeaders(mux)
}

// contentSecurityPolicy allows the dashboard's own files and API only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// apiError writes {"error": msg}.
func apiError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin"`)
	}
	WriteJSON(w, code, map[string]string{"error": msg})
}

// hasToken reports whether r carries the API's token.
func (a *API) hasToken(r *http.Request) bool {
	if a.token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(a.token)) == 1
}

// local reports whether r comes from this machine and names a loopback host
// (a page on another origin resolved to 127.0.0.1 names its own host).
func local(r *http.Request) bool {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return false
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.Trim(strings.ToLower(host), "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (a *API) readAccess(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.hasToken(r) && !local(r) {
			apiError(w, http.StatusUnauthorized, "reading from another machine needs the API token (Authorization: Bearer TOKEN)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *API) writeAccess(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case a.token == "":
			apiError(w, http.StatusUnauthorized, "actions are disabled: the API was started without a token")
			return
		case !a.hasToken(r):
			apiError(w, http.StatusUnauthorized, "missing or wrong API token (Authorization: Bearer TOKEN)")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
		h.ServeHTTP(w, r)
	})
}

// LoadOrCreateAPIToken reads the API token from path (surrounding white
// space trimmed). If the file does not exist it is created, mode 0600, with
// a random 256-bit token in hex. A token shorter than 16 characters is
// refused.
func LoadOrCreateAPIToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("api token: %w", err)
		}
		tok := hex.EncodeToString(raw[:])
		if err := fsutil.WriteNew(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("api token: %w", err)
		}
		return tok, nil
	}
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("api token in %s: want one word of at least 16 characters", path)
	}
	return tok, nil
}

// ---- reads ----

func (n *Node) apiStatus(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, n.Status())
}

// Overview is the dashboard's header: this node, counts, the trust state's
// freshness, and what the API can sign.
type Overview struct {
	PeerID     string            `json:"peer_id"`
	Role       Role              `json:"role"`
	Group      string            `json:"group,omitempty"`
	Products   map[string]string `json:"products"`
	Peers      int               `json:"peers"`   // connected now
	Devices    int               `json:"devices"` // status reports held
	Advisories int               `json:"advisories"`
	Overdue    int               `json:"overdue"` // advisories past their deadline, not delivered
	Releases   int               `json:"releases"`
	Trust      TrustStatus       `json:"trust"`
	// Policy is true when the node has an owner policy; Operators are its
	// operator key ids.
	Policy    bool     `json:"policy"`
	Operators []string `json:"operators,omitempty"`
	// Actions is true when the API has a token (POSTs can succeed).
	Actions bool `json:"actions"`
	// OperatorKey is the id of the key the node signs decisions with on
	// the local operator's behalf ("" = none: send signed envelopes);
	// OperatorKeyNamed says whether the owner policy names it.
	OperatorKey      string    `json:"operator_key,omitempty"`
	OperatorKeyNamed bool      `json:"operator_key_named"`
	ReleaseKey       string    `json:"release_key,omitempty"`
	Time             time.Time `json:"time"`
}

func (a *API) serveOverview(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, a.Overview())
}

// Overview returns the dashboard's header data.
func (a *API) Overview() Overview {
	n := a.n
	advs := n.AdvisoryViews()
	st := n.Status()
	o := Overview{PeerID: st.PeerID, Role: st.Role, Group: st.Group, Products: st.Products, Peers: st.Peers,
		Advisories: len(advs), Trust: st.Trust, Actions: a.token != "", Time: st.UpdatedAt}
	for _, v := range advs {
		if v.Overdue {
			o.Overdue++
		}
	}
	n.mu.Lock()
	o.Devices = len(n.fleet)
	o.Policy = n.owner != nil
	for _, d := range n.docs {
		if d.Release != nil {
			o.Releases++
		}
	}
	for _, k := range n.operators {
		o.Operators = append(o.Operators, k.KeyID())
		if a.opKey != nil && k.KeyID() == a.opKey.Public().KeyID() {
			o.OperatorKeyNamed = true
		}
	}
	n.mu.Unlock()
	if a.opKey != nil {
		o.OperatorKey = a.opKey.Public().KeyID()
	}
	if a.relKey != nil {
		o.ReleaseKey = a.relKey.Public().KeyID()
	}
	return o
}

// AdvisoryView is one advisory as the API shows it: the supplier's signed
// statement and where its release stands here and in the fleet.
type AdvisoryView struct {
	ID           string    `json:"id"`
	Title        string    `json:"title"`
	Product      string    `json:"product"`
	FixedVersion string    `json:"fixed_version"`
	ReleaseID    string    `json:"release_id"`
	Severity     string    `json:"severity,omitempty"`
	CVSS         string    `json:"cvss,omitempty"`
	BaseScore    float64   `json:"base_score"`
	CVEs         []string  `json:"cves,omitempty"`
	Published    time.Time `json:"published"`
	Revision     string    `json:"revision,omitempty"`
	// Deadline is the SUM-5 delivery deadline (zero: none); Overdue is
	// true once it passed and the release is not installed here or on a
	// device of the fleet view.
	Deadline time.Time `json:"deadline,omitzero"`
	Overdue  bool      `json:"overdue"`
	// AffectedProducts are the product names in the CSAF product tree.
	AffectedProducts []string `json:"affected_products"`
	// Applies is true when this device runs an affected version.
	Applies bool `json:"applies"`
	// State is this device's lifecycle state of the release ("" = none);
	// Authorisation says why, SIA is the reference in force.
	State         string         `json:"state,omitempty"`
	Authorisation string         `json:"authorisation,omitempty"`
	SIA           string         `json:"sia,omitempty"`
	Recalled      bool           `json:"recalled,omitempty"`
	Decisions     []DecisionView `json:"decisions,omitempty"`
	Fleet         *FleetRelease  `json:"fleet,omitempty"`
}

// DecisionView is an operator decision held, with its signer's key id.
type DecisionView struct {
	trust.Decision
	Signer string `json:"signer"`
}

func (n *Node) apiAdvisories(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, n.AdvisoryViews())
}

// AdvisoryViews returns every advisory held, soonest deadline first (those
// without a deadline last).
func (n *Node) AdvisoryViews() []AdvisoryView {
	type held struct {
		adv     trust.Advisory
		payload []byte
	}
	now := n.now()
	n.mu.Lock()
	dev := n.device()
	fleet := n.fleetView(now)
	var advs []held
	for _, d := range n.docs {
		if d.Advisory != nil {
			advs = append(advs, held{*d.Advisory, d.Envelope.Payload})
		}
	}
	out := make([]AdvisoryView, 0, len(advs))
	for _, h := range advs {
		a := h.adv
		v := AdvisoryView{ID: a.ID, Title: a.Title, Product: a.Product, FixedVersion: a.FixedVersion, ReleaseID: a.ReleaseID,
			Severity: a.Severity, CVSS: a.CVSS, BaseScore: a.BaseScore, CVEs: a.CVEs, Published: a.Published,
			Revision: a.Revision, Deadline: a.Deadline, Applies: policy.Applies(dev, a), Fleet: fleet[a.ReleaseID]}
		_, v.Recalled = n.docs["recall/"+a.ReleaseID]
		st := n.progress[a.ReleaseID]
		if st != nil && st.Lifecycle.State != 0 {
			v.State, v.Authorisation, v.SIA = st.Lifecycle.State.String(), st.Auth, st.SIA
			if v.Deadline.IsZero() {
				v.Deadline = st.Deadline
			}
		}
		for _, d := range n.docs {
			if d.Decision != nil && d.Decision.Release == a.ReleaseID {
				dv := DecisionView{Decision: *d.Decision}
				if len(d.Signers) > 0 {
					dv.Signer = d.Signers[0]
				}
				v.Decisions = append(v.Decisions, dv)
			}
		}
		sort.Slice(v.Decisions, func(i, j int) bool { return v.Decisions[i].Issued.Before(v.Decisions[j].Issued) })
		if !v.Deadline.IsZero() && now.After(v.Deadline) && !v.Recalled {
			switch {
			case v.Fleet != nil && len(v.Fleet.Overdue) > 0:
				v.Overdue = true
			case st != nil && st.Lifecycle.State != 0:
				v.Overdue = st.Lifecycle.State != policy.StateInstalled
			case v.Fleet == nil:
				v.Overdue = v.Applies || n.cfg.Role == RoleSeed
			}
		}
		out = append(out, v)
	}
	n.mu.Unlock()
	for i := range out { // CSAF parsing outside the lock
		out[i].AffectedProducts = []string{}
		for _, h := range advs {
			if h.adv.ID != out[i].ID {
				continue
			}
			if s, err := csaf.Inspect(h.payload); err == nil {
				for _, p := range s.Products {
					if p.Name != "" {
						out[i].AffectedProducts = append(out[i].AffectedProducts, p.Name)
					}
				}
			}
		}
		if len(out[i].AffectedProducts) == 0 {
			out[i].AffectedProducts = append(out[i].AffectedProducts, out[i].Product)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		di, dj := out[i].Deadline, out[j].Deadline
		switch {
		case di.IsZero() != dj.IsZero():
			return dj.IsZero()
		case !di.Equal(dj):
			return di.Before(dj)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// ReleaseView is one release: the signed manifest, this device's progress
// and lifecycle, and the fleet view.
type ReleaseView struct {
	ID        string    `json:"id"`
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256,omitempty"`
	RootCID   string    `json:"root_cid,omitempty"`
	ChunkSize int       `json:"chunk_size,omitempty"`
	Seq       uint64    `json:"seq,omitempty"`
	Published time.Time `json:"published,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	// DeltaFrom is the version a delta of this release applies to.
	DeltaFrom    string `json:"delta_from,omitempty"`
	Advisory     string `json:"advisory,omitempty"`
	Recalled     bool   `json:"recalled,omitempty"`
	RecallReason string `json:"recall_reason,omitempty"`
	// Manifest is false for progress left from a manifest no longer held.
	Manifest bool          `json:"manifest"`
	Local    *LocalRelease `json:"local,omitempty"`
	Fleet    *FleetRelease `json:"fleet,omitempty"`
}

// LocalRelease is a release's progress and lifecycle on this device.
type LocalRelease struct {
	Phase         policy.Phase    `json:"phase"`
	Fetched       bool            `json:"fetched"`
	Fetch         FetchProgress   `json:"fetch"`
	State         policy.State    `json:"state,omitempty"`
	History       []policy.Record `json:"history,omitempty"`
	Authorisation string          `json:"authorisation,omitempty"`
	SIA           string          `json:"sia,omitempty"`
	Gate          string          `json:"gate,omitempty"`
	Error         string          `json:"error,omitempty"`
	Attempts      int             `json:"attempts,omitempty"`
	Wave          int             `json:"wave"`
	Deadline      time.Time       `json:"deadline,omitzero"`
	StartedAt     time.Time       `json:"started_at,omitzero"`
	FetchedAt     time.Time       `json:"fetched_at,omitzero"`
	InstalledAt   time.Time       `json:"installed_at,omitzero"`
}

// FetchProgress is the DAG fetch as far as it went. The DAG is discovered
// level by level, so BlocksTotal grows; Percent is an estimate from the
// bytes held against the signed size (100 once the file is verified).
type FetchProgress struct {
	BlocksTotal     int              `json:"blocks_total"`
	BlocksHeld      int              `json:"blocks_held"`
	BlocksFetched   int              `json:"blocks_fetched"`
	BytesFetched    int64            `json:"bytes_fetched"`
	Percent         float64          `json:"percent"`
	DurationSeconds float64          `json:"duration_seconds"`
	Delta           bool             `json:"delta,omitempty"`
	BytesByPeer     map[string]int64 `json:"bytes_by_peer,omitempty"`
}

func (n *Node) apiReleases(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, n.ReleaseViews())
}

// ReleaseViews returns every release whose manifest or recall is held, or
// that has progress here or in the fleet view, by ID.
func (n *Node) ReleaseViews() []ReleaseView {
	n.mu.Lock()
	defer n.mu.Unlock()
	fleet := n.fleetView(n.now())
	byID := map[string]*ReleaseView{}
	get := func(id string) *ReleaseView {
		v := byID[id]
		if v == nil {
			prod, ver, _ := strings.Cut(id, "@")
			v = &ReleaseView{ID: id, Product: prod, Version: ver, Fleet: fleet[id]}
			byID[id] = v
		}
		return v
	}
	for _, d := range n.docs {
		switch {
		case d.Release != nil:
			r := d.Release
			v := get(r.ID())
			v.Manifest, v.Size, v.SHA256, v.RootCID, v.ChunkSize = true, r.Size, r.SHA256, r.RootCID, r.ChunkSize
			v.Seq, v.Published, v.Expires = r.Seq, r.Published, r.Expires
			if r.Delta != nil {
				v.DeltaFrom = r.Delta.From
			}
		case d.Recall != nil:
			v := get(d.Recall.ReleaseID())
			v.Recalled, v.RecallReason = true, d.Recall.Reason
		}
	}
	for id, st := range n.progress {
		v := get(id)
		l := &LocalRelease{Phase: st.Phase, Fetched: st.Fetched, State: st.Lifecycle.State,
			History: append([]policy.Record(nil), st.Lifecycle.History...), Authorisation: st.Auth, SIA: st.SIA,
			Gate: st.Gate, Error: st.Error, Attempts: st.Attempts, Wave: st.Wave, Deadline: st.Deadline,
			StartedAt: st.StartedAt, FetchedAt: st.FetchedAt, InstalledAt: st.InstalledAt}
		f := st.Fetch
		l.Fetch = FetchProgress{BlocksTotal: f.BlocksTotal, BlocksHeld: f.BlocksPresent + f.BlocksFetched, BlocksFetched: f.BlocksFetched,
			BytesFetched: f.BytesFetched, DurationSeconds: f.DurationSeconds, Delta: f.Delta, BytesByPeer: f.BytesByPeer}
		switch {
		case st.Fetched:
			l.Fetch.Percent = 100
		case v.Size > 0:
			held := f.BytesFetched + int64(f.BlocksPresent)*int64(max(v.ChunkSize, 0))
			l.Fetch.Percent = min(99, float64(held)*100/float64(v.Size))
		}
		v.Local = l
	}
	for id, fr := range fleet {
		get(id).Fleet = fr
	}
	for _, d := range n.docs { // an advisory alone (no manifest yet) is no release
		if d.Advisory != nil && byID[d.Advisory.ReleaseID] != nil {
			byID[d.Advisory.ReleaseID].Advisory = d.Advisory.ID
		}
	}
	out := make([]ReleaseView, 0, len(byID))
	for _, v := range byID {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FleetDetail is the fleet as this node knows it from the status reports.
type FleetDetail struct {
	Devices  []DeviceView             `json:"devices"`
	Releases map[string]*FleetRelease `json:"releases"`
	Time     time.Time                `json:"time"`
}

// DeviceView is one device's newest status report, with its zone from the
// roster and whether this node is connected to it.
type DeviceView struct {
	Device     string                   `json:"device"`
	Self       bool                     `json:"self,omitempty"`
	Group      string                   `json:"group,omitempty"`
	Zone       string                   `json:"zone,omitempty"`
	Connected  bool                     `json:"connected"`
	Reported   time.Time                `json:"reported"`
	AgeSeconds float64                  `json:"age_seconds"`
	Products   map[string]string        `json:"products"`
	Releases   map[string]ReleaseReport `json:"releases"`
}

func (n *Node) apiFleet(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, n.FleetDetail())
}

// FleetDetail returns the fleet view with one row per device.
func (n *Node) FleetDetail() FleetDetail {
	now := n.now()
	conn := n.connected()
	n.mu.Lock()
	defer n.mu.Unlock()
	roster := n.rosterLocked()
	out := FleetDetail{Releases: n.fleetView(now), Devices: []DeviceView{}, Time: now.UTC()}
	for id, r := range n.fleet {
		d := DeviceView{Device: id, Self: id == n.host.ID().String(), Group: r.Group, Connected: conn[id], Reported: r.Time,
			AgeSeconds: max(0, now.Sub(r.Time).Seconds()), Products: r.Products, Releases: r.Releases}
		if m, ok := roster.Member(id); ok {
			d.Zone = m.Zone
		}
		out.Devices = append(out.Devices, d)
	}
	sort.Slice(out.Devices, func(i, j int) bool { return out.Devices[i].Device < out.Devices[j].Device })
	return out
}

// connected returns the peers the host has a connection to.
func (n *Node) connected() map[string]bool {
	out := map[string]bool{}
	if n.host == nil {
		return out
	}
	for _, p := range n.host.Network().Peers() {
		if n.host.Network().Connectedness(p) == network.Connected {
			out[p.String()] = true
		}
	}
	return out
}

// PeersView is this node, the peers it is connected to and the devices it
// has reports from, each with its zone from the roster.
type PeersView struct {
	Fleet     string     `json:"fleet,omitempty"` // the roster's fleet name
	RosterSeq uint64     `json:"roster_seq,omitempty"`
	Peers     []PeerView `json:"peers"`
}

// PeerView is one peer.
type PeerView struct {
	ID        string   `json:"id"`
	Self      bool     `json:"self,omitempty"`
	Connected bool     `json:"connected"`
	Addrs     []string `json:"addrs,omitempty"`
	// Zone, Role and Conduits are from the roster; Enrolled is false for a
	// peer it does not list (or with no roster), Revoked for one it revokes.
	Zone     string   `json:"zone,omitempty"`
	Role     string   `json:"role,omitempty"`
	Conduits []string `json:"conduits,omitempty"`
	Enrolled bool     `json:"enrolled"`
	Revoked  bool     `json:"revoked,omitempty"`
	// Group and Reported are from its status report, if any.
	Group    string    `json:"group,omitempty"`
	Reported time.Time `json:"reported,omitzero"`
}

func (n *Node) apiPeers(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, n.PeerViews())
}

// PeerViews returns this node, its connected peers and the devices it has
// reports from, sorted by zone then ID.
func (n *Node) PeerViews() PeersView {
	byID := map[string]*PeerView{}
	self := n.host.ID().String()
	byID[self] = &PeerView{ID: self, Self: true, Connected: true, Addrs: n.Addrs()}
	for _, p := range n.host.Network().Peers() {
		v := &PeerView{ID: p.String(), Connected: n.host.Network().Connectedness(p) == network.Connected}
		seen := map[string]bool{}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			if a := c.RemoteMultiaddr().String(); !seen[a] {
				seen[a] = true
				v.Addrs = append(v.Addrs, a)
			}
		}
		sort.Strings(v.Addrs)
		byID[v.ID] = v
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out PeersView
	roster := n.rosterLocked()
	if roster != nil {
		out.Fleet, out.RosterSeq = roster.Fleet, roster.Seq
	}
	for id, r := range n.fleet {
		v := byID[id]
		if v == nil {
			v = &PeerView{ID: id}
			byID[id] = v
		}
		v.Group, v.Reported = r.Group, r.Time
	}
	out.Peers = make([]PeerView, 0, len(byID))
	for id, v := range byID {
		if m, ok := roster.Member(id); ok {
			v.Zone, v.Role, v.Conduits, v.Enrolled = m.Zone, m.Role, m.Conduits, true
		}
		v.Revoked = roster.IsRevoked(id)
		out.Peers = append(out.Peers, *v)
	}
	sort.Slice(out.Peers, func(i, j int) bool {
		if out.Peers[i].Zone != out.Peers[j].Zone {
			return out.Peers[i].Zone < out.Peers[j].Zone
		}
		return out.Peers[i].ID < out.Peers[j].ID
	})
	return out
}

// AuditView is a page of the node's audit log.
type AuditView struct {
	// Total is the number of records that match; Records are the last
	// Limit of them, in sequence order.
	Total   int            `json:"total"`
	Records []audit.Record `json:"records"`
}

func (n *Node) apiAudit(w http.ResponseWriter, r *http.Request) {
	limit := 200
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			apiError(w, http.StatusBadRequest, "limit: want a positive number")
			return
		}
		limit = min(v, 10000)
	}
	view, err := n.AuditRecords(r.Context(), r.URL.Query().Get("release"), limit)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, view)
}

// AuditRecords returns the last limit audit records (of release, if not
// ""). A seed keeps no audit log: it has none.
func (n *Node) AuditRecords(ctx context.Context, release string, limit int) (AuditView, error) {
	view := AuditView{Records: []audit.Record{}}
	if n.audit == nil {
		return view, nil
	}
	recs, err := n.audit.Records(ctx)
	if err != nil {
		return view, fmt.Errorf("audit log: %w", err)
	}
	for _, r := range recs {
		if release == "" || r.Release == release {
			view.Records = append(view.Records, r)
		}
	}
	view.Total = len(view.Records)
	if limit > 0 && len(view.Records) > limit {
		view.Records = view.Records[len(view.Records)-limit:]
	}
	return view, nil
}

// ---- actions ----

// DecisionRequest is the body of POST /api/v1/authorise and /reject:
// either Envelope, an operator decision signed elsewhere (its action must
// match the route), or the decision's fields, which the node signs with the
// local operator's key (WithOperatorKey).
type DecisionRequest struct {
	Envelope json.RawMessage `json:"envelope,omitempty"`
	Release  string          `json:"release,omitempty"` // product@version
	Group    string          `json:"group,omitempty"`   // "" = every group
	SIA      string          `json:"sia,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

// RecallRequest is the body of POST /api/v1/recall: either Envelope, a
// recall signed by a release-role key, or the fields, which the node signs
// with its release key (WithReleaseKey).
type RecallRequest struct {
	Envelope json.RawMessage `json:"envelope,omitempty"`
	Release  string          `json:"release,omitempty"` // product@version
	Reason   string          `json:"reason,omitempty"`
}

// ActionResult is the answer to an accepted action: the document the node
// verified, stored and gossiped.
type ActionResult struct {
	Document string          `json:"document"`
	Seq      uint64          `json:"seq"`
	Signers  []string        `json:"signers"`
	SignedBy string          `json:"signed_by"` // "client" or "node"
	Decision *trust.Decision `json:"decision,omitempty"`
	Recall   *trust.Recall   `json:"recall,omitempty"`
}

// decodeAction reads a request body strictly.
func decodeAction(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	if dec.More() {
		return errors.New("bad request: trailing data")
	}
	return nil
}

// clientEnvelope parses an envelope a client signed and checks its payload
// type; the payload is decoded (unverified) into v for the route's checks.
// Announce verifies it.
func clientEnvelope(raw json.RawMessage, payloadType string, v any) ([]byte, error) {
	env, err := trust.ParseEnvelope(raw)
	if err != nil {
		return nil, err
	}
	if env.PayloadType != payloadType {
		return nil, fmt.Errorf("%w %q, want %q", trust.ErrPayloadType, env.PayloadType, payloadType)
	}
	if err := json.Unmarshal(env.Payload, v); err != nil {
		return nil, fmt.Errorf("%w: %w", trust.ErrInvalidDocument, err)
	}
	return env.Marshal(), nil
}

func (a *API) decisionHandler(action string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req DecisionRequest
		if err := decodeAction(r, &req); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		var data []byte
		by := "client"
		if len(req.Envelope) > 0 {
			if req.Release != "" || req.Group != "" || req.SIA != "" || req.Reason != "" {
				apiError(w, http.StatusBadRequest, "send either a signed envelope or the decision's fields, not both")
				return
			}
			var d trust.Decision
			var err error
			if data, err = clientEnvelope(req.Envelope, trust.TypeDecision, &d); err != nil {
				apiError(w, announceStatus(err), err.Error())
				return
			}
			if d.Action != action {
				apiError(w, http.StatusBadRequest, fmt.Sprintf("the envelope is a %q decision; POST it to %s%s", d.Action, APIPrefix, d.Action))
				return
			}
		} else {
			if a.opKey == nil {
				apiError(w, http.StatusConflict, "this node holds no operator key: send a decision signed with the operator's key ({\"envelope\": ...})")
				return
			}
			now := a.n.now().UTC()
			d := trust.Decision{Action: action, Release: strings.TrimSpace(req.Release), Group: strings.TrimSpace(req.Group),
				SIA: strings.TrimSpace(req.SIA), Reason: strings.TrimSpace(req.Reason), Issued: now}
			d.Seq = a.nextSeq(d.Slot(), now)
			env, err := trust.SignDecision(d, a.opKey)
			if err != nil {
				apiError(w, http.StatusBadRequest, err.Error())
				return
			}
			data, by = env.Marshal(), "node"
		}
		a.announce(w, r, action, by, data)
	})
}

func (a *API) serveRecall(w http.ResponseWriter, r *http.Request) {
	var req RecallRequest
	if err := decodeAction(r, &req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	var data []byte
	by := "client"
	if len(req.Envelope) > 0 {
		if req.Release != "" || req.Reason != "" {
			apiError(w, http.StatusBadRequest, "send either a signed envelope or the recall's fields, not both")
			return
		}
		var rc trust.Recall
		var err error
		if data, err = clientEnvelope(req.Envelope, trust.TypeRecall, &rc); err != nil {
			apiError(w, announceStatus(err), err.Error())
			return
		}
	} else {
		if a.relKey == nil {
			apiError(w, http.StatusConflict, "this node holds no release key: send a recall signed with a release key ({\"envelope\": ...})")
			return
		}
		prod, ver, ok := strings.Cut(strings.TrimSpace(req.Release), "@")
		if !ok || strings.TrimSpace(req.Reason) == "" {
			apiError(w, http.StatusBadRequest, "a recall needs release (product@version) and reason")
			return
		}
		now := a.n.now().UTC()
		rc := trust.Recall{Product: prod, Version: ver, Reason: strings.TrimSpace(req.Reason), Published: now, Expires: now.AddDate(10, 0, 0)}
		rc.Seq = a.nextSeq("recall/"+rc.ReleaseID(), now)
		env, err := trust.SignRecall(rc, a.relKey)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		data, by = env.Marshal(), "node"
	}
	a.announce(w, r, "recall", by, data)
}

// nextSeq is a sequence number for a new document in slot: the time in
// milliseconds (as the CLI uses), above what the node trusts in the slot and
// above the last one this API issued.
func (a *API) nextSeq(slot string, now time.Time) uint64 {
	seq := uint64(now.UnixMilli())
	a.n.mu.Lock()
	if m := a.n.trust.Marks[slot]; m.Seq >= seq {
		seq = m.Seq + 1
	}
	a.n.mu.Unlock()
	a.seqMu.Lock()
	defer a.seqMu.Unlock()
	if seq <= a.lastSeq {
		seq = a.lastSeq + 1
	}
	a.lastSeq = seq
	return seq
}

// announce hands a signed document to the node, which verifies, stores and
// gossips it, and answers with the result or the mapped refusal.
func (a *API) announce(w http.ResponseWriter, r *http.Request, action, by string, data []byte) {
	n := a.n
	doc, err := n.Announce(r.Context(), data)
	if err != nil {
		code := announceStatus(err)
		n.log.Warn("api: action refused", "action", action, "signed_by", by, "remote", r.RemoteAddr, "status", code, "err", err)
		apiError(w, code, err.Error())
		return
	}
	res := ActionResult{Document: doc.Key(), Seq: doc.Seq(), Signers: doc.Signers, SignedBy: by, Decision: doc.Decision, Recall: doc.Recall}
	if res.Signers == nil {
		res.Signers = []string{}
	}
	n.log.Info("api: action accepted", "action", action, "doc", res.Document, "seq", res.Seq, "signed_by", by, "remote", r.RemoteAddr)
	WriteJSON(w, http.StatusOK, res)
}

// announceStatus maps Announce's errors to HTTP: a signature that does not
// verify or a signer without the authority → 403; malformed → 400; valid
// but not acceptable now (older, conflicting, expired, no operator keys to
// judge it) → 409.
func announceStatus(err error) int {
	for _, e := range []error{trust.ErrUnsigned, trust.ErrUnknownKey, trust.ErrBadSig, trust.ErrWrongRole, trust.ErrKeyNotAllowed, trust.ErrThreshold} {
		if errors.Is(err, e) {
			return http.StatusForbidden
		}
	}
	for _, e := range []error{trust.ErrMalformed, trust.ErrPayloadType, trust.ErrInvalidDocument, trust.ErrBadIdentifier} {
		if errors.Is(err, e) {
			return http.StatusBadRequest
		}
	}
	for _, e := range []error{trust.ErrRollback, trust.ErrConflict, trust.ErrExpired, trust.ErrDuplicate, errNoOperators} {
		if errors.Is(err, e) {
			return http.StatusConflict
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}
