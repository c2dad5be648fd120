package node

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
)

// SocketName is the control socket's file name in a node's data dir. Only
// the node's own user can open it (mode 0600): it is how the CLI on the same
// machine hands the node signed documents and reads its status.
const SocketName = "control.sock"

// ErrNotRunning means no node answers on the data dir's control socket.
var ErrNotRunning = errors.New("no node is running")

// AnnounceRequest hands a node signed documents to verify, store and gossip:
// roots, recalls, operator decisions, re-signed manifests.
type AnnounceRequest struct {
	Envelopes []json.RawMessage `json:"envelopes"`
}

// AnnounceResult lists the keys of the announced documents.
type AnnounceResult struct {
	Documents []string `json:"documents"`
}

// Control is a node's control socket server.
type Control struct {
	srv *http.Server
	ln  net.Listener
}

// ServeControl opens <dataDir>/control.sock with GET /v1/status and POST
// /v1/announce, plus whatever routes extra adds (the seed's publish).
func (n *Node) ServeControl(extra func(*http.ServeMux)) (*Control, error) {
	dir := n.cfg.Resolve(n.cfg.DataDir)
	path := filepath.Join(dir, SocketName)
	if c := NewControlClient(dir); c.Alive(context.Background()) {
		return nil, fmt.Errorf("a node is already running on %s", dir)
	}
	_ = os.Remove(path) // stale socket from a killed node
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusOK, n.Status()) })
	mux.HandleFunc("POST /v1/announce", n.serveAnnounce)
	mux.HandleFunc("POST /v1/import", n.serveImport)
	mux.HandleFunc("POST /v1/export", n.serveExport)
	mux.Handle("GET /metrics", n.MetricsHandler())
	if extra != nil {
		extra(mux)
	}
	c := &Control{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// Close stops the control socket.
func (c *Control) Close() error { return c.srv.Close() }

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeBody reads a small JSON request body.
func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	return nil
}

func (n *Node) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	var req AnnounceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req); err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return
	}
	var res AnnounceResult
	for i, e := range req.Envelopes {
		doc, err := n.Announce(r.Context(), e)
		if err != nil {
			WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": fmt.Sprintf("document %d: %v", i+1, err)})
			return
		}
		res.Documents = append(res.Documents, doc.Key())
	}
	WriteJSON(w, http.StatusOK, res)
}

// ControlClient talks to a node's control socket.
type ControlClient struct {
	dataDir string
	hc      *http.Client
}

// NewControlClient returns a client for the node whose data dir is dataDir.
func NewControlClient(dataDir string) *ControlClient {
	path := filepath.Join(dataDir, SocketName)
	return &ControlClient{dataDir: dataDir, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// Alive reports whether a node answers.
func (c *ControlClient) Alive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	return err == nil
}

// Status returns the node's status.
func (c *ControlClient) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.Call(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Announce hands signed documents to the node, which verifies, stores and
// gossips them, and returns their keys.
func (c *ControlClient) Announce(ctx context.Context, envelopes ...[]byte) ([]string, error) {
	req := AnnounceRequest{}
	for _, e := range envelopes {
		req.Envelopes = append(req.Envelopes, e)
	}
	var res AnnounceResult
	if err := c.Call(ctx, http.MethodPost, "/v1/announce", req, &res); err != nil {
		return nil, err
	}
	return res.Documents, nil
}

// Call makes one request; errors are one line.
func (c *ControlClient) Call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://node"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w on %s: %w", ErrNotRunning, c.dataDir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		return fmt.Errorf("node refused: %s", e.Error)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}
