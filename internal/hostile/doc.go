// Package hostile holds the misbehaving parts the attack tests and the
// simulator's adversaries share, so that both attack the node the same way.
//
// What lives here: test doubles of hostile peers (a block store that serves
// corrupted data). What may not: anything the node itself uses.
package hostile
