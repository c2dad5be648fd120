package policy

import (
	"errors"
	"testing"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

func TestAdmitPeer(t *testing.T) {
	r := &trust.Roster{Fleet: "plant", Seq: 1, Members: []trust.Member{
		{Peer: "a1", Zone: "A", Role: trust.MemberDevice},
		{Peer: "a2", Zone: "A", Role: trust.MemberDevice},
		{Peer: "b1", Zone: "B", Role: trust.MemberDevice},
		{Peer: "gw", Zone: "A", Role: trust.MemberGateway, Conduits: []string{"B", "dmz"}},
		{Peer: "seed", Zone: "dmz", Role: trust.MemberSeed},
		{Peer: "stolen", Zone: "A", Role: trust.MemberDevice},
	}, Revoked: []string{"stolen"}}
	cases := []struct {
		self, other string
		want        error
	}{
		{"a1", "a2", nil},
		{"a1", "gw", nil},
		{"b1", "gw", nil}, // gateway's conduit reaches B
		{"gw", "b1", nil},
		{"gw", "seed", nil},
		{"seed", "gw", nil},
		{"a1", "b1", ErrOtherZone},
		{"b1", "seed", ErrOtherZone},
		{"a1", "stranger", ErrNotEnrolled},
		{"a1", "stolen", ErrRevoked},
		{"stolen", "a1", ErrNotEnrolled}, // a revoked node admits no one
		{"stranger", "a1", ErrNotEnrolled},
	}
	for _, c := range cases {
		if err := AdmitPeer(r, c.self, c.other); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s→%s: got %v, want %v", c.self, c.other, err, c.want)
		}
	}
	if err := AdmitPeer(nil, "x", "y"); err != nil {
		t.Errorf("open node: %v", err)
	}
}
