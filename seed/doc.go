// Package seed is the supplier's side of Tocsin: the always-on seed node and
// the publishing client.
//
// A seed is a node (package node) in seed role: it verifies and gossips what
// its supplier signs, serves blocks to anyone over bitswap with the
// super-seeding gate (content.Gate), and never installs. It listens on a
// unix socket in its data dir (control.sock, mode 0600) for the publishing
// CLI on the same machine.
//
// Publishing (publish.go) chunks the file to learn its root CID, signs the
// release manifest and the advisory with the supplier key, and hands both to
// the running seed, starting one if none runs. The seed re-verifies the
// signatures, imports the file into its badger store and refuses it unless
// the root CID, size and SHA-256 match what was signed.
//
// What may not live here: device behaviour, policy decisions, key material
// beyond the publishing call (the seed process itself holds no private key).
package seed
