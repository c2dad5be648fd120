// Package trust holds Tocsin's signed documents and the pure code that
// decides whether to trust them: Ed25519 key files, the signed envelope every
// document travels in, the supplier's trust root with its roles and
// thresholds, the document types (release manifests, CSAF advisories,
// heartbeats, recalls, roots), and a device's trusted state (sequence marks,
// heartbeat, freshness).
//
// What lives here:
//   - envelope.go: DSSE envelopes. The signature covers a pre-authentication
//     encoding of the payload type and the exact payload bytes, so a payload
//     is never re-serialised before it is verified, unknown fields survive,
//     and a payload cannot be relabelled as another type.
//   - root.go: the trust root (like TUF's root.json): keys, and per role
//     (root, release, advisory, heartbeat) the key ids and a threshold of
//     distinct keys that must sign. Keys may be scoped to products. VerifyRole
//     counts each key once however often its signature appears.
//   - documents.go: release manifests (product, version, sequence number,
//     root CID, size, sha256, hardware ids, versions it applies to, expiry),
//     CSAF advisories (decoded by an injected AdvisoryDecoder, in production
//     internal/csaf.Advisory), heartbeats and recalls; Open verifies
//     signatures before decoding anything.
//   - state.go: a device's trusted state and the decisions on it: rollback,
//     equivocation and expiry (Check), root rotation with fast-forward recovery
//     and a cap on rotations (UpdateRoot, UpdateRoots), and freshness
//     (Freshness: fresh, behind, stale, root-expired).
//   - keys.go: PEM key files (private keys 0600, refused if others can read).
//
// Why not go-tuf: go-tuf v2's metadata package was evaluated first. Its
// model is a repository a client polls in a fixed order — root, timestamp,
// snapshot, targets — with consistency guaranteed by the snapshot, its roles
// are TUF's four, and it signs canonical-JSON re-serialisations. Tocsin's
// documents arrive one at a time, in any order, from untrusted peers over
// gossip, and must each be judged on their own. So this package keeps TUF's
// properties and not its file layout: thresholds of distinct keys (duplicate
// signatures and keys counted once, zero thresholds and roles naming a key
// twice are invalid roots, key ids must be the hash of their key), role
// separation, expiry on roots, manifests, heartbeats and recalls, root
// rotation signed by the old and the new root threshold with a version that
// moves by exactly one, a cap on rotations per update, revocation by rotation
// (documents a dropped key signed stop verifying), fast-forward recovery
// (marks of a role whose keys changed are reset), and the timestamp/snapshot
// pair folded into one signed heartbeat that lists the latest sequence number
// of every document slot. CSAF advisories carry no expiry of their own; their
// currency is vouched for by the heartbeat, which does expire.
//
// We also write DSSE ourselves (about a hundred lines) rather than pull in
// go-securesystemslib: the whole format is the PAE function and a JSON
// struct, and we want bounded, panic-free parsing of bytes from untrusted
// peers.
//
// Pure: no network, no disk beyond reading and writing key files, no clock
// (times are passed in). It may import only the standard library and
// internal/fsutil.
package trust
