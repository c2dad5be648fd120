package trust

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Roles a supplier root delegates to. Each has its own keys and threshold,
// so a stolen heartbeat key cannot sign a release and a stolen release key
// cannot rotate the root.
const (
	RoleRoot      = "root"      // signs roots (rotation, revocation)
	RoleRelease   = "release"   // signs release manifests and recalls
	RoleAdvisory  = "advisory"  // signs CSAF advisories
	RoleHeartbeat = "heartbeat" // signs the periodic freshness heartbeat
)

// Roles lists every role a root must define.
var Roles = []string{RoleRoot, RoleRelease, RoleAdvisory, RoleHeartbeat}

// MaxRootRotations caps how many root versions one UpdateRoots call walks
// (TUF's max_root_rotations), so a peer cannot keep a device busy with an
// endless chain.
const MaxRootRotations = 32

// Errors about signatures and roots. Callers use errors.Is.
var (
	ErrThreshold        = errors.New("signature threshold not met")
	ErrWrongRole        = errors.New("signed by a key without the required role")
	ErrKeyNotAllowed    = errors.New("key not allowed for this product")
	ErrInvalidRoot      = errors.New("invalid root")
	ErrRootVersion      = errors.New("root version out of order")
	ErrTooManyRotations = errors.New("too many root rotations")
)

// Root is the supplier's trust root: the keys it trusts and, per role, which
// of them must sign and how many (the threshold). It is itself signed by a
// threshold of its own root role and, to rotate, by a threshold of the
// previous root's root role. Like TUF's root.json; see doc.go for why it is
// not go-tuf's type.
type Root struct {
	Version int64              `json:"version"`
	Expires time.Time          `json:"expires"`
	Keys    map[string]RootKey `json:"keys"`
	Roles   map[string]Role    `json:"roles"`
}

// RootKey is one public key in a root.
type RootKey struct {
	Type   string `json:"keytype"` // "ed25519"
	Public string `json:"public"`  // hex of the 32-byte key
	// Products, if set, limits the key to documents about these products:
	// a signature on any other product's release, recall or advisory does
	// not count toward a threshold.
	Products []string `json:"products,omitempty"`
}

// Role is one role's keys and threshold.
type Role struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// RoleKeys describes a role for NewRoot.
type RoleKeys struct {
	Keys      []PublicKey
	Threshold int
}

// NewRoot builds a root from role descriptions. Keys shared between roles
// are listed once. Validate it (SignRoot does) before use.
func NewRoot(version int64, expires time.Time, roles map[string]RoleKeys) Root {
	r := Root{Version: version, Expires: expires.UTC(), Keys: map[string]RootKey{}, Roles: map[string]Role{}}
	for name, rk := range roles {
		role := Role{Threshold: rk.Threshold}
		for _, pk := range rk.Keys {
			id := pk.KeyID()
			r.Keys[id] = RootKey{Type: "ed25519", Public: hex.EncodeToString(pk.Key)}
			role.KeyIDs = append(role.KeyIDs, id)
		}
		sort.Strings(role.KeyIDs)
		r.Roles[name] = role
	}
	return r
}

// Validate checks a root's shape: every role present with a threshold of at
// least 1 and at most its number of distinct keys, every key id the SHA-256
// of its key.
func (r Root) Validate() error {
	if r.Version < 1 {
		return fmt.Errorf("%w: version %d", ErrInvalidRoot, r.Version)
	}
	if r.Expires.IsZero() {
		return fmt.Errorf("%w: no expiry", ErrInvalidRoot)
	}
	if len(r.Keys) > 256 {
		return fmt.Errorf("%w: %d keys, limit 256", ErrInvalidRoot, len(r.Keys))
	}
	for id, k := range r.Keys {
		pk, err := k.publicKey()
		if err != nil {
			return fmt.Errorf("%w: key %s: %w", ErrInvalidRoot, short(id), err)
		}
		if pk.KeyID() != id {
			return fmt.Errorf("%w: key id %s is not the SHA-256 of its key", ErrInvalidRoot, short(id))
		}
		for _, p := range k.Products {
			if err := CheckProduct(p); err != nil {
				return fmt.Errorf("%w: key %s: %w", ErrInvalidRoot, short(id), err)
			}
		}
	}
	for _, name := range Roles {
		role, ok := r.Roles[name]
		if !ok {
			return fmt.Errorf("%w: no %q role", ErrInvalidRoot, name)
		}
		seen := map[string]bool{}
		for _, id := range role.KeyIDs {
			if _, ok := r.Keys[id]; !ok {
				return fmt.Errorf("%w: role %s names unknown key %s", ErrInvalidRoot, name, short(id))
			}
			if seen[id] {
				return fmt.Errorf("%w: role %s lists key %s twice", ErrInvalidRoot, name, short(id))
			}
			seen[id] = true
		}
		if role.Threshold < 1 {
			return fmt.Errorf("%w: role %s has threshold %d, want at least 1", ErrInvalidRoot, name, role.Threshold)
		}
		if role.Threshold > len(role.KeyIDs) {
			return fmt.Errorf("%w: role %s has threshold %d but %d keys", ErrInvalidRoot, name, role.Threshold, len(role.KeyIDs))
		}
	}
	return nil
}

func (k RootKey) publicKey() (PublicKey, error) {
	if k.Type != "ed25519" {
		return PublicKey{}, fmt.Errorf("key type %q, want ed25519", k.Type)
	}
	b, err := hex.DecodeString(k.Public)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("public key is not %d hex-encoded bytes", ed25519.PublicKeySize)
	}
	return PublicKey{Key: ed25519.PublicKey(b)}, nil
}

// allows reports whether the key may sign documents about product ("" for
// documents that are about no product).
func (k RootKey) allows(product string) bool {
	return len(k.Products) == 0 || product == "" || slices.Contains(k.Products, product)
}

// VerifyRole checks that env carries valid signatures from at least the
// role's threshold of distinct keys allowed for product ("" if the document
// is not about one product). It returns the key ids that counted. A
// signature counts once per key however often it appears; signatures by
// keys outside the role, by keys not allowed for the product, or that do not
// verify do not count, and the error names each.
func (r Root) VerifyRole(env Envelope, roleName, product string) ([]string, error) {
	signers, reasons, err := r.validSigners(env, roleName)
	if err != nil {
		return nil, err
	}
	return r.threshold(signers, reasons, roleName, product)
}

// validSigners returns the distinct role keys whose signatures on env
// verify, and why every other signature does not count. This is the costly
// part (one Ed25519 verification per signature); threshold is cheap.
func (r Root) validSigners(env Envelope, roleName string) ([]string, []error, error) {
	role, ok := r.Roles[roleName]
	if !ok || role.Threshold < 1 {
		return nil, nil, fmt.Errorf("%w: root defines no usable %q role", ErrThreshold, roleName)
	}
	if len(env.Signatures) == 0 {
		return nil, nil, ErrUnsigned
	}
	msg := PAE(env.PayloadType, env.Payload)
	counted := map[string]bool{}
	var signers []string
	var reasons []error
	for _, s := range env.Signatures {
		if counted[s.KeyID] {
			continue
		}
		k, known := r.Keys[s.KeyID]
		switch {
		case !known:
			reasons = append(reasons, fmt.Errorf("%w (key %s)", ErrUnknownKey, short(s.KeyID)))
			continue
		case !slices.Contains(role.KeyIDs, s.KeyID):
			reasons = append(reasons, fmt.Errorf("%w %s (key %s)", ErrWrongRole, roleName, short(s.KeyID)))
			continue
		}
		pk, err := k.publicKey()
		if err != nil || len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pk.Key, msg, s.Sig) {
			reasons = append(reasons, fmt.Errorf("%w (key %s)", ErrBadSig, short(s.KeyID)))
			continue
		}
		counted[s.KeyID] = true
		signers = append(signers, s.KeyID)
	}
	return signers, reasons, nil
}

// threshold keeps the signers allowed for product and checks there are
// enough of them.
func (r Root) threshold(signers []string, reasons []error, roleName, product string) ([]string, error) {
	var ok []string
	for _, id := range signers {
		if r.Keys[id].allows(product) {
			ok = append(ok, id)
		} else {
			reasons = append(reasons, fmt.Errorf("%w: key %s may not sign for %s", ErrKeyNotAllowed, short(id), product))
		}
	}
	need := r.Roles[roleName].Threshold
	if len(ok) < need {
		return nil, fmt.Errorf("%w: %d of %d valid %s signatures: %w", ErrThreshold, len(ok), need, roleName, errors.Join(reasons...))
	}
	return ok, nil
}

// ParseRoot decodes and validates a root from a verified payload. Unknown
// fields are tolerated (a newer root may add some); they survive because the
// envelope's payload bytes are kept and re-sent exactly as signed.
func ParseRoot(payload []byte) (Root, error) {
	var r Root
	if err := decodeStrict(payload, &r); err != nil {
		return Root{}, fmt.Errorf("%w: %w", ErrInvalidRoot, err)
	}
	return r, r.Validate()
}

// SignRoot validates r and signs it with every key in keys (which must
// include a threshold of r's root role and, for a rotation, a threshold of
// the previous root's root role).
func SignRoot(r Root, keys ...*PrivateKey) (Envelope, error) {
	if err := r.Validate(); err != nil {
		return Envelope{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode root: %w", err)
	}
	return SignWith(TypeRoot, b, keys...), nil
}

// OpenRoot parses an envelope holding a root and checks that it is signed by
// a threshold of its own root role: enough for a root a device is given at
// enrolment (trust on first use). Later roots go through State.UpdateRoot.
func OpenRoot(data []byte) (Root, Envelope, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return Root{}, Envelope{}, err
	}
	if env.PayloadType != TypeRoot {
		return Root{}, Envelope{}, fmt.Errorf("%w %q, want a root", ErrPayloadType, env.PayloadType)
	}
	r, err := ParseRoot(env.Payload)
	if err != nil {
		return Root{}, Envelope{}, err
	}
	if _, err := r.VerifyRole(env, RoleRoot, ""); err != nil {
		return Root{}, Envelope{}, fmt.Errorf("root v%d is not signed by its own root keys: %w", r.Version, err)
	}
	return r, env, nil
}

// changedRoles lists the roles whose key set or threshold differ between a
// and b, or whose keys changed product scope.
func changedRoles(a, b Root) []string {
	var out []string
	for _, name := range Roles {
		ra, rb := a.Roles[name], b.Roles[name]
		same := ra.Threshold == rb.Threshold && len(ra.KeyIDs) == len(rb.KeyIDs)
		for _, id := range ra.KeyIDs {
			if !same {
				break
			}
			same = slices.Contains(rb.KeyIDs, id) && strings.Join(a.Keys[id].Products, ",") == strings.Join(b.Keys[id].Products, ",")
		}
		if !same {
			out = append(out, name)
		}
	}
	return out
}
