// Package swarm holds the decisions of Tocsin's piece-exchange protocol
// (/tocsin/swarm/1.3.0), as pure code: which piece of a release a device
// asks which neighbour for (Scheduler: rarest first, a few requests
// pipelined per neighbour, timeouts, a short endgame), and which pieces a
// seed shows each neighbour (Reveal: super-seeding, so that the seed's
// upload goes to distinct pieces and devices trade the rest among
// themselves). Pieces are a release DAG's leaves, numbered in DAG order.
// The Scheduler also keeps Waits: how long its fetch spent with the window
// full, starved or blocked, for status and the simulators.
//
// Why our own and not bitswap alone: bitswap asks all neighbours what they
// have, then asks one for each block and, when its latency estimate says
// the answer is late, asks another. Measured on 1,000 simulated devices
// (sim/stack), a third of the bytes received were duplicates and the last
// device finished at 7.4 times the Kumar–Ross bound. A device running this
// scheduler asks exactly one neighbour for each piece, prefers the pieces
// fewest neighbours have, and the seed hands out each piece once before it
// hands out any twice. Bitswap stays alongside it, for stock IPFS nodes and
// as the fallback when no neighbour speaks the protocol.
//
// Time and randomness are passed in: the node (node/swarm.go) and the
// model engine (sim/model) run the same code, and tests replay it exactly.
//
// What may not live here: I/O of any kind, libp2p, CIDs, stores — this
// package imports only the standard library (internal/deptest checks), so
// the model engine may use it.
package swarm
