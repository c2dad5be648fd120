package overlay

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"
)

// TopicAnnounce carries signed advisories and release manifests.
const TopicAnnounce = "/tocsin/announce/1.0.0"

// MaxMessageSize caps one gossip message: one signed envelope (1 MiB) plus
// pubsub framing.
const MaxMessageSize = 1<<20 + 64<<10

// Validator judges one message before it is delivered or forwarded: Accept,
// Reject (invalid: the sender is penalised) or Ignore (valid but useless,
// e.g. already known). What it returns besides is attached to the delivered
// message as ValidatorData, so the receiver need not decode it again.
type Validator func(ctx context.Context, from peer.ID, data []byte) (pubsub.ValidationResult, any)

// Gossip is a joined announce topic.
type Gossip struct {
	PubSub *pubsub.PubSub
	Topic  *pubsub.Topic
	Sub    *pubsub.Subscription
}

// JoinGossip starts GossipSub on h with peer scoring tuned to scoreUnit (see
// ScoreParams; 0 means ScoreUnit; negative turns scoring off, for tests that
// mount many attacks from one peer and want each one judged rather than the
// attacker graylisted after the first), registers validate on the announce
// topic (it runs before any message is delivered or forwarded) and
// subscribes. appScore, if not nil, is GossipSub's application-specific
// score (P5, weight 1): the node lowers it for peers it has banned for
// offences GossipSub cannot see, such as serving corrupted blocks.
func JoinGossip(ctx context.Context, h host.Host, validate Validator, scoreUnit time.Duration, appScore func(peer.ID) float64, opts ...pubsub.Option) (*Gossip, error) {
	if scoreUnit == 0 {
		scoreUnit = ScoreUnit
	}
	var base []pubsub.Option
	if scoreUnit > 0 {
		params, thresholds := ScoreParams(scoreUnit, colocationWhitelist(h)...)
		if appScore != nil {
			params.AppSpecificScore = appScore
		}
		base = append(base, pubsub.WithPeerScore(params, thresholds))
	}
	base = append(base,
		pubsub.WithMaxMessageSize(MaxMessageSize),
		// Message ids are the hash of the content, not sender+seqno: the
		// same signed document published by two seeds, or re-sent by an
		// attacker, is one message to the seen-cache. Once that cache has
		// forgotten it, the validator's sequence numbers still refuse it.
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		pubsub.WithPeerExchange(true),
		pubsub.WithFloodPublish(true),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
	)
	ps, err := pubsub.NewGossipSub(ctx, h, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	if err := ps.RegisterTopicValidator(TopicAnnounce, func(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		res, v := validate(ctx, from, m.Data)
		if res == pubsub.ValidationAccept {
			m.ValidatorData = v
		}
		return res
	}); err != nil {
		return nil, fmt.Errorf("register validator: %w", err)
	}
	t, err := ps.Join(TopicAnnounce)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", TopicAnnounce, err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", TopicAnnounce, err)
	}
	return &Gossip{PubSub: ps, Topic: t, Sub: sub}, nil
}

// colocationWhitelist returns the addresses exempt from GossipSub's IP
// colocation penalty (P6, which counts every IPv6 /64 as one address):
// loopback (tests, several nodes on one machine), IPv6 unique-local and
// link-local ranges, and the /64 of each of h's own IPv6 addresses. An IPv6
// plant LAN is one /64 with dozens of devices on it; counted as one address
// they would graylist each other and the advisory would not spread by
// gossip (TestReliabilityDenseLAN). Peers on the node's own segment are
// physically in its plant; Sybils from elsewhere still share a foreign
// prefix and are still penalised, and IPv4 addresses are counted one by one
// as before.
func colocationWhitelist(h host.Host) []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{"127.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10"} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	for _, a := range h.Addrs() {
		ip, err := manet.ToIP(a)
		if err != nil || ip.To4() != nil || ip.IsUnspecified() {
			continue
		}
		mask := net.CIDRMask(64, 128)
		out = append(out, &net.IPNet{IP: ip.Mask(mask), Mask: mask})
	}
	return out
}

// Close leaves the topic.
func (g *Gossip) Close() {
	g.Sub.Cancel()
	_ = g.Topic.Close()
}

// TopicStatus carries devices' status reports: what they run and where each
// release stands on them. Each report is signed by its author's peer key
// (GossipSub StrictSign), which is all the authentication it needs.
const TopicStatus = "/tocsin/status/1.0.0"

// AuthorValidator judges a message by its author (the peer that signed it,
// not the neighbour that forwarded it).
type AuthorValidator func(ctx context.Context, author peer.ID, data []byte) (pubsub.ValidationResult, any)

// JoinTopic joins another topic on the same GossipSub router, with a
// validator that sees each message's author, and subscribes.
func (g *Gossip) JoinTopic(name string, validate AuthorValidator) (*pubsub.Topic, *pubsub.Subscription, error) {
	if err := g.PubSub.RegisterTopicValidator(name, func(ctx context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		res, v := validate(ctx, m.GetFrom(), m.Data)
		if res == pubsub.ValidationAccept {
			m.ValidatorData = v
		}
		return res
	}); err != nil {
		return nil, nil, fmt.Errorf("register validator: %w", err)
	}
	t, err := g.PubSub.Join(name)
	if err != nil {
		return nil, nil, fmt.Errorf("join %s: %w", name, err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	return t, sub, nil
}
