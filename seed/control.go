package seed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tocsin-iiot/tocsin/node"
)

// SocketName is the control socket's file name in the seed's data dir.
const SocketName = "control.sock"

// ErrNoSeed means no seed answers on the data dir's control socket.
var ErrNoSeed = errors.New("no seed is running")

// PublishRequest is what the publishing CLI hands to the seed.
type PublishRequest struct {
	File      string          `json:"file"`
	ChunkSize int             `json:"chunk_size"`
	Release   json.RawMessage `json:"release"`
	Advisory  json.RawMessage `json:"advisory"`
}

// Result describes a published release.
type Result struct {
	ReleaseID string `json:"release_id"`
	RootCID   string `json:"root_cid"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
}

type controlServer struct {
	n   *node.Node
	srv *http.Server
	ln  net.Listener
}

func startControl(n *node.Node, dataDir string) (*controlServer, error) {
	path := filepath.Join(dataDir, SocketName)
	if c := NewClient(dataDir); c.Alive(context.Background()) {
		return nil, fmt.Errorf("a seed is already running on %s", dataDir)
	}
	_ = os.Remove(path) // stale socket from a killed seed
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	cs := &controlServer{n: n, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/publish", cs.publish)
	mux.HandleFunc("POST /v1/announce", cs.announce)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, n.Status()) })
	cs.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = cs.srv.Serve(ln) }()
	return cs, nil
}

func (cs *controlServer) close() { _ = cs.srv.Close() }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (cs *controlServer) publish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return
	}
	res, err := cs.do(r.Context(), req)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// AnnounceRequest hands the seed signed documents to verify and gossip:
// roots (rotations, revocations), recalls, re-signed manifests.
type AnnounceRequest struct {
	Envelopes []json.RawMessage `json:"envelopes"`
}

// AnnounceResult lists the keys of the announced documents.
type AnnounceResult struct {
	Documents []string `json:"documents"`
}

func (cs *controlServer) announce(w http.ResponseWriter, r *http.Request) {
	var req AnnounceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return
	}
	var res AnnounceResult
	for i, e := range req.Envelopes {
		doc, err := cs.n.Announce(r.Context(), e)
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": fmt.Sprintf("document %d: %v", i+1, err)})
			return
		}
		res.Documents = append(res.Documents, doc.Key())
	}
	writeJSON(w, http.StatusOK, res)
}

// do verifies both envelopes, imports the file and checks it against the
// signed manifest before anything is announced.
func (cs *controlServer) do(ctx context.Context, req PublishRequest) (Result, error) {
	relDoc, err := cs.n.Open(req.Release)
	if err != nil {
		return Result{}, fmt.Errorf("release manifest: %w", err)
	}
	advDoc, err := cs.n.Open(req.Advisory)
	if err != nil {
		return Result{}, fmt.Errorf("advisory: %w", err)
	}
	if relDoc.Release == nil || advDoc.Advisory == nil {
		return Result{}, fmt.Errorf("want a release manifest and an advisory")
	}
	rel := relDoc.Release
	if advDoc.Advisory.ReleaseID != rel.ID() {
		return Result{}, fmt.Errorf("advisory points at %s, not %s", advDoc.Advisory.ReleaseID, rel.ID())
	}
	if err := cs.n.ImportRelease(ctx, req.File, *rel); err != nil {
		return Result{}, err
	}
	if _, err := cs.n.Announce(ctx, req.Release); err != nil {
		return Result{}, err
	}
	if _, err := cs.n.Announce(ctx, req.Advisory); err != nil {
		return Result{}, err
	}
	return Result{ReleaseID: rel.ID(), RootCID: rel.RootCID, SHA256: rel.SHA256, Size: rel.Size}, nil
}

// Client talks to a seed's control socket.
type Client struct {
	dataDir string
	hc      *http.Client
}

// NewClient returns a client for the seed whose data dir is dataDir.
func NewClient(dataDir string) *Client {
	path := filepath.Join(dataDir, SocketName)
	return &Client{dataDir: dataDir, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Alive reports whether a seed answers.
func (c *Client) Alive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	return err == nil
}

// Status returns the seed's status.
func (c *Client) Status(ctx context.Context) (node.Status, error) {
	var st node.Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Announce hands signed documents to the seed, which verifies and gossips
// them, and returns their keys.
func (c *Client) Announce(ctx context.Context, envelopes ...[]byte) ([]string, error) {
	req := AnnounceRequest{}
	for _, e := range envelopes {
		req.Envelopes = append(req.Envelopes, e)
	}
	var res AnnounceResult
	if err := c.call(ctx, http.MethodPost, "/v1/announce", req, &res); err != nil {
		return nil, err
	}
	return res.Documents, nil
}

// Publish hands a signed release and advisory to the seed.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (Result, error) {
	var res Result
	err := c.call(ctx, http.MethodPost, "/v1/publish", req, &res)
	return res, err
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://seed"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w on %s: %w", ErrNoSeed, c.dataDir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		return fmt.Errorf("seed refused: %s", e.Error)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}
