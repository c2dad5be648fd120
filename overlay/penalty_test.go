package overlay

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestStrikesBanAndForgive(t *testing.T) {
	var s Strikes
	p, q := peer.ID("p"), peer.ID("q")
	t0 := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if s.Charge(p, 1, t0) {
			t.Fatalf("banned after %d offences, limit 4", i+1)
		}
	}
	if !s.Charge(p, 1, t0) || !s.Banned(p, t0.Add(time.Minute)) || s.Banned(q, t0) {
		t.Fatal("the fourth offence should ban p, and only p")
	}
	if s.Charge(p, 5, t0.Add(time.Minute)) {
		t.Error("a banned peer was banned again")
	}
	if s.Banned(p, t0.Add(11*time.Minute)) {
		t.Error("the ban outlived BanFor")
	}
	// Offences further apart than BanFor never add up.
	for i := 0; i < 10; i++ {
		if s.Charge(q, 1, t0.Add(time.Duration(i)*11*time.Minute)) {
			t.Fatal("spread-out offences banned q")
		}
	}
	if s.BannedCount(t0.Add(time.Minute)) != 1 {
		t.Errorf("banned count %d, want 1", s.BannedCount(t0.Add(time.Minute)))
	}
}
