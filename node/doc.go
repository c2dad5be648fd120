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
// Files:
//   - config.go, config_example.go: the YAML config, its documented
//     defaults, environment overrides, and the example `config init` writes.
//   - node.go: wiring and shutdown (the one place the node is put together).
//   - gossip.go: validation, document intake against the trusted state
//     (trust.State), roots and revocation, the catch-up catalog.
//   - run.go: the evaluate loop (policy.Next, OnRecall), sync and freshness.
//   - lifecycle.go: the asset owner's lifecycle per release (policy.Authorise,
//     InstallGate), each transition recorded in the audit log first.
//   - fetch.go, delta.go: fetching DAGs level by level with the stall
//     watchdog and rate cap; rebuilding a release from its delta.
//   - swarm.go: the piece-exchange protocol (/tocsin/swarm/1.3.0) that
//     fetches a DAG's leaf level from neighbours, and serves it: frames,
//     streams, verification before storing; content/swarm decides.
//     Block buffers are recycled at both ends (blockBufs), only once
//     nothing else holds them.
//   - install.go: installer, health check and rollback hooks.
//   - report.go: signed status reports, the fleet view, wave statistics.
//   - admission.go: the roster-driven connection gater, mDNS.
//   - airgap.go: CAR export and verified import.
//   - heartbeat.go: the seed's signed heartbeat.
//   - control.go, metrics.go: the unix control socket and Prometheus metrics.
//   - state.go: persistent records and status.json.
//
// What may not live here: decisions. Whether to fetch or install, in what
// order to want blocks, which peer the seed serves — those are in policy and
// content, with time and randomness passed in.
package node
