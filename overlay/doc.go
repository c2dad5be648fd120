// Package overlay decides who a node talks to and how messages move between
// them: the libp2p host, the GossipSub topic and its parameters, bootstrap
// connections, and catch-up (a request/response sync so a device that was
// offline gets the signed documents it missed — GossipSub keeps no history).
//
// What lives here:
//   - host.go: building the libp2p host from a node's identity and listen
//     addresses.
//   - gossip.go: the announce topic, GossipSub options and message caps.
//   - bootstrap.go: keeping connections to the configured bootstrap peers.
//   - sync.go: the /tocsin/sync protocol; it moves opaque signed envelopes
//     and leaves verification to the caller's sink, exactly as gossip does.
//
// What may not: no verification or policy decisions (the node passes its
// validator in), no storage, no bitswap.
package overlay
