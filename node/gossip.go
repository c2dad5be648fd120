package node

import (
	"context"
	"errors"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// validate runs inside GossipSub before a message is delivered or forwarded.
// Forged, tampered, unsigned or malformed envelopes are rejected (the sender
// is penalised and nothing is forwarded); envelopes we already hold are
// ignored, so re-announcements never cause a re-broadcast storm. The
// verified document rides along to delivery, so it is verified once.
func (n *Node) validate(_ context.Context, from peer.ID, data []byte) (pubsub.ValidationResult, any) {
	doc, err := trust.Open(data, n.ring)
	if err != nil {
		n.mu.Lock()
		n.counters.DocsRejected++
		n.mu.Unlock()
		n.log.Warn("rejected gossip", "from", from, "err", err)
		return pubsub.ValidationReject, nil
	}
	if from == n.host.ID() {
		return pubsub.ValidationAccept, doc // our own announcement
	}
	n.mu.Lock()
	_, known := n.docs[doc.Key()]
	if known {
		n.counters.DocsIgnored++
	}
	n.mu.Unlock()
	if known {
		return pubsub.ValidationIgnore, nil
	}
	return pubsub.ValidationAccept, doc
}

// readGossip takes delivered messages off the topic; the validator has
// verified each and attached the document.
func (n *Node) readGossip() {
	for {
		m, err := n.gossip.Sub.Next(n.ctx)
		if err != nil {
			return
		}
		doc, ok := m.ValidatorData.(trust.Document)
		if !ok { // cannot happen: every accepted message carries its document
			continue
		}
		if err := n.admit(doc); err != nil && !errors.Is(err, errKnown) {
			n.log.Warn("store document", "doc", doc.Key(), "err", err)
		}
	}
}

// intake verifies an envelope that did not come through the gossip
// validator (catch-up sync) and admits it. A document is never stored
// unverified.
func (n *Node) intake(from peer.ID, data []byte) {
	if _, err := n.accept(data); err != nil && !errors.Is(err, errKnown) {
		n.log.Warn("rejected document", "from", from, "err", err)
	}
}

var errKnown = errors.New("already known")

// accept verifies data and admits the document.
func (n *Node) accept(data []byte) (trust.Document, error) {
	doc, err := trust.Open(data, n.ring)
	if err != nil {
		n.mu.Lock()
		n.counters.DocsRejected++
		n.mu.Unlock()
		return trust.Document{}, err
	}
	return doc, n.admit(doc)
}

// admit stores a verified document durably, then makes it visible and wakes
// the evaluate loop. It returns errKnown for a document already held.
func (n *Node) admit(doc trust.Document) error {
	key := doc.Key()
	n.mu.Lock()
	_, known := n.docs[key]
	n.mu.Unlock()
	if known {
		return errKnown
	}
	if err := n.putDoc(n.ctx, doc); err != nil {
		return err
	}
	n.mu.Lock()
	if _, ok := n.docs[key]; ok { // raced with another path
		n.mu.Unlock()
		return errKnown
	}
	n.docs[key] = doc
	n.order = append(n.order, key)
	n.counters.DocsAccepted++
	n.mu.Unlock()
	n.log.Info("accepted document", "doc", key, "signer", doc.KeyID[:16])
	n.writeStatus()
	n.wake()
	return nil
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
