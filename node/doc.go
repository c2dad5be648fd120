// Package node is the Tocsin daemon that runs on every gateway and controller,
// and — in seed role — on the supplier's seed nodes. It is the shell around
// the pure decisions: it does the I/O and nothing else.
//
// One constructor, New, wires everything: the libp2p host (overlay), the
// announce topic with a validator that verifies every envelope before it is
// delivered or forwarded (internal/trust), catch-up sync (overlay), bitswap
// client and server over a verified badger store (content), and the evaluate
// loop that asks policy.Next what to do for each release and carries it out:
// fetch the DAG from whichever peers have blocks, reassemble and check the
// SHA-256, run the installer, record the result.
//
// Files: config.go (the YAML config and its documented defaults), node.go
// (wiring and lifecycle), gossip.go (validation and document intake),
// fetch.go, install.go, state.go (persistent records and status.json).
//
// What may not live here: decisions. Whether to fetch or install, in what
// order to want blocks, which peer the seed serves — those are in policy and
// content, with time and randomness passed in.
package node
