package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore/query"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Air-gap transport (issue 6): a release travels on a USB stick as a CAR
// file holding its DAG and the signed documents a device needs to trust
// and authorise it. Export needs no verification (the importer trusts
// nothing in the file); import verifies every envelope like gossip and every
// block against its CID, and stores nothing unless all of it checks out.

// ErrNoRelease is returned when exporting a release the node does not hold.
var ErrNoRelease = errors.New("release not held")

// bundleEnvelopes picks what goes into a release's CAR: every root (so an
// importer on an older root can walk the rotations), the manifest, its
// advisories and recalls, and the owner's decisions about it and the
// roster.
func bundleEnvelopes(docs []trust.Document, releaseID string) (root cid.Cid, envs [][]byte, err error) {
	sort.Slice(docs, func(i, j int) bool {
		if (docs[i].Root != nil) != (docs[j].Root != nil) {
			return docs[i].Root != nil
		}
		return docs[i].Seq() < docs[j].Seq()
	})
	var rel *trust.Release
	for _, d := range docs {
		if d.Release != nil && d.Release.ID() == releaseID {
			rel = d.Release
		}
	}
	if rel == nil {
		return cid.Undef, nil, fmt.Errorf("%w: %s", ErrNoRelease, releaseID)
	}
	if root, err = cid.Decode(rel.RootCID); err != nil {
		return cid.Undef, nil, fmt.Errorf("release %s: root CID: %w", releaseID, err)
	}
	for _, d := range docs {
		switch {
		case d.Root != nil, d.Roster != nil,
			d.Release != nil && d.Release.ID() == releaseID,
			d.Recall != nil && d.Recall.ReleaseID() == releaseID,
			d.Advisory != nil && d.Advisory.ReleaseID == releaseID,
			d.Decision != nil && d.Decision.Release == releaseID:
			envs = append(envs, d.Envelope.Marshal())
		}
	}
	return root, envs, nil
}

// ExportCAR writes release id's bundle to w.
func (n *Node) ExportCAR(ctx context.Context, w io.Writer, id string) (content.BundleStats, error) {
	n.mu.Lock()
	docs := make([]trust.Document, 0, len(n.docs))
	for _, d := range n.docs {
		docs = append(docs, d)
	}
	n.mu.Unlock()
	root, envs, err := bundleEnvelopes(docs, id)
	if err != nil {
		return content.BundleStats{}, err
	}
	return content.WriteBundle(ctx, w, root, n.store.Blocks, envs)
}

// ExportCAROffline exports from the store of a node that is not running.
// The documents are read as stored (the importer verifies them).
func ExportCAROffline(ctx context.Context, dataDir string, w io.Writer, id string) (content.BundleStats, error) {
	st, err := content.OpenStore(filepath.Join(dataDir, "store"), content.StoreConfig{})
	if err != nil {
		return content.BundleStats{}, fmt.Errorf("open the node's store (is the node running? use its control socket): %w", err)
	}
	defer st.Close()
	res, err := st.DS.Query(ctx, query.Query{Prefix: prefixDocs.String()})
	if err != nil {
		return content.BundleStats{}, fmt.Errorf("read documents: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return content.BundleStats{}, fmt.Errorf("read documents: %w", err)
	}
	var docs []trust.Document
	for _, e := range entries {
		env, err := trust.ParseEnvelope(e.Value)
		if err != nil {
			continue
		}
		// Decode without verifying: an empty root trusts no key, so decode
		// the few fields bundleEnvelopes needs by hand.
		d := trust.Document{Envelope: env}
		if err := decodeForExport(&d); err == nil {
			docs = append(docs, d)
		}
	}
	root, envs, err := bundleEnvelopes(docs, id)
	if err != nil {
		return content.BundleStats{}, err
	}
	return content.WriteBundle(ctx, w, root, st.Blocks, envs)
}

// ImportCAR reads a bundle, verifies every envelope exactly as if it had
// come by gossip (roots first) and every block against its CID, checks the
// DAG is the one the signed manifest names, and only then stores the blocks.
// The documents are admitted as they verify; the evaluate loop then installs
// the release if it applies and is authorised, and bitswap serves the
// blocks to neighbours.
func (n *Node) ImportCAR(ctx context.Context, r io.Reader) (ImportResult, error) {
	b, err := content.ReadBundle(ctx, r, content.BundleLimits{SpoolDir: n.cfg.Resolve(n.cfg.DataDir)})
	if err != nil {
		return ImportResult{}, err
	}
	defer b.Close()
	var res ImportResult
	var rel *trust.Release
	for i, e := range b.Envelopes {
		doc, err := n.open(e)
		if errors.Is(err, errNoOperators) {
			continue // owner documents this node cannot judge
		}
		if err != nil {
			return res, fmt.Errorf("document %d in the file: %w", i+1, err)
		}
		if doc.Release != nil && doc.Release.RootCID == b.Root.String() {
			rel = doc.Release
		}
		if err := n.admit(doc); err != nil && !errors.Is(err, errKnown) && !errors.Is(err, trust.ErrRollback) {
			return res, fmt.Errorf("document %s: %w", doc.Key(), err)
		}
		res.Documents = append(res.Documents, doc.Key())
	}
	if rel == nil {
		return res, fmt.Errorf("the file holds no signed manifest for its DAG %s", b.Root)
	}
	if max := n.cfg.maxReleaseSize(); rel.Size > max {
		return res, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, rel.ID(), rel.Size, max)
	}
	if err := b.Store(ctx, n.store.Blocks); err != nil {
		return res, err
	}
	res.Release, res.Blocks, res.Bytes = rel.ID(), b.Blocks, b.DAGBytes
	n.log.Info("imported release from a file", "release", rel.ID(), "blocks", b.Blocks)
	n.wake()
	return res, nil
}

// ImportResult says what an import stored.
type ImportResult struct {
	Release   string   `json:"release"`
	Blocks    int      `json:"blocks"`
	Bytes     int64    `json:"bytes"`
	Documents []string `json:"documents"`
}

// ImportRequest and ExportRequest are the control socket's bodies: paths on
// the node's machine (the CLI and the node share it).
type ImportRequest struct {
	Path string `json:"path"`
}

// ExportRequest asks the node to write a release's bundle to Path.
type ExportRequest struct {
	Release string `json:"release"`
	Path    string `json:"path"`
}

func (n *Node) serveImport(w http.ResponseWriter, r *http.Request) {
	var req ImportRequest
	if err := decodeBody(r, &req); err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	f, err := os.Open(req.Path)
	if err != nil {
		WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	defer f.Close()
	res, err := n.ImportCAR(r.Context(), f)
	if err != nil {
		WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (n *Node) serveExport(w http.ResponseWriter, r *http.Request) {
	var req ExportRequest
	if err := decodeBody(r, &req); err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	var st content.BundleStats
	err := fsutil.WriteAtomicFunc(req.Path, 0o644, func(out io.Writer) error {
		var err error
		st, err = n.ExportCAR(r.Context(), out, req.Release)
		return err
	})
	if err != nil {
		WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

// decodeForExport fills in the payload of a stored document without
// verifying it, for ExportCAROffline.
func decodeForExport(d *trust.Document) error {
	doc, err := trust.DecodeUnverified(d.Envelope, csaf.Advisory)
	if err != nil {
		return err
	}
	*d = doc
	return nil
}
