package overlay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// Reliability check 10 (issue 9): the catch-up sync framing, read from any
// peer, never panics and never hands on an item over the limits.
func FuzzReliabilitySyncItems(f *testing.F) {
	var ok bytes.Buffer
	for _, it := range [][]byte{[]byte(`{"release/plc-fw":3}`), {}, bytes.Repeat([]byte("x"), 300)} {
		ok.Write(binary.AppendUvarint(nil, uint64(len(it))))
		ok.Write(it)
	}
	f.Add(ok.Bytes())
	f.Add(binary.AppendUvarint(nil, MaxSyncItemSize+1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		items := 0
		n, err := readItems(bufio.NewReader(bytes.NewReader(data)), func(b []byte) {
			items++
			if len(b) > MaxSyncItemSize {
				t.Fatalf("item of %d bytes handed on", len(b))
			}
		})
		if n != items || items > MaxSyncItems {
			t.Fatalf("readItems says %d items, handed on %d", n, items)
		}
		if err != nil && !errors.Is(err, ErrSyncTooLarge) && len(data) == 0 {
			t.Fatalf("error on empty input: %v", err)
		}
	})
}
