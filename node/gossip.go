package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	ds "github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/tocsin-iiot/tocsin/internal/crashpoint"
	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// open verifies an envelope's signatures against the current root and
// decodes it. It does not consult sequence numbers or expiry.
func (n *Node) open(data []byte) (trust.Document, error) {
	n.mu.Lock()
	root := n.trust.Root
	n.mu.Unlock()
	if isOwnerDoc(data) {
		if len(n.operators) == 0 {
			return trust.Document{}, errNoOperators
		}
		return trust.OpenOwner(data, n.operators)
	}
	return trust.Open(data, root, csaf.Advisory)
}

// errNoOperators: a node without an owner policy cannot judge the owner's
// documents (decisions, rosters); it ignores them (neither forwards nor
// penalises).
var errNoOperators = errors.New("owner document ignored: no owner policy with operator keys on this node")

// isOwnerDoc peeks at an envelope's payload type.
func isOwnerDoc(data []byte) bool {
	var head struct {
		PayloadType string `json:"payloadType"`
	}
	return len(data) <= trust.MaxEnvelopeSize && json.Unmarshal(data, &head) == nil && trust.IsOwnerType(head.PayloadType)
}

// validate runs inside GossipSub before a message is delivered or forwarded.
// Forged, tampered, unsigned or malformed envelopes are rejected (the sender
// is penalised and nothing is forwarded). Validly signed documents that are
// not news — held already, older than what we trust (a replay after the
// seen-cache expired), expired, or conflicting — are ignored: not
// forwarded, so a replay never causes a re-broadcast storm, and not
// penalised, since an honest peer may relay them. The verified document
// rides along to delivery, so it is verified once.
func (n *Node) validate(_ context.Context, from peer.ID, data []byte) (pubsub.ValidationResult, any) {
	doc, err := n.open(data)
	if errors.Is(err, errNoOperators) {
		return pubsub.ValidationIgnore, nil
	}
	if err != nil {
		n.count(func(c *Counters) { c.DocsRejected++ })
		n.log.Warn("rejected gossip", "from", from, "err", err)
		return pubsub.ValidationReject, nil
	}
	if from == n.host.ID() {
		return pubsub.ValidationAccept, doc // our own announcement, checked by Announce
	}
	n.mu.Lock()
	if doc.Root != nil {
		_, err = n.trust.Clone().UpdateRoot(data)
	} else {
		err = n.trust.Check(doc, n.now())
	}
	n.mu.Unlock()
	if err != nil {
		n.ignored(from, doc, err)
		return pubsub.ValidationIgnore, nil
	}
	return pubsub.ValidationAccept, doc
}

func (n *Node) ignored(from peer.ID, doc trust.Document, err error) {
	if errors.Is(err, trust.ErrDuplicate) {
		n.count(func(c *Counters) { c.DocsIgnored++ })
		return
	}
	n.count(func(c *Counters) { c.DocsRefused++ })
	n.log.Info("refused document", "from", from, "doc", doc.Key(), "err", err)
}

func (n *Node) count(f func(*Counters)) {
	n.mu.Lock()
	f(&n.counters)
	n.mu.Unlock()
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
		n.log.Info("refused document", "from", from, "err", err)
	}
}

var errKnown = errors.New("already known")

// accept verifies data and admits the document.
func (n *Node) accept(data []byte) (trust.Document, error) {
	doc, err := n.open(data)
	if err != nil {
		n.count(func(c *Counters) { c.DocsRejected++ })
		return trust.Document{}, err
	}
	return doc, n.admit(doc)
}

// admit checks a verified document against the trusted state (rollback,
// expiry), then stores the document and the new state in one transaction,
// and only then makes it visible and wakes the evaluate loop. It returns
// errKnown (wrapped) for a document already held. Admissions are serialised
// so the persisted state never misses a mark.
func (n *Node) admit(doc trust.Document) error {
	n.admitMu.Lock()
	defer n.admitMu.Unlock()
	if doc.Root != nil {
		return n.admitRoot(doc)
	}
	n.mu.Lock()
	err := n.trust.Check(doc, n.now())
	var next *trust.State
	if err == nil {
		next = n.trust.Clone()
		next.Apply(doc)
	}
	n.mu.Unlock()
	if errors.Is(err, trust.ErrDuplicate) {
		n.count(func(c *Counters) { c.DocsIgnored++ })
		return fmt.Errorf("%w: %w", errKnown, err)
	}
	if err != nil {
		n.count(func(c *Counters) { c.DocsRefused++ })
		return err
	}
	if err := n.commit(n.ctx, next, []trust.Document{doc}, nil); err != nil {
		return err
	}
	n.mu.Lock()
	n.trust = next
	n.hold(doc)
	n.counters.DocsAccepted++
	n.mu.Unlock()
	n.log.Info("accepted document", "doc", doc.Key(), "seq", doc.Seq())
	if n.onAccept != nil {
		n.onAccept(doc.Key(), n.now())
	}
	if doc.Roster != nil {
		n.enforceRoster()
	}
	n.writeStatus()
	n.wake()
	return nil
}

// admitRoot moves to a newer root. Documents signed under a role whose keys
// changed are verified again; those that no longer verify (a revoked key)
// are dropped, and the marks of the ones that still do are kept.
func (n *Node) admitRoot(doc trust.Document) error {
	n.mu.Lock()
	next := n.trust.Clone()
	held := make([]trust.Document, 0, len(n.docs))
	for _, d := range n.docs {
		held = append(held, d)
	}
	n.mu.Unlock()
	changed, err := next.UpdateRoot(doc.Envelope.Marshal())
	if err != nil {
		n.count(func(c *Counters) { c.DocsRefused++ })
		return err
	}
	var drop []trust.Document
	for _, d := range held {
		if d.Root != nil || !roleChanged(changed, d) {
			continue
		}
		again, err := trust.Open(d.Envelope.Marshal(), next.Root, csaf.Advisory)
		if err != nil {
			n.log.Warn("dropping document its signer may no longer sign", "doc", d.Key(), "err", err)
			drop = append(drop, d)
			continue
		}
		if next.Check(again, n.now()) == nil {
			next.Apply(again)
		}
	}
	if err := n.commit(n.ctx, next, []trust.Document{doc}, drop); err != nil {
		return err
	}
	n.mu.Lock()
	n.trust = next
	for _, d := range drop {
		n.unhold(d.Key())
	}
	n.hold(doc)
	n.counters.DocsAccepted++
	n.mu.Unlock()
	n.log.Info("trusted root updated", "version", doc.Root.Version, "changed_roles", strings.Join(changed, ","), "dropped", len(drop))
	n.writeStatus()
	n.wake()
	return nil
}

func roleChanged(changed []string, d trust.Document) bool {
	role := trust.RoleRelease
	switch {
	case d.Advisory != nil:
		role = trust.RoleAdvisory
	case d.Heartbeat != nil:
		role = trust.RoleHeartbeat
	}
	for _, c := range changed {
		if c == role {
			return true
		}
	}
	return false
}

// hold makes a document visible, replacing an older one with the same key
// (an advisory revision, the heartbeat). Called with n.mu held.
func (n *Node) hold(doc trust.Document) {
	key := doc.Key()
	if _, ok := n.docs[key]; !ok {
		n.order = append(n.order, key)
	}
	n.docs[key] = doc
	if doc.Recall != nil {
		id := doc.Recall.ReleaseID()
		if st := n.progress[id]; st != nil {
			st.Recalled = true
		}
		if f := n.fetches[id]; f != nil && f.cancel != nil {
			f.cancel() // devices stop fetching a recalled release
		}
	}
}

func (n *Node) unhold(key string) {
	delete(n.docs, key)
	for i, k := range n.order {
		if k == key {
			n.order = append(n.order[:i], n.order[i+1:]...)
			break
		}
	}
}

// commit writes documents, removals and the trusted state in one badger
// transaction and syncs it to disk.
func (n *Node) commit(ctx context.Context, st *trust.State, put, drop []trust.Document) error {
	stb, err := st.Marshal()
	if err != nil {
		return err
	}
	txn, err := n.store.DS.NewTransaction(ctx, false)
	if err != nil {
		return fmt.Errorf("store documents: %w", err)
	}
	defer txn.Discard(ctx)
	for _, d := range put {
		if err := txn.Put(ctx, docKey(d.Key()), d.Envelope.Marshal()); err != nil {
			return fmt.Errorf("store %s: %w", d.Key(), err)
		}
	}
	for _, d := range drop {
		if err := txn.Delete(ctx, docKey(d.Key())); err != nil {
			return fmt.Errorf("drop %s: %w", d.Key(), err)
		}
	}
	if err := txn.Put(ctx, keyTrust, stb); err != nil {
		return fmt.Errorf("store trusted state: %w", err)
	}
	if err := txn.Commit(ctx); err != nil {
		return fmt.Errorf("store documents: %w", err)
	}
	crashpoint.Hit(crashpoint.DocsCommitted)
	return n.store.Sync(ctx, ds.NewKey("/tocsin"))
}

func docKey(key string) ds.Key { return prefixDocs.ChildString(strings.ReplaceAll(key, "/", ":")) }

// Summary implements overlay.Catalog: the highest sequence number held in
// every slot.
func (n *Node) Summary() []byte {
	n.mu.Lock()
	have := make(map[string]uint64, len(n.docs))
	for _, d := range n.docs {
		if d.Seq() > have[d.Slot()] {
			have[d.Slot()] = d.Seq()
		}
	}
	n.mu.Unlock()
	b, _ := json.Marshal(have)
	return b
}

// Envelopes implements overlay.Catalog: every verified document held that a
// peer with the given summary lacks (a newer sequence number in its slot),
// in the order a peer can accept them: roots by version, rosters, releases
// by sequence number, recalls, advisories, decisions, and the heartbeat
// last. A summary that does not decode is read as "holds nothing".
func (n *Node) Envelopes(peerSummary []byte) [][]byte {
	var have map[string]uint64
	if len(peerSummary) > 0 && json.Unmarshal(peerSummary, &have) != nil {
		have = nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	docs := make([]trust.Document, 0, len(n.docs))
	for _, d := range n.docs {
		if d.Seq() > have[d.Slot()] {
			docs = append(docs, d)
		}
	}
	rank := func(d trust.Document) int {
		switch {
		case d.Root != nil:
			return 0
		case d.Roster != nil:
			return 1
		case d.Release != nil:
			return 2
		case d.Recall != nil:
			return 3
		case d.Advisory != nil:
			return 4
		case d.Decision != nil:
			return 5
		}
		return 6
	}
	sort.Slice(docs, func(i, j int) bool {
		ri, rj := rank(docs[i]), rank(docs[j])
		if ri != rj {
			return ri < rj
		}
		if docs[i].Seq() != docs[j].Seq() {
			return docs[i].Seq() < docs[j].Seq()
		}
		return docs[i].Key() < docs[j].Key()
	})
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = d.Envelope.Marshal()
	}
	return out
}
