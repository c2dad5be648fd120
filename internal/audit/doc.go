// Package audit is every node's hash-chained, signed, append-only audit log:
// the IEC 62443-2-3 evidence of what happened to each security update on a
// device, who decided it, and when.
//
// # What lives here
//
//   - [Record], [Entry], [Head] and [Log]: a node opens its log with [Open]
//     on its datastore (the badger store) and its libp2p identity key, and
//     calls [Log.Append] for every lifecycle event, using the Event* names
//     and Detail* keys defined in export.go.
//   - [Verify] and [VerifyStore]: detect any change to the stored log and
//     name the record affected. Every such error wraps [ErrTampered] and is
//     a [*TamperError].
//   - [Export] and [Evidence.Markdown]: the evidence an auditor asks for
//     about one release.
//
// # Storage layout
//
// Record N is stored under /tocsin/audit/NNNNNNNNNNNNNNNNNNNN (N zero-padded
// to 20 digits, so keys sort in sequence order) as the compact JSON of
// [Record] exactly as encoding/json writes it; the signed head lives under
// /tocsin/audit-head as the compact JSON of [Head]. [Log.Append] writes a
// record and the new head in one transaction when the datastore is a
// datastore.TxnDatastore (badger is) and in one batch otherwise, then syncs.
//
// # What is signed and chained
//
// The signature of a record is by the node's identity key over
// [Record.SigningBytes]: a domain-separation tag followed by every field but
// Sig in a fixed order, integers as fixed-width big-endian, strings
// length-prefixed, the time as UTC Unix seconds and nanoseconds, and the
// details as a count followed by the pairs sorted by key. The encoding is
// prefix-free and injective, so two different records never encode the same.
// [Record.Hash] is the SHA-256 of the signing bytes followed by the
// length-prefixed signature; each record's Prev is the previous record's
// Hash, and the head signs the last sequence number and hash. Because the
// chain covers the signatures too, the head's signature authenticates every
// byte of every record.
//
// Stored values must also be in canonical form: [VerifyStore] re-encodes
// every record it decodes and calls it corrupt unless the bytes are
// identical, so a change that encoding/json would tolerate (case of a field
// name, an escape, base64 padding bits) is still detected.
//
// # Limits
//
// The log proves integrity against anyone without the node's key. It cannot,
// on its own, detect a rollback to an older but genuine state (the records
// after an old head deleted together with the head put back, or the whole
// log wiped): that needs the head anchored somewhere else, such as reported
// to the seed.
//
// # What may not live here
//
// This package depends only on the standard library, go-datastore and
// libp2p's core/crypto (for the identity key). It must not import node,
// seed, overlay, content or policy: the node calls it, never the reverse,
// and the clock is the caller's (every [Entry] carries its time).
package audit
