package overlay

import (
	"net"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ScoreUnit is the time unit GossipSub peer scoring is tuned to: about the
// interval between messages on the announce topic. Tocsin's traffic is rare
// and valuable — a seed's heartbeat a minute, a few advisories a week — so
// the defaults of a chat-rate network would never see enough messages to
// judge a peer. Tests pass a shorter unit (pubsub needs at least 1 s).
const ScoreUnit = time.Minute

// ScoreParams returns GossipSub v1.1 peer-score parameters for the announce
// topic, tuned for a low message rate measured in units:
//
//   - P2 first deliveries reward a peer that brings a message first;
//   - P3 mesh deliveries: after 3 units in our mesh, a peer must have
//     delivered (first or within a second of first) at least one message
//     per ~10 units, or its score goes negative by the square of its
//     deficit — a mesh peer that never forwards falls below zero and is
//     pruned; P3b keeps the penalty after it is pruned;
//   - P4 invalid messages (forged or malformed envelopes, which the
//     validator rejects) cost 100 each, squared, and decay slowly;
//   - P6 more than 10 peers from one IP (a Sybil host) are penalised, except
//     on loopback and private test ranges given in whitelist;
//   - P7 protocol misbehaviour (broken promises, GRAFT flooding) costs.
//
// The thresholds stop gossip to a peer below -10, stop publishing to it
// below -50 and ignore it entirely below -80.
func ScoreParams(unit time.Duration, whitelist ...*net.IPNet) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	if unit < time.Second {
		unit = time.Second
	}
	decay := func(n float64) float64 {
		return pubsub.ScoreParameterDecayWithBase(time.Duration(n*float64(unit)), unit, 0.01)
	}
	topic := &pubsub.TopicScoreParams{
		TopicWeight: 1,

		TimeInMeshWeight:  0.01,
		TimeInMeshQuantum: unit,
		TimeInMeshCap:     10,

		FirstMessageDeliveriesWeight: 1,
		FirstMessageDeliveriesDecay:  decay(20),
		FirstMessageDeliveriesCap:    20,

		MeshMessageDeliveriesWeight:     -5,
		MeshMessageDeliveriesDecay:      decay(10),
		MeshMessageDeliveriesCap:        10,
		MeshMessageDeliveriesThreshold:  0.5,
		MeshMessageDeliveriesWindow:     time.Second,
		MeshMessageDeliveriesActivation: 3 * unit,

		MeshFailurePenaltyWeight: -5,
		MeshFailurePenaltyDecay:  decay(10),

		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  decay(100),
	}
	params := &pubsub.PeerScoreParams{
		Topics:                      map[string]*pubsub.TopicScoreParams{TopicAnnounce: topic},
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: whitelist,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   1,
		BehaviourPenaltyDecay:       decay(10),
		DecayInterval:               unit,
		DecayToZero:                 0.01,
		RetainScore:                 30 * unit,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             -10,
		PublishThreshold:            -50,
		GraylistThreshold:           -80,
		AcceptPXThreshold:           5,
		OpportunisticGraftThreshold: 1,
	}
	return params, thresholds
}
