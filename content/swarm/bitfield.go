package swarm

import (
	"errors"
	"math/bits"
)

// Bitfield is a set of piece numbers.
type Bitfield []uint64

// NewBitfield returns an empty set for k pieces.
func NewBitfield(k int) Bitfield { return make(Bitfield, (k+63)/64) }

// Has reports whether piece i is in b.
func (b Bitfield) Has(i int) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

// Set adds piece i.
func (b Bitfield) Set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// Clear removes piece i.
func (b Bitfield) Clear(i int) { b[i>>6] &^= 1 << (uint(i) & 63) }

// Count returns the number of pieces in b.
func (b Bitfield) Count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// Clone returns a copy of b.
func (b Bitfield) Clone() Bitfield { return append(Bitfield(nil), b...) }

// Bytes encodes the first k bits of b, piece 0 in the low bit of byte 0.
func (b Bitfield) Bytes(k int) []byte {
	out := make([]byte, (k+7)/8)
	for i := range out {
		out[i] = byte(b[i/8] >> (8 * uint(i%8)))
	}
	return out
}

// ErrBitfield: a received bitfield has the wrong length or names pieces
// past the last.
var ErrBitfield = errors.New("malformed bitfield")

// ParseBitfield decodes a bitfield of k pieces as Bytes wrote it.
func ParseBitfield(p []byte, k int) (Bitfield, error) {
	if len(p) != (k+7)/8 {
		return nil, ErrBitfield
	}
	b := NewBitfield(k)
	for i, x := range p {
		b[i/8] |= uint64(x) << (8 * uint(i%8))
	}
	if k%64 != 0 && len(b) > 0 && b[len(b)-1]>>(uint(k)%64) != 0 {
		return nil, ErrBitfield
	}
	return b, nil
}
