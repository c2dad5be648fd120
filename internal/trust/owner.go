package trust

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// This file holds the documents the asset owner signs with its operator
// keys (named in the owner's policy), as opposed to the supplier's root:
// operator decisions and the fleet roster.

// TypeDecision is an asset owner's signed operator decision. It is signed
// by an operator key the owner's policy names, not by the supplier's root.
const TypeDecision = "application/vnd.tocsin.decision.v1+json"

// Operator decision actions.
const (
	DecisionAuthorise = "authorise"
	DecisionReject    = "reject"
)

// Decision is an operator's signed decision about one release for one
// device group (or every group): authorise it (with the safety impact
// analysis reference a safety-related group needs) or reject it.
type Decision struct {
	Action  string `json:"action"`  // DecisionAuthorise or DecisionReject
	Release string `json:"release"` // "<product>@<version>"
	// Group is the device group it applies to; "" means every group.
	Group string `json:"group,omitempty"`
	// SIA is the safety impact analysis reference (IEC TR 63069).
	SIA    string    `json:"sia,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Seq    uint64    `json:"seq"`
	Issued time.Time `json:"issued"`
}

// Validate checks the decision's fields.
func (d Decision) Validate() error {
	prod, ver, ok := strings.Cut(d.Release, "@")
	if !ok || CheckProduct(prod) != nil || CheckVersion(ver) != nil {
		return fmt.Errorf("%w: decision names release %q, want <product>@<version>", ErrInvalidDocument, d.Release)
	}
	switch {
	case d.Action != DecisionAuthorise && d.Action != DecisionReject:
		return fmt.Errorf("%w: decision action %q, want authorise or reject", ErrInvalidDocument, d.Action)
	case d.Group != "" && !reProduct.MatchString(d.Group):
		return fmt.Errorf("%w: decision group %q", ErrInvalidDocument, d.Group)
	case d.Seq == 0:
		return fmt.Errorf("%w: decision has no sequence number", ErrInvalidDocument)
	case len(d.SIA) > 256 || len(d.Reason) > 1024:
		return fmt.Errorf("%w: decision SIA reference or reason too long", ErrInvalidDocument)
	}
	return nil
}

// Slot is the decision's sequence slot: one per release and group, so a
// later decision (reject after authorise) supersedes an earlier one.
func (d Decision) Slot() string { return "decision/" + d.Release + "/" + d.Group }

// SignDecision validates d and returns its envelope signed by keys.
func SignDecision(d Decision, keys ...*PrivateKey) (Envelope, error) {
	return signJSON(TypeDecision, d, d.Validate(), keys)
}

// OpenDecision verifies an operator decision against the operator keys
// (any one of them suffices) and decodes it.
func OpenDecision(data []byte, operators []PublicKey) (Document, error) {
	doc, err := OpenOwner(data, operators)
	if err == nil && doc.Decision == nil {
		return Document{}, fmt.Errorf("%w %q, want an operator decision", ErrPayloadType, doc.Envelope.PayloadType)
	}
	return doc, err
}

// IsOwnerType reports whether an envelope's payload type is one the asset
// owner's operator keys sign (decisions, rosters).
func IsOwnerType(payloadType string) bool {
	return payloadType == TypeDecision || payloadType == TypeRoster
}

// OpenOwner verifies a document the asset owner signs — an operator
// decision or a fleet roster — against the operator keys (any one of them
// suffices), before decoding it.
func OpenOwner(data []byte, operators []PublicKey) (Document, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return Document{}, err
	}
	if !IsOwnerType(env.PayloadType) {
		return Document{}, fmt.Errorf("%w %q, want an operator decision or a roster", ErrPayloadType, env.PayloadType)
	}
	r := Root{Keys: map[string]RootKey{}, Roles: map[string]Role{}}
	role := Role{Threshold: 1}
	for _, pk := range operators {
		r.Keys[pk.KeyID()] = RootKey{Type: "ed25519", Public: hex.EncodeToString(pk.Key)}
		role.KeyIDs = append(role.KeyIDs, pk.KeyID())
	}
	r.Roles[roleOperator] = role
	signers, err := r.VerifyRole(env, roleOperator, "")
	if err != nil {
		return Document{}, err
	}
	doc, err := decodeOwnerPayload(env)
	if err != nil {
		return Document{}, err
	}
	doc.Signers = signers
	return doc, nil
}

// decodeOwnerPayload decodes an owner document's payload without looking at
// signatures.
func decodeOwnerPayload(env Envelope) (Document, error) {
	doc := Document{Envelope: env}
	if env.PayloadType == TypeRoster {
		var r Roster
		if err := decodeStrict(env.Payload, &r); err != nil {
			return Document{}, err
		}
		if err := r.Validate(); err != nil {
			return Document{}, err
		}
		doc.Roster = &r
		return doc, nil
	}
	var d Decision
	if err := decodeStrict(env.Payload, &d); err != nil {
		return Document{}, err
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	doc.Decision = &d
	return doc, nil
}

const roleOperator = "operator"

// TypeRoster is the asset owner's signed fleet roster.
const TypeRoster = "application/vnd.tocsin.roster.v1+json"

// Member roles in a roster.
const (
	MemberDevice  = "device"
	MemberGateway = "gateway" // a conduit between the zones it lists
	MemberSeed    = "seed"
)

// Roster is the asset owner's signed list of the peers enrolled in a fleet:
// each peer's zone (IEC 62443-3-2) and role, the zones a gateway bridges
// (conduits), and the revoked peers. Nodes admit connections only from
// members, within their zone or through a conduit. A newer roster (higher
// Seq) replaces the older one; enrolling or revoking a device is a new
// roster.
type Roster struct {
	Fleet   string    `json:"fleet"`
	Seq     uint64    `json:"seq"`
	Issued  time.Time `json:"issued"`
	Members []Member  `json:"members"`
	// Revoked lists peer IDs that must be refused even if they appear in
	// Members (a stolen device).
	Revoked []string `json:"revoked,omitempty"`
}

// Member is one enrolled peer.
type Member struct {
	Peer string `json:"peer"` // libp2p peer ID
	Zone string `json:"zone"`
	Role string `json:"role"` // MemberDevice, MemberGateway or MemberSeed
	// Conduits are the zones, besides its own, a gateway connects.
	Conduits []string `json:"conduits,omitempty"`
}

// MaxRosterMembers caps a roster (about 100 bytes per member keeps it far
// under the 1 MiB envelope limit). Larger fleets use one roster per plant.
const MaxRosterMembers = 8000

// Validate checks the roster's fields.
func (r Roster) Validate() error {
	switch {
	case !reProduct.MatchString(r.Fleet):
		return fmt.Errorf("%w: roster fleet %q", ErrInvalidDocument, r.Fleet)
	case r.Seq == 0:
		return fmt.Errorf("%w: roster has no sequence number", ErrInvalidDocument)
	case len(r.Members) > MaxRosterMembers || len(r.Revoked) > MaxRosterMembers:
		return fmt.Errorf("%w: roster lists more than %d members or revocations", ErrInvalidDocument, MaxRosterMembers)
	}
	seen := map[string]bool{}
	for i, m := range r.Members {
		if m.Peer == "" || len(m.Peer) > 128 || seen[m.Peer] {
			return fmt.Errorf("%w: roster member %d: peer %q empty, too long or listed twice", ErrInvalidDocument, i, m.Peer)
		}
		seen[m.Peer] = true
		if !reProduct.MatchString(m.Zone) {
			return fmt.Errorf("%w: roster member %s: zone %q", ErrInvalidDocument, m.Peer, m.Zone)
		}
		switch m.Role {
		case MemberDevice, MemberSeed:
			if len(m.Conduits) > 0 {
				return fmt.Errorf("%w: roster member %s: only a gateway has conduits", ErrInvalidDocument, m.Peer)
			}
		case MemberGateway:
		default:
			return fmt.Errorf("%w: roster member %s: role %q, want device, gateway or seed", ErrInvalidDocument, m.Peer, m.Role)
		}
		for _, z := range m.Conduits {
			if !reProduct.MatchString(z) {
				return fmt.Errorf("%w: roster member %s: conduit zone %q", ErrInvalidDocument, m.Peer, z)
			}
		}
	}
	return nil
}

// Member returns the roster entry of peer, and whether it is listed and not
// revoked.
func (r *Roster) Member(peer string) (Member, bool) {
	if r == nil {
		return Member{}, false
	}
	for _, p := range r.Revoked {
		if p == peer {
			return Member{}, false
		}
	}
	for _, m := range r.Members {
		if m.Peer == peer {
			return m, true
		}
	}
	return Member{}, false
}

// IsRevoked reports whether the roster revokes peer.
func (r *Roster) IsRevoked(peer string) bool {
	if r == nil {
		return false
	}
	for _, p := range r.Revoked {
		if p == peer {
			return true
		}
	}
	return false
}

// SignRoster validates r and returns its envelope signed by keys.
func SignRoster(r Roster, keys ...*PrivateKey) (Envelope, error) {
	return signJSON(TypeRoster, r, r.Validate(), keys)
}
