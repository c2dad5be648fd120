// Package model is the simulator's model engine: a deterministic
// discrete-event simulation, at flow level, of the protocols the real node
// runs (GossipSub for advisories, catch-up sync, and for the patch either
// the swarm protocol or bitswap with the seed's super-seeding gate), for
// fleets the stack engine cannot
// reach: up to a million devices on one machine.
//
//	g := scenario.Build(&s)
//	res, err := model.Run(ctx, &s, g, nil) // res.Engine == "model"
//
// Run fills every Result field but WallSeconds, which the caller measures.
//
// # What it models
//
// Time is float64 seconds on one event heap, in one goroutine. Each node has
// the Up and Down rates and latency of its link class (scenario.Link); a
// message between a and b takes the mean of their latencies plus a uniform
// jitter within ± the larger jitter, plus, on lossy links, retransmission
// rounds: a transfer spans 1 + duration/RTT rounds, each lost with the
// pair's loss rate (again on every retry), costing one RTT per loss, so
// rounds·p/(1−p) RTTs on average. Loss is delay only; congestion control's
// throughput collapse is not modelled.
//
// Uplinks. Block data leaves a node's uplink one block at a time, first come
// first served, at the Up rate, as the node's bitswap server sends (one
// worker, one block per peer at a time); it keeps the event count at two
// per block (sent, delivered). Small messages (advisories, sync replies)
// use a second queue, so they are not stuck behind bulk data as a
// multiplexed transport would not leave them; their bytes count in the
// upload series. Gossip copies also queue, one after another, on the
// receiver's downlink.
//
// Downlinks are a reservation timeline: a block whose last byte would reach
// the receiver at tA is delivered at max(tA, first byte + size/Down, the end
// of the blocks reserved before it + size/Down). No device ever receives
// faster than its Down rate, so none finishes before F/Down; blocks from
// several senders at once share the downlink. The sender is not slowed down
// by a slow receiver (it would serve others meanwhile).
//
// Advisories (GossipSub v1.1 with the node's options, go-libp2p-pubsub
// defaults): every node keeps a symmetric mesh of up to D = 6 neighbours
// (built at random before the run, never above Dhi = 12). A seed publishes
// advisory i at i·Advisories.Interval to every connected neighbour (flood
// publish). A node validates a new message (ValidateSeconds, 1 ms), delivers
// it and forwards it to its mesh but the sender; peers whose IDONTWANT
// (sent on receipt, for messages over 1 KiB) has reached it by then are
// skipped. At each heartbeat (1 s, a
// random phase per node) a node sends IHAVE for the messages of its last 3
// heartbeats to max(Dlazy = 6, 0.25 × eligible) random non-mesh neighbours;
// one lacking a message answers IWANT and gets it. Messages are 4 KiB. A
// node that comes back online pulls what each neighbour holds and each
// neighbour pulls from it (the sync protocol runs on every new connection);
// a node lacking a published advisory also pulls from all neighbours every
// 30 s. Documents pulled by sync are stored, not re-gossiped, as in the
// node. Only the first MaxAdvisories (32) advisories are simulated.
//
// The patch: F bytes in k = ⌈F/chunk⌉ chunks (the small DAG root is left
// out: the manifest travels with the advisory). A device starts fetching
// when it accepts the first advisory.
//
// With patch.transfer: swarm (the default, as in the node), swarm.go: each
// device runs the node's own scheduler (content/swarm: rarest first, the
// requests per neighbour and in all that swarm.Config's defaults set, BUSY
// backoff, endgame, offers of fresh pieces) and each seed the node's
// Reveal; swarm.go's comment
// gives the frame timings. Uplinks and downlinks are as below. The DAG's
// inner blocks are not modelled: the
// node gets them in one INNER frame from the first neighbour that knows
// the release. Calibration, 64 KiB chunks: the stack engine's devices
// used to wait for the root block by bitswap, longer the bigger the fleet
// (0.3 s at 300 devices, 1 s at 1,000); since the INNER frame the
// model's last device finishes
// 15-16% before the stack engine's (2.75 s against 3.26 s at 300, 2.88 s
// against 3.37 s at 1,000), so the swarm model is an optimistic bound
// (the rest is unexplained; head-of-line waits of control frames behind
// blocks on one connection are a candidate). With 32 KiB pieces and
// offers (2026-12-07) the gap is the same: 2.37 s against 2.79-2.86 s at
// 300, 2.46 s against 2.85 s at 1,000; with 16 KiB pieces, ten requests
// outstanding and the endgame after 250 ms (swarm.WindowFor, EndgameFor),
// 2.38 s against 2.69 s at 1,000.
// One known cause: the model never
// slows a sender down for a busy receiver, while simnet shares a downlink
// fairly among the connections into it. flat-1000, the calibration
// scenario, pins bitswap.
//
// With patch.transfer: bitswap, a device keeps up to Window = 8 want-blocks
// outstanding (the node's fetch_window), taking chunks in its own random order (content.PlanWants
// shuffles), each from the neighbour with the shortest upload queue among
// those it knows have the chunk (ties broken from a random start). A
// neighbour's HAVE for a block reaches the device one latency after the
// neighbour got it (exact as long as a block takes longer to receive than a
// latency; otherwise an earlier block may be seen up to one latency early);
// waiting devices look again when a HAVE arrives. Bitswap's DONT_HAVE
// timeout is modelled (2 × the EWMA of that peer's response time, 50 ms to
// 7 s, 2 s + 3 RTT before the first answer, on a 1 ms grid; the EWMA takes
// the first answer to every want, so the HAVE that answered the want-have
// before each want-block counts, a round trip, as well as the block,
// queueing included — which is why busy uploaders time out): the want goes
// to another holder and the first may still send the block — duplicates
// come from there, and from CANCELs that arrive after the sender started.
// A request whose requester already has the block (and whose CANCEL has
// arrived) is dropped when its turn comes.
//
// The seed serves every chunk behind the super-seeding gate
// (content.Gate): a chunk's first asker gets it, and one more peer per
// GateIntervalSeconds (2 s) since; others get DONT_HAVE one round trip
// later, fetch that chunk elsewhere and leave it alone at the seed for
// SeedRetrySeconds (the node's 3 s stall timeout), then ask again (one
// refusal mask per device, whichever seed refused). The node
// installs the gate as bitswap's PeerBlockRequestFilter, which boxo applies
// to want-haves as well as want-blocks, and a session starts by
// broadcasting want-have for its first 64 wants to every peer; so, by
// default (GateOnWantHave), a device's want-haves are judged when it starts
// fetching (and when it asks again), and the first device near the seed is
// granted the first serving of every chunk rather than of one. Setting
// GateOnWantHave to false judges want-blocks only, the behaviour the gate
// was designed for. Since the quota grows, a device whose only source is
// the seed still finishes.
//
// Churn and outages follow the graph's offline intervals: an offline node
// neither sends nor receives; requests queued on its uplink fail (their
// requesters ask elsewhere one latency later), its own wants are dropped,
// and it catches up by sync and resumes fetching when back.
//
// Adversaries. Silent devices and Sybils receive gossip but never forward,
// answer IWANT or sync, or say HAVE; silent devices do fetch the patch
// (free riders); Sybils do not. Forgers relay nothing and send one forged
// advisory to their mesh per real one they receive; the receiver's
// validator rejects it (ForgedSent counts copies sent; ForgedAccepted stays
// 0: a message is delivered or forwarded only after validation), prunes the
// forger from its mesh, ignores it from then on and grafts a replacement
// below Dlo. BadBlocks devices relay gossip normally, claim every block
// once they have the manifest and serve corrupt data: the receiver hashes
// it, drops it ("rejected" bytes, BadBlocksServed), never asks that peer
// again and asks elsewhere; BadBlocksStored stays 0.
//
// The run stops at the horizon, or as soon as every honest device that is
// online at some point before the horizon has the advisory and the patch
// (devices that leave for good before finishing stop counting); transfers
// still in flight then are not counted.
//
// # What it leaves out
//
// Per-packet TCP/QUIC dynamics, CPU limits other than validation,
// want-have/HAVE/CANCEL message bytes, the DHT and connection management
// (the graph is the connection set), mesh maintenance beyond pruning
// forgers, GossipSub scoring other than that prune, delta patches, the
// installer, and the intermediate DAG levels of very large files.
//
// # Cost
//
// One 128-byte state per node (the first cache line holds what a
// neighbour reads), chunk bitsets inline for up to 64 chunks, a 2-byte want
// order per node and chunk, 56-byte request records reused from a free
// list, 32-byte events in a 4-ary heap, and the timeouts on a timing wheel
// outside the heap. The default scenario at 1,000,000 devices takes about
// 75 M events, 1.5 GB and a minute and a half on two shared cores
// (BenchmarkMillion, or TestMillion with TOCSIN_SIM_MILLION=1).
//
// # Rules
//
// What lives here: the flow-level model and its constants (Options). What
// may not: any network or store, any real node code (the model follows the
// node's decisions, content.PlanWants and content.Gate, in its own terms),
// time.Now (the caller measures wall time), goroutines, or iteration over
// maps. Determinism is a requirement: every random draw comes from
// scenario.NewRand with the scenario's seed on streams 3 (run), 4 (meshes)
// and 5 (want orders and phases), events at equal times run in the order
// they were scheduled, so the same scenario gives a byte-identical result.
package model
