package policy

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Admission errors.
var (
	ErrNotEnrolled = errors.New("peer is not enrolled in the fleet")
	ErrRevoked     = errors.New("peer's enrolment is revoked")
	ErrOtherZone   = errors.New("peer is in another zone and no conduit joins them")
)

// AdmitPeer decides whether this node (self) may connect with other, from
// the owner's fleet roster (IEC 62443-3-2 zones and conduits): both must be
// enrolled members, other not revoked, and either in the same zone or joined
// by a conduit — one of them a gateway whose conduits include the other's
// zone. A nil roster admits everyone (an open node, such as a supplier
// seed).
func AdmitPeer(r *trust.Roster, self, other string) error {
	if r == nil {
		return nil
	}
	me, ok := r.Member(self)
	if !ok {
		return fmt.Errorf("%w: this node (%s) is not in roster %s v%d", ErrNotEnrolled, short(self), r.Fleet, r.Seq)
	}
	if r.IsRevoked(other) {
		return fmt.Errorf("%w: %s (roster %s v%d)", ErrRevoked, short(other), r.Fleet, r.Seq)
	}
	them, ok := r.Member(other)
	if !ok {
		return fmt.Errorf("%w: %s (roster %s v%d)", ErrNotEnrolled, short(other), r.Fleet, r.Seq)
	}
	switch {
	case me.Zone == them.Zone:
		return nil
	case me.Role == trust.MemberGateway && slices.Contains(me.Conduits, them.Zone):
		return nil
	case them.Role == trust.MemberGateway && slices.Contains(them.Conduits, me.Zone):
		return nil
	}
	return fmt.Errorf("%w: %s is in zone %s, this node in %s", ErrOtherZone, short(other), them.Zone, me.Zone)
}

func short(id string) string {
	if len(id) > 16 {
		return id[len(id)-16:]
	}
	return id
}
