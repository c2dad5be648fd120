package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Payload types carried in envelopes. Each is signed by one role.
const (
	TypeRoot      = "application/vnd.tocsin.root.v1+json"      // role root
	TypeRelease   = "application/vnd.tocsin.release.v1+json"   // role release
	TypeRecall    = "application/vnd.tocsin.recall.v1+json"    // role release
	TypeHeartbeat = "application/vnd.tocsin.heartbeat.v1+json" // role heartbeat
	// TypeCSAF is a CSAF 2.0 advisory exactly as the supplier wrote it
	// (role advisory). Its fields are read by the AdvisoryDecoder given to
	// Open.
	TypeCSAF = "application/csaf+json"
)

// roleOf is the role that must sign each payload type.
var roleOf = map[string]string{
	TypeRoot: RoleRoot, TypeRelease: RoleRelease, TypeRecall: RoleRelease,
	TypeHeartbeat: RoleHeartbeat, TypeCSAF: RoleAdvisory,
}

// ErrInvalidDocument is wrapped when a verified payload is not a valid
// release or advisory.
var ErrInvalidDocument = errors.New("invalid document")

// ErrBadIdentifier is wrapped by CheckProduct, CheckVersion and
// CheckAdvisoryID.
var ErrBadIdentifier = errors.New("bad identifier")

var (
	reProduct = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	reVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}$`)
	reAdvID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	// reConstraint is one AppliesTo entry: 1–8 space-separated comparisons.
	reConstraint = regexp.MustCompile(`^(>=|<=|>|<|=)?[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}( (>=|<=|>|<|=)?[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}){0,7}$`)
)

// CheckProduct checks a product identifier: 1–128 of [A-Za-z0-9._-],
// starting with a letter or digit.
func CheckProduct(id string) error {
	if !reProduct.MatchString(id) {
		return fmt.Errorf("%w: product %q: want 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit", ErrBadIdentifier, id)
	}
	return nil
}

// CheckVersion checks a version string: 1–64 of [A-Za-z0-9.+_~-], starting
// with a letter or digit.
func CheckVersion(v string) error {
	if !reVersion.MatchString(v) {
		return fmt.Errorf("%w: version %q: want 1-64 of A-Z a-z 0-9 . + _ ~ -, starting with a letter or digit", ErrBadIdentifier, v)
	}
	return nil
}

// CheckAdvisoryID checks an advisory identifier: 1–128 of [A-Za-z0-9._:-],
// starting with a letter or digit.
func CheckAdvisoryID(id string) error {
	if !reAdvID.MatchString(id) {
		return fmt.Errorf("%w: advisory id %q: want 1-128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit", ErrBadIdentifier, id)
	}
	return nil
}

// Release is a signed release manifest: what a supplier shipped, addressed by
// the root CID of its UnixFS DAG and the SHA-256 of the whole file.
type Release struct {
	Product   string `json:"product"`
	Version   string `json:"version"`
	RootCID   string `json:"root_cid"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	ChunkSize int    `json:"chunk_size"`
	// Chunker, if set, is how the file was cut into leaves, in IPFS's
	// chunker syntax ("rabin-MIN-AVG-MAX" for content-defined leaves);
	// empty means fixed leaves of ChunkSize. A seed re-chunks the file
	// this way to check it is the release; devices fetch by CID and need
	// not know.
	Chunker   string    `json:"chunker,omitempty"`
	Published time.Time `json:"published"`
	// Seq orders the supplier's releases of this product: a device never
	// accepts a release with a lower Seq than one it has seen (rollback).
	Seq uint64 `json:"seq"`
	// Hardware lists the hardware ids the release may be installed on;
	// empty means any.
	Hardware []string `json:"hardware,omitempty"`
	// AppliesTo lists the installed versions the release may be applied
	// to, each a space-separated conjunction of comparisons such as
	// ">=2.0.0 <2.1.0"; empty means any. The list is a disjunction.
	AppliesTo []string `json:"applies_to,omitempty"`
	// Expires is when the manifest stops being valid: an expired release
	// is neither fetched nor installed.
	Expires time.Time `json:"expires"`
	// Delta, if set, is a binary patch (content.MakeDelta, zstd with the
	// old file as dictionary) from version From to this release, as its
	// own DAG: a device running From fetches it instead of the whole file.
	Delta *Delta `json:"delta,omitempty"`
}

// Delta is a release's patch from an earlier version.
type Delta struct {
	From       string `json:"from"`        // the version it applies to
	FromSHA256 string `json:"from_sha256"` // that version's file
	RootCID    string `json:"root_cid"`    // the patch's DAG
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"` // of the patch
}

func (d *Delta) validate() error {
	if d == nil {
		return nil
	}
	if err := CheckVersion(d.From); err != nil {
		return fmt.Errorf("%w: delta: %w", ErrInvalidDocument, err)
	}
	for _, h := range []string{d.FromSHA256, d.SHA256} {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return fmt.Errorf("%w: delta sha256 %q", ErrInvalidDocument, h)
		}
	}
	if d.RootCID == "" || d.Size <= 0 {
		return fmt.Errorf("%w: delta has no root CID or size", ErrInvalidDocument)
	}
	return nil
}

// ID is the release's identifier, "<product>@<version>".
func (r Release) ID() string { return ReleaseID(r.Product, r.Version) }

// ReleaseID builds a release identifier.
func ReleaseID(product, version string) string { return product + "@" + version }

// Validate checks the manifest's fields.
func (r Release) Validate() error {
	if err := errors.Join(CheckProduct(r.Product), CheckVersion(r.Version)); err != nil {
		return fmt.Errorf("%w: release: %w", ErrInvalidDocument, err)
	}
	switch {
	case r.RootCID == "":
		return fmt.Errorf("%w: release has no root CID", ErrInvalidDocument)
	case r.Size <= 0:
		return fmt.Errorf("%w: release size %d", ErrInvalidDocument, r.Size)
	case r.ChunkSize <= 0 || r.ChunkSize > 4<<20:
		return fmt.Errorf("%w: chunk size %d", ErrInvalidDocument, r.ChunkSize)
	case len(r.Chunker) > 64:
		return fmt.Errorf("%w: chunker name of %d bytes", ErrInvalidDocument, len(r.Chunker))
	case r.Seq == 0:
		return fmt.Errorf("%w: release %s has no sequence number", ErrInvalidDocument, r.ID())
	case r.Expires.IsZero():
		return fmt.Errorf("%w: release %s has no expiry", ErrInvalidDocument, r.ID())
	case len(r.Hardware) > 64 || len(r.AppliesTo) > 64:
		return fmt.Errorf("%w: release %s lists more than 64 hardware ids or version constraints", ErrInvalidDocument, r.ID())
	}
	if err := r.Delta.validate(); err != nil {
		return err
	}
	for _, hw := range r.Hardware {
		if !reProduct.MatchString(hw) {
			return fmt.Errorf("%w: hardware id %q", ErrInvalidDocument, hw)
		}
	}
	for _, c := range r.AppliesTo {
		if !reConstraint.MatchString(c) {
			return fmt.Errorf("%w: version constraint %q: want terms like \">=2.0.0 <2.1.0\"", ErrInvalidDocument, c)
		}
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("%w: release sha256 %q", ErrInvalidDocument, r.SHA256)
	}
	return nil
}

// Advisory is what a device needs from a signed CSAF 2.0 advisory: which
// product it concerns, the release that fixes it, how severe it is and by
// when the fix is due. The advisory travels as CSAF; an AdvisoryDecoder
// extracts this view.
type Advisory struct {
	ID           string    `json:"id"`
	Title        string    `json:"title"`
	Product      string    `json:"product"`
	FixedVersion string    `json:"fixed_version"`
	ReleaseID    string    `json:"release_id"`
	CVSS         string    `json:"cvss,omitempty"`
	BaseScore    float64   `json:"base_score,omitempty"`
	Severity     string    `json:"severity,omitempty"`
	CVEs         []string  `json:"cves,omitempty"`
	Published    time.Time `json:"published"`
	// Deadline is when the supplier commits the fix to be delivered
	// (IEC 62443-4-1 SUM-5); zero if none was set.
	Deadline time.Time `json:"deadline,omitzero"`
	// Revision is the CSAF document.tracking.version; Seq orders
	// revisions (the current_release_date in Unix milliseconds): an older
	// revision is never accepted after a newer one.
	Revision string `json:"revision,omitempty"`
	Seq      uint64 `json:"seq"`
}

// AdvisoryDecoder reads the Advisory view out of a CSAF payload
// (internal/csaf.Advisory in production).
type AdvisoryDecoder func(payload []byte) (Advisory, error)

// Validate checks the advisory's fields.
func (a Advisory) Validate() error {
	if err := errors.Join(CheckAdvisoryID(a.ID), CheckProduct(a.Product), CheckVersion(a.FixedVersion)); err != nil {
		return fmt.Errorf("%w: advisory: %w", ErrInvalidDocument, err)
	}
	switch {
	case len(a.Title) > 1024:
		return fmt.Errorf("%w: advisory title longer than 1024 bytes", ErrInvalidDocument)
	case a.ReleaseID != ReleaseID(a.Product, a.FixedVersion):
		return fmt.Errorf("%w: advisory points at release %q, want %q", ErrInvalidDocument, a.ReleaseID, ReleaseID(a.Product, a.FixedVersion))
	case len(a.CVEs) > 256:
		return fmt.Errorf("%w: %d CVEs", ErrInvalidDocument, len(a.CVEs))
	case a.Seq == 0:
		return fmt.Errorf("%w: advisory %s has no revision date", ErrInvalidDocument, a.ID)
	}
	return nil
}

// Heartbeat is the supplier's signed, short-lived statement of what is
// current: TUF's timestamp and snapshot in one. A device that holds no
// unexpired heartbeat cannot confirm it has the latest documents and says so
// (freeze defence); one whose heartbeat lists a newer sequence number than
// it holds knows what it is missing.
type Heartbeat struct {
	Seq         uint64    `json:"seq"`
	Issued      time.Time `json:"issued"`
	Expires     time.Time `json:"expires"`
	RootVersion int64     `json:"root_version"`
	// Latest maps each document slot (see Document.Slot) to the highest
	// sequence number the supplier has published in it.
	Latest map[string]uint64 `json:"latest"`
}

// MaxHeartbeatSlots caps Heartbeat.Latest.
const MaxHeartbeatSlots = 20000

// Validate checks the heartbeat's fields.
func (h Heartbeat) Validate() error {
	switch {
	case h.Seq == 0:
		return fmt.Errorf("%w: heartbeat has no sequence number", ErrInvalidDocument)
	case !h.Expires.After(h.Issued):
		return fmt.Errorf("%w: heartbeat expires (%s) before it is issued (%s)", ErrInvalidDocument, h.Expires, h.Issued)
	case len(h.Latest) > MaxHeartbeatSlots:
		return fmt.Errorf("%w: heartbeat lists %d documents, limit %d", ErrInvalidDocument, len(h.Latest), MaxHeartbeatSlots)
	}
	return nil
}

// Recall is a signed withdrawal of a release: devices stop fetching it, and
// a device that installed it reports that and runs its rollback path.
type Recall struct {
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	Reason    string    `json:"reason"`
	Seq       uint64    `json:"seq"`
	Published time.Time `json:"published"`
	Expires   time.Time `json:"expires"`
}

// ReleaseID is the recalled release's identifier.
func (r Recall) ReleaseID() string { return ReleaseID(r.Product, r.Version) }

// Validate checks the recall's fields.
func (r Recall) Validate() error {
	if err := errors.Join(CheckProduct(r.Product), CheckVersion(r.Version)); err != nil {
		return fmt.Errorf("%w: recall: %w", ErrInvalidDocument, err)
	}
	switch {
	case r.Seq == 0:
		return fmt.Errorf("%w: recall has no sequence number", ErrInvalidDocument)
	case r.Expires.IsZero():
		return fmt.Errorf("%w: recall has no expiry", ErrInvalidDocument)
	case len(r.Reason) > 1024:
		return fmt.Errorf("%w: recall reason longer than 1024 bytes", ErrInvalidDocument)
	}
	return nil
}

// Document is a verified envelope and its decoded payload: exactly one of
// Root, Release, Advisory, Heartbeat and Recall is set.
type Document struct {
	Envelope  Envelope
	Signers   []string // key ids whose signatures counted
	Root      *Root
	Release   *Release
	Advisory  *Advisory
	Heartbeat *Heartbeat
	Recall    *Recall
	Decision  *Decision // from OpenOwner only
	Roster    *Roster   // from OpenOwner only
}

// Key identifies the document: "release/<product>@<version>",
// "advisory/<id>", "recall/<product>@<version>", "heartbeat" or
// "root/<version>". A newer revision of an advisory has the same key.
func (d Document) Key() string {
	switch {
	case d.Release != nil:
		return "release/" + d.Release.ID()
	case d.Advisory != nil:
		return "advisory/" + d.Advisory.ID
	case d.Recall != nil:
		return "recall/" + d.Recall.ReleaseID()
	case d.Heartbeat != nil:
		return "heartbeat"
	case d.Root != nil:
		return fmt.Sprintf("root/%d", d.Root.Version)
	case d.Decision != nil:
		return d.Decision.Slot()
	case d.Roster != nil:
		return "roster/" + d.Roster.Fleet
	}
	return ""
}

// Slot is the sequence a document's Seq is ordered in: all releases of a
// product share "release/<product>"; each advisory, recall and the heartbeat
// has its own.
func (d Document) Slot() string {
	switch {
	case d.Release != nil:
		return "release/" + d.Release.Product
	case d.Root != nil:
		return "root"
	}
	return d.Key()
}

// Seq is the document's sequence number in its slot.
func (d Document) Seq() uint64 {
	switch {
	case d.Release != nil:
		return d.Release.Seq
	case d.Advisory != nil:
		return d.Advisory.Seq
	case d.Recall != nil:
		return d.Recall.Seq
	case d.Heartbeat != nil:
		return d.Heartbeat.Seq
	case d.Root != nil:
		return uint64(d.Root.Version)
	case d.Decision != nil:
		return d.Decision.Seq
	case d.Roster != nil:
		return d.Roster.Seq
	}
	return 0
}

// Expires is when the document stops being valid (zero: never; CSAF has no
// expiry, so an advisory's currency is vouched for by the heartbeat).
func (d Document) Expires() time.Time {
	switch {
	case d.Release != nil:
		return d.Release.Expires
	case d.Recall != nil:
		return d.Recall.Expires
	case d.Heartbeat != nil:
		return d.Heartbeat.Expires
	case d.Root != nil:
		return d.Root.Expires
	}
	return time.Time{}
}

// Product is the product the document is about ("" for roots and
// heartbeats).
func (d Document) Product() string {
	switch {
	case d.Release != nil:
		return d.Release.Product
	case d.Advisory != nil:
		return d.Advisory.Product
	case d.Recall != nil:
		return d.Recall.Product
	}
	return ""
}

// Digest is the hex SHA-256 of the signed payload: two documents with the
// same digest are the same document, whatever their signatures.
func (d Document) Digest() string {
	sum := sha256.Sum256(d.Envelope.Payload)
	return hex.EncodeToString(sum[:])
}

// Open parses an envelope from untrusted bytes, checks that the role its
// payload type requires signed it with at least its threshold of distinct
// keys in root (keys scoped to products must be allowed for the document's
// product), and decodes and validates the payload. Signatures are checked
// before the payload is decoded. Nothing about the payload is trusted
// before this returns nil. Rollback, expiry and freshness are State's job.
// A root document is checked against its own root role only; State.UpdateRoot
// decides whether to trust it.
func Open(data []byte, root Root, decodeCSAF AdvisoryDecoder) (Document, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return Document{}, err
	}
	role, ok := roleOf[env.PayloadType]
	if !ok {
		return Document{}, fmt.Errorf("%w %q", ErrPayloadType, env.PayloadType)
	}
	if env.PayloadType == TypeRoot {
		r, _, err := OpenRoot(data)
		if err != nil {
			return Document{}, err
		}
		return Document{Envelope: env, Root: &r}, nil
	}
	signers, reasons, err := root.validSigners(env, role)
	if err != nil {
		return Document{}, err
	}
	// Cheap early exit: not enough valid signatures even before product
	// scoping, so the payload is never decoded.
	if _, err := root.threshold(signers, reasons, role, ""); err != nil {
		return Document{}, err
	}
	doc, err := decodePayload(env, decodeCSAF)
	if err != nil {
		return Document{}, err
	}
	doc.Signers, err = root.threshold(signers, reasons, role, doc.Product())
	if err != nil {
		return Document{}, err
	}
	return doc, nil
}

func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrInvalidDocument)
	}
	return nil
}

// SignRelease validates r and returns its envelope signed by keys.
func SignRelease(r Release, keys ...*PrivateKey) (Envelope, error) {
	return signJSON(TypeRelease, r, r.Validate(), keys)
}

// SignHeartbeat validates h and returns its envelope signed by keys.
func SignHeartbeat(h Heartbeat, keys ...*PrivateKey) (Envelope, error) {
	return signJSON(TypeHeartbeat, h, h.Validate(), keys)
}

// SignRecall validates r and returns its envelope signed by keys.
func SignRecall(r Recall, keys ...*PrivateKey) (Envelope, error) {
	return signJSON(TypeRecall, r, r.Validate(), keys)
}

func signJSON(typ string, v any, invalid error, keys []*PrivateKey) (Envelope, error) {
	if invalid != nil {
		return Envelope{}, invalid
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	return SignWith(typ, b, keys...), nil
}

// decodePayload decodes and validates an envelope's payload by its type. It
// does not look at signatures.
func decodePayload(env Envelope, decodeCSAF AdvisoryDecoder) (Document, error) {
	doc := Document{Envelope: env}
	switch env.PayloadType {
	case TypeRelease:
		var r Release
		if err := decodeStrict(env.Payload, &r); err != nil {
			return Document{}, err
		}
		if err := r.Validate(); err != nil {
			return Document{}, err
		}
		doc.Release = &r
	case TypeCSAF:
		if decodeCSAF == nil {
			return Document{}, fmt.Errorf("%w: no CSAF decoder", ErrPayloadType)
		}
		a, err := decodeCSAF(env.Payload)
		if err != nil {
			return Document{}, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
		}
		if err := a.Validate(); err != nil {
			return Document{}, err
		}
		doc.Advisory = &a
	case TypeHeartbeat:
		var h Heartbeat
		if err := decodeStrict(env.Payload, &h); err != nil {
			return Document{}, err
		}
		if err := h.Validate(); err != nil {
			return Document{}, err
		}
		doc.Heartbeat = &h
	case TypeRecall:
		var r Recall
		if err := decodeStrict(env.Payload, &r); err != nil {
			return Document{}, err
		}
		if err := r.Validate(); err != nil {
			return Document{}, err
		}
		doc.Recall = &r
	}
	return doc, nil
}

// DecodeUnverified decodes a document WITHOUT checking any signature. It is
// for moving documents a node already verified (export to a file whose
// importer verifies everything); never trust what it returns.
func DecodeUnverified(env Envelope, decodeCSAF AdvisoryDecoder) (Document, error) {
	if env.PayloadType == TypeRoot {
		r, err := ParseRoot(env.Payload)
		return Document{Envelope: env, Root: &r}, err
	}
	if IsOwnerType(env.PayloadType) {
		return decodeOwnerPayload(env)
	}
	return decodePayload(env, decodeCSAF)
}
