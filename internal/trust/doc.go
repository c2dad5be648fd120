// Package trust holds Tocsin's signed documents and the pure code that
// verifies them: Ed25519 key files, the signed envelope every document travels
// in, and the release manifest and advisory payloads.
//
// The envelope follows DSSE (the in-toto "Dead Simple Signing Envelope"): the
// signature covers a pre-authentication encoding of the payload type and the
// exact payload bytes, so a payload is never re-serialised before it is
// verified and unknown fields survive. We write it ourselves (about a hundred
// lines) rather than pull in go-securesystemslib, because the whole format is
// the PAE function and a JSON struct, and we want bounded, panic-free parsing
// of bytes that arrive from untrusted peers.
//
// Pure: no network, no disk beyond reading and writing key files, no clock
// (times are passed in). It may import only the standard library.
package trust
