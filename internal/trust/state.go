package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Errors State returns. Callers use errors.Is.
var (
	ErrExpired  = errors.New("expired")
	ErrRollback = errors.New("rollback: older than what is trusted")
	// ErrConflict is two different documents signed with the same sequence
	// number in one slot: the supplier's keys equivocate, or one leaked.
	ErrConflict = errors.New("conflicting document with the same sequence number")
	// ErrDuplicate is a document already held (the same payload).
	ErrDuplicate = errors.New("already held")
)

// Mark is the highest sequence number accepted in a slot and the digest of
// the document that carried it.
type Mark struct {
	Seq    uint64 `json:"seq"`
	Digest string `json:"digest"`
}

// State is a device's trusted state: the current root, the high-water mark
// of every document slot, and the last heartbeat. It is pure data plus
// decisions; the node persists it (as JSON) in the same write as the
// document that changed it.
type State struct {
	Root    Root            `json:"-"`
	RootEnv []byte          `json:"root"` // the root's envelope, as signed
	Marks   map[string]Mark `json:"marks"`
	// Heartbeat is the newest accepted heartbeat (nil before the first).
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
}

// NewState starts a state from a root the device was given at enrolment.
func NewState(rootEnv []byte) (*State, error) {
	r, _, err := OpenRoot(rootEnv)
	if err != nil {
		return nil, err
	}
	return &State{Root: r, RootEnv: append([]byte(nil), rootEnv...), Marks: map[string]Mark{}}, nil
}

// Restore re-reads the root of a state decoded from JSON.
func (s *State) Restore() error {
	r, _, err := OpenRoot(s.RootEnv)
	if err != nil {
		return fmt.Errorf("stored root: %w", err)
	}
	s.Root = r
	if s.Marks == nil {
		s.Marks = map[string]Mark{}
	}
	return nil
}

// Clone returns a deep copy (tests compare states before and after an
// attack; the node decides on a copy and commits it after the write).
func (s *State) Clone() *State {
	c := *s
	c.RootEnv = append([]byte(nil), s.RootEnv...)
	c.Marks = make(map[string]Mark, len(s.Marks))
	for k, v := range s.Marks {
		c.Marks[k] = v
	}
	if s.Heartbeat != nil {
		h := *s.Heartbeat
		h.Latest = make(map[string]uint64, len(s.Heartbeat.Latest))
		for k, v := range s.Heartbeat.Latest {
			h.Latest[k] = v
		}
		c.Heartbeat = &h
	}
	return &c
}

// Check decides whether a verified document may be accepted at now: the
// root must not have expired, the document must not have expired, and its
// sequence number must be above its slot's mark (equal with the same
// payload is ErrDuplicate; equal with another payload is ErrConflict).
// Roots go through UpdateRoot instead.
func (s *State) Check(doc Document, now time.Time) error {
	if doc.Root != nil {
		return fmt.Errorf("%w: roots are checked by UpdateRoot", ErrPayloadType)
	}
	if !now.Before(s.Root.Expires) {
		return fmt.Errorf("%w: trusted root v%d expired at %s; waiting for a new root", ErrExpired, s.Root.Version, s.Root.Expires.Format(time.RFC3339))
	}
	if exp := doc.Expires(); !exp.IsZero() && !now.Before(exp) {
		return fmt.Errorf("%w: %s expired at %s", ErrExpired, doc.Key(), exp.Format(time.RFC3339))
	}
	m, ok := s.Marks[doc.Slot()]
	switch {
	case !ok || doc.Seq() > m.Seq:
		return nil
	case doc.Seq() == m.Seq && doc.Digest() == m.Digest:
		return fmt.Errorf("%s: %w", doc.Key(), ErrDuplicate)
	case doc.Seq() == m.Seq:
		return fmt.Errorf("%w: %s seq %d", ErrConflict, doc.Slot(), doc.Seq())
	default:
		return fmt.Errorf("%w: %s seq %d, trusted seq %d", ErrRollback, doc.Key(), doc.Seq(), m.Seq)
	}
}

// Apply records an accepted document (after Check returned nil).
func (s *State) Apply(doc Document) {
	s.Marks[doc.Slot()] = Mark{Seq: doc.Seq(), Digest: doc.Digest()}
	if doc.Heartbeat != nil {
		h := *doc.Heartbeat
		s.Heartbeat = &h
	}
}

// UpdateRoot moves the state to the root in env: version exactly one above
// the current one, signed by a threshold of the current root's root role and
// by a threshold of its own. A new root may already have expired (a device
// walks old rotations in order); Check refuses everything while the newest
// root it holds is expired. Roles whose keys changed have their marks reset
// (fast-forward recovery: an attacker who stole a role key and signed a huge
// sequence number is locked out with the key, without locking out the
// supplier) and, for the heartbeat role, the heartbeat dropped. It returns the
// roles that changed: documents those roles signed must be verified again.
func (s *State) UpdateRoot(env []byte) ([]string, error) {
	e, err := ParseEnvelope(env)
	if err != nil {
		return nil, err
	}
	if e.PayloadType != TypeRoot {
		return nil, fmt.Errorf("%w %q, want a root", ErrPayloadType, e.PayloadType)
	}
	next, err := ParseRoot(e.Payload)
	if err != nil {
		return nil, err
	}
	switch {
	case next.Version <= s.Root.Version:
		return nil, fmt.Errorf("%w: root v%d, trusted root is v%d", ErrRollback, next.Version, s.Root.Version)
	case next.Version != s.Root.Version+1:
		return nil, fmt.Errorf("%w: root v%d, need v%d first", ErrRootVersion, next.Version, s.Root.Version+1)
	}
	if _, err := s.Root.VerifyRole(e, RoleRoot, ""); err != nil {
		return nil, fmt.Errorf("root v%d is not signed by the root keys of v%d: %w", next.Version, s.Root.Version, err)
	}
	if _, err := next.VerifyRole(e, RoleRoot, ""); err != nil {
		return nil, fmt.Errorf("root v%d is not signed by its own root keys: %w", next.Version, err)
	}
	changed := changedRoles(s.Root, next)
	for _, role := range changed {
		for slot := range s.Marks {
			if slotRole(slot) == role {
				delete(s.Marks, slot)
			}
		}
		if role == RoleHeartbeat {
			s.Heartbeat = nil
		}
	}
	s.Root, s.RootEnv = next, append([]byte(nil), env...)
	return changed, nil
}

// UpdateRoots walks a chain of roots in order, at most MaxRootRotations of
// them. Roots at or below the current version are skipped. It stops at the
// first root that fails, keeping the rotations before it.
func (s *State) UpdateRoots(chain [][]byte) ([]string, error) {
	if len(chain) > MaxRootRotations {
		return nil, fmt.Errorf("%w: %d roots offered, limit %d", ErrTooManyRotations, len(chain), MaxRootRotations)
	}
	seen := map[string]bool{}
	for _, env := range chain {
		changed, err := s.UpdateRoot(env)
		if errors.Is(err, ErrRollback) {
			continue
		}
		if err != nil {
			return sortedSet(seen), err
		}
		for _, r := range changed {
			seen[r] = true
		}
	}
	return sortedSet(seen), nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// slotRole is the role whose documents fill a slot.
func slotRole(slot string) string {
	switch {
	case strings.HasPrefix(slot, "release/"), strings.HasPrefix(slot, "recall/"):
		return RoleRelease
	case strings.HasPrefix(slot, "advisory/"):
		return RoleAdvisory
	case slot == "heartbeat":
		return RoleHeartbeat
	}
	return ""
}

// Freshness states.
const (
	Fresh       = "fresh"        // an unexpired heartbeat; nothing missing
	Behind      = "behind"       // the heartbeat lists documents we lack
	Stale       = "stale"        // no unexpired heartbeat: cannot confirm latest
	RootExpired = "root-expired" // the trusted root expired: nothing new is accepted
)

// Freshness is what a device can say about how current its documents are.
type Freshness struct {
	State  string `json:"state"`
	Detail string `json:"detail"`
	// Missing are the slots the heartbeat says have newer documents.
	Missing []string `json:"missing,omitempty"`
}

// Freshness judges the state at now. A device never silently trusts old
// data: without a heartbeat that has not expired it reports Stale.
func (s *State) Freshness(now time.Time) Freshness {
	if !now.Before(s.Root.Expires) {
		return Freshness{State: RootExpired, Detail: fmt.Sprintf("trusted root v%d expired at %s", s.Root.Version, s.Root.Expires.Format(time.RFC3339))}
	}
	h := s.Heartbeat
	if h == nil {
		return Freshness{State: Stale, Detail: "stale, cannot confirm latest: no heartbeat received yet"}
	}
	if !now.Before(h.Expires) {
		return Freshness{State: Stale, Detail: fmt.Sprintf("stale, cannot confirm latest: heartbeat %d expired at %s", h.Seq, h.Expires.Format(time.RFC3339))}
	}
	var missing []string
	if h.RootVersion > s.Root.Version {
		missing = append(missing, "root")
	}
	for slot, seq := range h.Latest {
		if s.Marks[slot].Seq < seq {
			missing = append(missing, slot)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Freshness{State: Behind, Detail: fmt.Sprintf("behind: heartbeat %d lists %d newer document(s)", h.Seq, len(missing)), Missing: missing}
	}
	return Freshness{State: Fresh, Detail: fmt.Sprintf("fresh: heartbeat %d valid until %s", h.Seq, h.Expires.Format(time.RFC3339))}
}

// Marshal encodes the state for the node's store.
func (s *State) Marshal() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode trusted state: %w", err)
	}
	return b, nil
}
