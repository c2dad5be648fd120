package trust

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Payload types carried in envelopes.
const (
	TypeRelease  = "application/vnd.tocsin.release.v1+json"
	TypeAdvisory = "application/vnd.tocsin.advisory.v1+json"
)

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
	Product   string    `json:"product"`
	Version   string    `json:"version"`
	RootCID   string    `json:"root_cid"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	ChunkSize int       `json:"chunk_size"`
	Published time.Time `json:"published"`
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
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("%w: release sha256 %q", ErrInvalidDocument, r.SHA256)
	}
	return nil
}

// Advisory is a signed security advisory that points at the release fixing
// it. Severity and score come from the advisory's CVSS vector.
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
	Deadline time.Time `json:"deadline,omitempty"`
}

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
	}
	return nil
}

// Document is a verified envelope and its decoded payload: exactly one of
// Release and Advisory is set.
type Document struct {
	Envelope Envelope
	KeyID    string
	Release  *Release
	Advisory *Advisory
}

// Key identifies the document for de-duplication: "release/<id>" or
// "advisory/<id>".
func (d Document) Key() string {
	if d.Release != nil {
		return "release/" + d.Release.ID()
	}
	return "advisory/" + d.Advisory.ID
}

// Open parses and verifies an envelope from untrusted bytes against ring, and
// decodes its payload. Nothing about the payload is trusted before this
// returns nil.
func Open(data []byte, ring KeyRing) (Document, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return Document{}, err
	}
	kid, err := env.Verify(ring)
	if err != nil {
		return Document{}, err
	}
	doc := Document{Envelope: env, KeyID: kid}
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
	case TypeAdvisory:
		var a Advisory
		if err := decodeStrict(env.Payload, &a); err != nil {
			return Document{}, err
		}
		if err := a.Validate(); err != nil {
			return Document{}, err
		}
		doc.Advisory = &a
	default:
		return Document{}, fmt.Errorf("%w %q", ErrPayloadType, env.PayloadType)
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

// SignRelease validates r and returns its signed envelope.
func SignRelease(r Release, k *PrivateKey) (Envelope, error) {
	if err := r.Validate(); err != nil {
		return Envelope{}, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode release: %w", err)
	}
	return Sign(TypeRelease, b, k), nil
}

// SignAdvisory validates a and returns its signed envelope.
func SignAdvisory(a Advisory, k *PrivateKey) (Envelope, error) {
	if err := a.Validate(); err != nil {
		return Envelope{}, err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode advisory: %w", err)
	}
	return Sign(TypeAdvisory, b, k), nil
}
