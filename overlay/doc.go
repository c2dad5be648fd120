// Package overlay decides who a node talks to and how messages move between
// them: the libp2p host, the GossipSub topic and its parameters, bootstrap
// connections, and catch-up (a request/response sync so a device that was
// offline gets the signed documents it missed — GossipSub keeps no history).
//
// What lives here:
//   - host.go: building the libp2p host: identity, listen addresses, the
//     admission gater (whose decision the node passes in), private network,
//     resource manager limits, connection manager.
//   - gossip.go: the announce and status topics, GossipSub options, message
//     ids by content hash, message caps.
//   - score.go: GossipSub peer-score parameters tuned for rare messages.
//   - bootstrap.go: keeping connections to the configured bootstrap peers.
//   - discovery.go: the fleet's own Kademlia DHT (mDNS lives in the node,
//     which starts it from go-libp2p).
//   - sync.go: the /tocsin/sync protocol; it moves opaque signed envelopes
//     and leaves verification to the caller's sink, exactly as gossip does.
//
// What may not: no verification or policy decisions (the node passes its
// validator in), no storage, no bitswap.
package overlay
