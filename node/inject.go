package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/ipfs/boxo/ipld/merkledag"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/tocsin-iiot/tocsin/content"
	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// This file is what a seed calls to inject what its supplier published.

// Open verifies an envelope's signatures against the node's trusted root
// without storing it.
func (n *Node) Open(data []byte) (trust.Document, error) { return n.open(data) }

// Announce verifies a signed envelope, stores it, and publishes it on the
// announce topic.
func (n *Node) Announce(ctx context.Context, data []byte) (trust.Document, error) {
	doc, err := n.accept(data)
	if err != nil && !errors.Is(err, errKnown) {
		return trust.Document{}, err
	}
	if err := n.gossip.Topic.Publish(ctx, data); err != nil {
		return doc, fmt.Errorf("publish %s: %w", doc.Key(), err)
	}
	return doc, nil
}

// ImportRelease chunks the file at path into the node's store, but only
// after a dry run (nothing stored) shows that it is exactly the file rel
// describes: same root CID, size and SHA-256. The file is read twice; a file
// that changes between the reads is caught by the second check.
func (n *Node) ImportRelease(ctx context.Context, path string, rel trust.Release) error {
	spec := rel.Chunker
	if spec == "" {
		spec = fmt.Sprintf("size-%d", rel.ChunkSize)
	}
	if err := n.importChecked(ctx, path, spec, releaseTarget(rel)); err != nil {
		return err
	}
	crashpoint.Hit(crashpoint.ReleaseImported)
	return nil
}

// ImportDelta imports the patch file of rel's delta the same way.
func (n *Node) ImportDelta(ctx context.Context, path string, rel trust.Release) error {
	if rel.Delta == nil {
		return fmt.Errorf("release %s has no delta", rel.ID())
	}
	d := rel.Delta
	return n.importChecked(ctx, path, fmt.Sprintf("size-%d", rel.ChunkSize), target{ID: rel.ID() + " delta", RootCID: d.RootCID, Size: d.Size, SHA256: d.SHA256})
}

func (n *Node) importChecked(ctx context.Context, path string, spec string, t target) error {
	check := func(imp content.Imported) error {
		if imp.Root.String() != t.RootCID || imp.Size != t.Size || imp.SHA256 != t.SHA256 {
			return fmt.Errorf("file %s does not match the signed manifest of %s (root %s, want %s)", path, t.ID, imp.Root, t.RootCID)
		}
		return nil
	}
	dry, err := n.importFile(ctx, path, spec, content.Discard())
	if err != nil {
		return err
	}
	if err := check(dry); err != nil {
		return err
	}
	imp, err := n.importFile(ctx, path, spec, merkledag.NewDAGService(n.bserv))
	if err != nil {
		return err
	}
	return check(imp)
}

// ImportFile chunks the file at path into the node's store (chunkSize bytes
// per leaf) and tells bitswap about the new blocks.
func (n *Node) ImportFile(ctx context.Context, path string, chunkSize int) (content.Imported, error) {
	if chunkSize <= 0 {
		chunkSize = content.DefaultChunkSize
	}
	return n.importFile(ctx, path, fmt.Sprintf("size-%d", chunkSize), merkledag.NewDAGService(n.bserv))
}

func (n *Node) importFile(ctx context.Context, path string, spec string, dst ipld.DAGService) (content.Imported, error) {
	f, err := os.Open(path)
	if err != nil {
		return content.Imported{}, fmt.Errorf("open release file: %w", err)
	}
	defer f.Close()
	return content.ImportChunked(ctx, dst, f, spec)
}
