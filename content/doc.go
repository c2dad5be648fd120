// Package content turns files into content-addressed UnixFS DAGs and back, and
// keeps their blocks in a verified badger store.
//
// What lives here:
//   - dag.go: chunking a file into a UnixFS DAG (boxo's importer, CIDv1, raw
//     leaves, configurable chunk size) and reassembling it with a SHA-256;
//     a DAG's inner blocks as one list a peer can send, and the check of
//     such a list against the signed root.
//   - piecefile.go: writing a release's file while its leaves arrive, in
//     any order, at the offsets the DAG's parent nodes give them, so a
//     fetch needs no second pass over the store; the file's SHA-256 is
//     taken as pieces come in file order, and Finish fills in leaves held
//     from before and reads back only what was not hashed on the way in.
//     Every 8 MiB written it asks the kernel to start writing the file
//     back (writeback_linux.go), so the fetch's final fsync has little
//     left to wait for and dirty pages stay bounded.
//   - filerefs.go: blocks kept as references into a release file (path,
//     offset, length) instead of a second copy in badger's value log —
//     our own small take on boxo's filestore, which keys files under one
//     root and needs its own datastore wiring. Reads through a reference
//     are always re-hashed.
//   - store.go: the on-disk badger store (go-ds-badger4) shared by blocks and
//     node state, and a blockstore that re-hashes every block before it
//     stores it, so bytes that do not match their CID are never kept, and
//     on every read for local use; uploads (Served) skip the hash of a
//     block already hashed since the store opened and rely on badger's
//     per-value CRC for rot since; GetInto reads such a block into the
//     uploader's own buffer.
//   - schedule.go: pure scheduling decisions — the order in which a device
//     asks for the blocks it lacks, and the seed's super-seeding gate that
//     hands each block to few peers first so devices swarm among themselves.
//     Time and randomness are passed in.
//   - swarm/ (its own package, standard library only): the swarm protocol's
//     decisions — which neighbour a device asks for which piece, and which
//     pieces a seed shows whom — shared by the node and the model engine.
//     Pieces (dag.go) numbers a DAG's leaves for it.
//   - throttle.go: an upload-rate cap on what the bitswap server reads.
//   - delta.go: binary deltas like `zstd --patch-from` (the old file as a raw
//     zstd dictionary, klauspost/compress) with a checked header, so a device
//     running version X can rebuild Y from a small patch.
//   - car.go: the air-gap bundle — a release DAG plus its signed envelopes
//     as one CARv1 file (go-car framing, roots [release, bundle block]), and
//     a reader that re-hashes every block, enforces size limits and checks
//     the DAG is complete before anything is stored. It verifies no
//     signature: the caller checks the envelopes, then calls Store.
//
// What may not: no libp2p hosts, no pubsub, no policy decisions, no package
// of Tocsin's other than internal/ helpers. The node wires these pieces to the
// network.
package content
