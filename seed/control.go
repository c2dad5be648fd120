package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tocsin-iiot/tocsin/node"
)

// ErrNoSeed means no seed answers on the data dir's control socket.
var ErrNoSeed = errors.New("no seed is running")

// PublishRequest is what the publishing CLI hands to the seed.
type PublishRequest struct {
	File      string          `json:"file"`
	ChunkSize int             `json:"chunk_size"`
	Release   json.RawMessage `json:"release"`
	Advisory  json.RawMessage `json:"advisory"`
	// DeltaFile is the patch named in the manifest's delta, if any.
	DeltaFile string `json:"delta_file,omitempty"`
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
	ctl *node.Control
}

// startControl serves the node's control socket with the seed's publish
// route added.
func startControl(n *node.Node) (*controlServer, error) {
	cs := &controlServer{n: n}
	ctl, err := n.ServeControl(func(mux *http.ServeMux) { mux.HandleFunc("POST /v1/publish", cs.publish) })
	if err != nil {
		return nil, err
	}
	cs.ctl = ctl
	return cs, nil
}

func (cs *controlServer) close() { _ = cs.ctl.Close() }

func (cs *controlServer) publish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		node.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return
	}
	res, err := cs.do(r.Context(), req)
	if err != nil {
		node.WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	node.WriteJSON(w, http.StatusOK, res)
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
	if rel.Delta != nil {
		if req.DeltaFile == "" {
			return Result{}, fmt.Errorf("the manifest names a delta from %s but no delta file was handed over", rel.Delta.From)
		}
		if err := cs.n.ImportDelta(ctx, req.DeltaFile, *rel); err != nil {
			return Result{}, fmt.Errorf("delta: %w", err)
		}
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
type Client struct{ *node.ControlClient }

// NewClient returns a client for the seed whose data dir is dataDir.
func NewClient(dataDir string) *Client { return &Client{node.NewControlClient(dataDir)} }

// Announce hands signed documents to the seed, which verifies and gossips
// them, and returns their keys.
func (c *Client) Announce(ctx context.Context, envelopes ...[]byte) ([]string, error) {
	keys, err := c.ControlClient.Announce(ctx, envelopes...)
	return keys, seedErr(err)
}

// Publish hands a signed release and advisory to the seed.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (Result, error) {
	var res Result
	err := c.Call(ctx, http.MethodPost, "/v1/publish", req, &res)
	return res, seedErr(err)
}

// seedErr says "no seed" where the node layer says "no node".
func seedErr(err error) error {
	if errors.Is(err, node.ErrNotRunning) {
		return fmt.Errorf("%w (%w)", ErrNoSeed, err)
	}
	return err
}
