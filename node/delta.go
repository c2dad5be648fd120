package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// errNoDelta: the release has no delta this device can use (no delta, the
// device runs another version, or it has no verified copy of the old file).
var errNoDelta = errors.New("no usable delta")

// fetchDelta rebuilds rel from its delta: the device runs rel.Delta.From
// and holds that version's file (checked against the manifest's sha256), it
// fetches the patch's DAG (verified block by block and as a whole), applies
// it, and checks the result against rel's size and sha256. Any failure sends
// the caller to the whole release; nothing unverified is ever installed.
func (n *Node) fetchDelta(ctx context.Context, rel trust.Release, cancel context.CancelFunc) (FetchStats, string, error) {
	d := rel.Delta
	if d == nil {
		return FetchStats{}, "", errNoDelta
	}
	n.mu.Lock()
	running := n.device().Products[rel.Product]
	old := n.oldFile(rel.Product, d.From)
	n.mu.Unlock()
	if running != d.From || old == "" {
		return FetchStats{}, "", errNoDelta
	}
	oldData, err := readVerified(old, d.FromSHA256, n.cfg.maxReleaseSize())
	if err != nil {
		return FetchStats{}, "", fmt.Errorf("%w: %w", errNoDelta, err)
	}
	t := target{ID: rel.ID() + " (delta from " + d.From + ")", Track: rel.ID(), RootCID: d.RootCID, Size: d.Size, SHA256: d.SHA256,
		Chunk: rel.ChunkSize, Dir: rel.ID(), Name: rel.Product + "-" + d.From + "-to-" + rel.Version + ".tdzp"}
	fs, patchFile, err := n.fetch(ctx, t, cancel)
	if err != nil {
		return fs, "", err
	}
	patch, err := os.ReadFile(patchFile)
	if err != nil {
		return fs, "", fmt.Errorf("read delta: %w", err)
	}
	newData, err := content.ApplyDeltaLimit(oldData, patch, rel.Size)
	if err != nil {
		return fs, "", err
	}
	sum := sha256.Sum256(newData)
	if int64(len(newData)) != rel.Size || hex.EncodeToString(sum[:]) != rel.SHA256 {
		return fs, "", fmt.Errorf("%w: rebuilt %s is not the signed file", ErrMismatch, rel.ID())
	}
	final := filepath.Join(filepath.Dir(patchFile), rel.Product+"-"+rel.Version+".bin")
	if err := fsutil.WriteAtomic(final, newData, 0o600); err != nil {
		return fs, "", err
	}
	_ = os.Remove(patchFile)
	fs.Delta = true
	n.log.Info("release rebuilt from a delta", "release", rel.ID(), "from", d.From, "delta_bytes", fs.BytesFetched, "file_bytes", rel.Size)
	return fs, final, nil
}

// oldFile is the path of product@version's file on this device: the
// config's file for the running version, or a file Tocsin fetched. Called
// with n.mu held.
func (n *Node) oldFile(product, version string) string {
	for _, p := range n.cfg.Products {
		if p.ID == product && p.Version == version && p.File != "" {
			return n.cfg.Resolve(p.File)
		}
	}
	if st := n.progress[trust.ReleaseID(product, version)]; st != nil && st.Fetched && st.File != "" {
		return st.File
	}
	return ""
}

// readVerified reads a file whose sha256 must be want.
func readVerified(path, want string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%s is not the file the delta was made from", path)
	}
	return b, nil
}
