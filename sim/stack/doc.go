// Package stack is the simulator's stack engine: it runs Tocsin's real node
// code — node.New with its GossipSub, bitswap, sync, validation, policy and
// fetch logic — for every device and seed of a scenario, on go-libp2p's
// simulated network (x/simlibp2p + marcopolo/simnet: QUIC over simulated
// links with per-node bandwidth and per-pair latency) inside a
// testing/synctest bubble, so time is virtual and a ten-minute rollout takes
// seconds to minutes of wall time.
//
// What is real: every honest device and seed is a node.Node, with the
// production configuration apart from three simulator options (an
// in-memory store instead of badger, assembled files verified but not kept,
// and a hook that records when each document was accepted). Each node's
// uplink_rate is its link's upload rate, as an operator who knows the link
// sets it, so swarm uploads are paced (node.Config.UplinkRate). Adversaries are
// real libp2p hosts speaking the real protocols: silent nodes and Sybils
// join GossipSub but never forward (their validator ignores everything)
// and run no bitswap; forgers publish advisories signed by a key the root
// does not know; bad-block nodes answer bitswap requests with corrupted
// data blocks.
//
// Partitions (scenario field partitions) hold packets across the cut until
// the span ends, through simnet's per-packet latency. What is not modelled
// here: churn, seed outages and packet loss (simnet has no loss).
// Scenarios with them are refused; the model engine
// (sim/model) covers them, and real loss is tested between processes in
// network namespaces (internal/e2e).
//
// InBubble runs a function in a synctest bubble from an ordinary program
// (the `tocsin sim run` command), through testing.Main; see its doc for
// what that costs.
//
// What may not live here: decisions. The engine wires and observes; every
// decision is the node's own.
package stack
