package node

import (
	"os"

	"context"
	"errors"
	"fmt"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/tocsin-iiot/tocsin/content"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// validate runs inside GossipSub before a message is delivered or forwarded.
// Forged, tampered, unsigned or malformed envelopes are rejected (the sender
// is penalised and nothing is forwarded); envelopes we already hold are
// ignored, so re-announcements never cause a re-broadcast storm.
func (n *Node) validate(_ context.Context, from peer.ID, data []byte) pubsub.ValidationResult {
	doc, err := trust.Open(data, n.ring)
	if err != nil {
		n.mu.Lock()
		n.counters.DocsRejected++
		n.mu.Unlock()
		n.log.Warn("rejected gossip", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	if from == n.host.ID() {
		return pubsub.ValidationAccept // our own announcement
	}
	n.mu.Lock()
	_, known := n.docs[doc.Key()]
	if known {
		n.counters.DocsIgnored++
	}
	n.mu.Unlock()
	if known {
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationAccept
}

// readGossip takes delivered (already validated) messages off the topic.
func (n *Node) readGossip() {
	for {
		m, err := n.gossip.Sub.Next(n.ctx)
		if err != nil {
			return
		}
		n.intake(m.ReceivedFrom, m.Data)
	}
}

// intake verifies an envelope from any source (gossip, sync, the seed's
// control API) and, if it is valid and new, stores it and wakes the
// evaluate loop. Verification happens here again: sync does not pass
// through the gossip validator, and a document is never stored unverified.
func (n *Node) intake(from peer.ID, data []byte) {
	if _, err := n.accept(data); err != nil && !errors.Is(err, errKnown) {
		n.log.Warn("rejected document", "from", from, "err", err)
	}
}

var errKnown = errors.New("already known")

func (n *Node) accept(data []byte) (trust.Document, error) {
	doc, err := trust.Open(data, n.ring)
	if err != nil {
		n.mu.Lock()
		n.counters.DocsRejected++
		n.mu.Unlock()
		return trust.Document{}, err
	}
	key := doc.Key()
	n.mu.Lock()
	if _, ok := n.docs[key]; ok {
		n.mu.Unlock()
		return doc, errKnown
	}
	n.mu.Unlock()
	if err := n.putDoc(n.ctx, doc); err != nil {
		return trust.Document{}, err
	}
	n.mu.Lock()
	if _, ok := n.docs[key]; ok { // raced with another intake
		n.mu.Unlock()
		return doc, errKnown
	}
	n.docs[key] = doc
	n.order = append(n.order, key)
	n.counters.DocsAccepted++
	n.mu.Unlock()
	n.log.Info("accepted document", "doc", key, "signer", doc.KeyID[:16])
	n.writeStatus()
	n.wake()
	return doc, nil
}

// Envelopes implements overlay.Catalog: every verified document we hold,
// releases before advisories so a peer can act on an advisory at once.
func (n *Node) Envelopes() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([][]byte, 0, len(n.order))
	for _, pass := range []bool{true, false} {
		for _, k := range n.order {
			d := n.docs[k]
			if (d.Release != nil) == pass {
				out = append(out, d.Envelope.Marshal())
			}
		}
	}
	return out
}

// Announce verifies a signed envelope, stores it, and publishes it on the
// announce topic. Seeds call it to inject what the supplier published.
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

// ImportFile chunks the file at path into the node's store (chunkSize bytes
// per leaf) and tells bitswap about the new blocks.
func (n *Node) ImportFile(ctx context.Context, path string, chunkSize int) (content.Imported, error) {
	f, err := os.Open(path)
	if err != nil {
		return content.Imported{}, fmt.Errorf("open release file: %w", err)
	}
	defer f.Close()
	return content.Import(ctx, merkledag.NewDAGService(n.bserv), f, chunkSize)
}

// Open verifies an envelope against the node's trusted keys without storing
// it.
func (n *Node) Open(data []byte) (trust.Document, error) { return trust.Open(data, n.ring) }
