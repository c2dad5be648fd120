package csaf

import (
	"github.com/tocsin-iiot/tocsin/internal/trust"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

// ErrInvalidParams is wrapped by every error New returns for bad Params.
var ErrInvalidParams = errors.New("invalid advisory parameters")

// Defaults for the publisher when Params leaves it empty.
const (
	DefaultPublisherName      = "Tocsin"
	DefaultPublisherNamespace = "https://github.com/tocsin-iiot/tocsin"
)

// NoteTitleCVSSv4 titles the vulnerability note that carries a CVSS v4.0
// vector. CSAF 2.0 scores only know cvss_v2 and cvss_v3 (cvss_v4 arrives with
// CSAF 2.1), and the 2.0 schema forbids other keys in a score, so a 4.0 vector
// cannot go into "scores" without making the document invalid. New writes it
// into a note with this title instead, and Inspect reads it back from there.
const NoteTitleCVSSv4 = "CVSS v4.0"

var reCVE = regexp.MustCompile(`^CVE-[0-9]{4}-[0-9]{4,19}$`)

// Params describes the advisory New writes: one product, fixed in one
// version, with one CVSS vector for all its CVEs.
type Params struct {
	ID           string   // document.tracking.id, e.g. "ACME-SA-2025-001"
	Title        string   // document.title
	Product      string   // product name
	FixedVersion string   // first version that is not affected
	CVSS         string   // CVSS 3.0, 3.1 or 4.0 vector
	CVEs         []string // optional; one vulnerability per CVE
	// PublisherName and PublisherNamespace identify the issuing vendor;
	// empty means DefaultPublisherName / DefaultPublisherNamespace.
	PublisherName      string
	PublisherNamespace string
	// ReleaseID is the Tocsin release that fixes the advisory, as
	// "tocsin:release:<product>@<version>" or "<product>@<version>"; empty
	// means ReleaseID(Product, FixedVersion), which needs Product to be a
	// valid Tocsin product name.
	ReleaseID string
	// Time is the release date of this revision of the advisory (New never
	// reads the clock).
	Time time.Time
	// Revision is the revision number (document.tracking.version); 0 means
	// 1. Initial is the first revision's date; zero means Time.
	Revision int
	Initial  time.Time
	// Deadline, if set, is the supplier's delivery deadline (IEC 62443-4-1
	// SUM-5), written into a document note titled NoteTitleDeadline.
	Deadline time.Time
}

// NoteTitleDeadline titles the document note that carries the delivery
// deadline as an RFC 3339 time. CSAF 2.0 has no deadline field.
const NoteTitleDeadline = "Delivery deadline"

// Product ids New assigns.
const (
	pidAffected = "CSAFPID-0001"
	pidFixed    = "CSAFPID-0002"
)

// New writes a CSAF 2.0 csaf_security_advisory for p: tracking with status
// final and version 1, a product tree with a branch for the product holding
// the affected range "<FixedVersion" and the fixed version, one vulnerability
// per CVE (or one without a CVE) with the CVSS score, known_affected and fixed
// product status and a vendor_fix remediation pointing at the release.
func New(p Params) ([]byte, error) {
	p, score, err := p.check()
	if err != nil {
		return nil, err
	}
	now := p.Time.UTC().Truncate(time.Second).Format(time.RFC3339)
	initial := p.Initial.UTC().Truncate(time.Second).Format(time.RFC3339)
	history := []outRevision{{Date: initial, Number: "1", Summary: "Initial release."}}
	for r := 2; r <= p.Revision; r++ {
		history = append(history, outRevision{Date: now, Number: strconv.Itoa(r), Summary: fmt.Sprintf("Revision %d.", r)})
	}
	var docNotes []outNote
	if !p.Deadline.IsZero() {
		docNotes = append(docNotes, outNote{Category: "other", Title: NoteTitleDeadline, Text: p.Deadline.UTC().Truncate(time.Second).Format(time.RFC3339)})
	}
	name := p.PublisherName
	productName := p.Product + " " + p.FixedVersion
	rangeName := p.Product + " <" + p.FixedVersion

	doc := outDocument{
		Document: outMeta{
			Category:    "csaf_security_advisory",
			CSAFVersion: "2.0",
			Lang:        "en",
			Title:       p.Title,
			Publisher: outPublisher{
				Category:  "vendor",
				Name:      name,
				Namespace: p.PublisherNamespace,
			},
			Tracking: outTracking{
				ID:                 p.ID,
				Status:             "final",
				Version:            strconv.Itoa(p.Revision),
				InitialReleaseDate: initial,
				CurrentReleaseDate: now,
				RevisionHistory:    history,
				Generator:          &outGenerator{Date: now, Engine: outEngine{Name: "Tocsin"}},
			},
			Notes: docNotes,
		},
		ProductTree: outProductTree{Branches: []outBranch{{
			Category: "vendor",
			Name:     name,
			Branches: []outBranch{{
				Category: "product_name",
				Name:     p.Product,
				Branches: []outBranch{
					{
						Category: "product_version_range",
						Name:     "vers:generic/<" + p.FixedVersion,
						Product:  &outFullProductName{Name: rangeName, ProductID: pidAffected},
					},
					{
						Category: "product_version",
						Name:     p.FixedVersion,
						Product:  &outFullProductName{Name: productName, ProductID: pidFixed},
					},
				},
			}},
		}}},
	}

	notes := []outNote{{
		Category: "summary",
		Title:    "Summary",
		Text:     fmt.Sprintf("%s: versions of %s before %s are affected; %s fixes it.", p.Title, p.Product, p.FixedVersion, p.FixedVersion),
	}}
	var scores []outScore
	if score.Version == "4.0" {
		notes = append(notes, outNote{
			Category: "other",
			Title:    NoteTitleCVSSv4,
			Text: fmt.Sprintf("%s (base score %.1f, %s). CSAF 2.0 defines scores only for CVSS v2 and v3, so the CVSS v4.0 vector is carried in this note.",
				score.Vector, score.BaseScore, score.Severity),
		})
	} else {
		scores = []outScore{{
			Products: []string{pidAffected},
			CVSSv3: outCVSS3{
				Version:      score.Version,
				VectorString: score.Vector,
				BaseScore:    score.BaseScore,
				BaseSeverity: score.Severity,
			},
		}}
	}
	rem := outRemediation{
		Category:   "vendor_fix",
		Details:    fmt.Sprintf("Update %s to version %s or later (Tocsin release %s)", p.Product, p.FixedVersion, p.ReleaseID),
		URL:        p.ReleaseID,
		ProductIDs: []string{pidAffected},
	}
	vuln := func(cve string) outVulnerability {
		return outVulnerability{
			CVE:   cve,
			Notes: notes,
			ProductStatus: outProductStatus{
				Fixed:         []string{pidFixed},
				KnownAffected: []string{pidAffected},
			},
			Scores:       scores,
			Remediations: []outRemediation{rem},
		}
	}
	if len(p.CVEs) == 0 {
		doc.Vulnerabilities = []outVulnerability{vuln("")}
	}
	for _, cve := range p.CVEs {
		doc.Vulnerabilities = append(doc.Vulnerabilities, vuln(cve))
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode CSAF document: %w", err)
	}
	return buf.Bytes(), nil
}

// check validates and normalises p and scores its vector.
func (p Params) check() (Params, cvss.Result, error) {
	bad := func(format string, a ...any) (Params, cvss.Result, error) {
		return Params{}, cvss.Result{}, fmt.Errorf("%w: %s", ErrInvalidParams, fmt.Sprintf(format, a...))
	}
	p.ID = strings.TrimSpace(p.ID)
	p.Title = strings.TrimSpace(p.Title)
	p.Product = strings.TrimSpace(p.Product)
	p.FixedVersion = strings.TrimSpace(p.FixedVersion)
	p.PublisherName = strings.TrimSpace(p.PublisherName)
	p.PublisherNamespace = strings.TrimSpace(p.PublisherNamespace)
	p.ReleaseID = strings.TrimSpace(p.ReleaseID)
	if p.PublisherName == "" {
		p.PublisherName = DefaultPublisherName
	}
	if p.PublisherNamespace == "" {
		p.PublisherNamespace = DefaultPublisherNamespace
	}
	if err := trust.CheckAdvisoryID(p.ID); err != nil {
		return bad("%v", err)
	}
	if trust.CheckVersion(p.FixedVersion) != nil {
		return bad("fixed version %q: want 1-64 of A-Z a-z 0-9 . + _ ~ -, starting with a letter or digit", p.FixedVersion)
	}
	switch {
	case p.Title == "":
		return bad("empty title")
	case len(p.Title) > 1024:
		return bad("title longer than 1024 bytes")
	case hasControl(p.Title):
		return bad("title contains control characters")
	case p.Product == "":
		return bad("empty product")
	case len(p.Product) > 256 || hasControl(p.Product):
		return bad("product %q: want one line of at most 256 bytes", p.Product)
	case len(p.PublisherName) > 256 || hasControl(p.PublisherName):
		return bad("publisher name %q: want one line of at most 256 bytes", p.PublisherName)
	case p.Time.IsZero():
		return bad("no release time")
	case p.Time.UTC().Year() < 1970 || p.Time.UTC().Year() > 9999:
		return bad("release time %v out of range", p.Time)
	case p.Revision < 0 || p.Revision > 10000:
		return bad("revision %d: want 1 to 10000", p.Revision)
	case !p.Initial.IsZero() && p.Initial.After(p.Time):
		return bad("initial release %v is after this revision's %v", p.Initial, p.Time)
	}
	if p.Revision == 0 {
		p.Revision = 1
	}
	if p.Initial.IsZero() {
		p.Initial = p.Time
	}
	if u, err := url.Parse(p.PublisherNamespace); err != nil || !u.IsAbs() || u.Host == "" || hasControl(p.PublisherNamespace) {
		return bad("publisher namespace %q: want an absolute URL such as https://example.com", p.PublisherNamespace)
	}
	switch {
	case p.ReleaseID == "":
		if err := trust.CheckProduct(p.Product); err != nil {
			return bad("%v; pass the release id explicitly", err)
		}
		p.ReleaseID = ReleaseID(p.Product, p.FixedVersion)
	case !strings.HasPrefix(p.ReleaseID, ReleasePrefix):
		p.ReleaseID = ReleasePrefix + p.ReleaseID
	}
	if _, _, ok := ParseReleaseID(p.ReleaseID); !ok {
		return bad("release id %q: want %s<product>@<version>", p.ReleaseID, ReleasePrefix)
	}
	seen := map[string]bool{}
	var cves []string
	for _, c := range p.CVEs {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !reCVE.MatchString(c) {
			return bad("CVE id %q: want CVE-YYYY-NNNN", c)
		}
		if !seen[c] {
			seen[c] = true
			cves = append(cves, c)
		}
	}
	sort.Strings(cves)
	p.CVEs = cves
	score, err := cvss.Score(p.CVSS)
	if err != nil {
		return Params{}, cvss.Result{}, fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	return p, score, nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// The out* types are the CSAF 2.0 document New writes, in schema order.
type outDocument struct {
	Document        outMeta            `json:"document"`
	ProductTree     outProductTree     `json:"product_tree"`
	Vulnerabilities []outVulnerability `json:"vulnerabilities"`
}

type outMeta struct {
	Category    string       `json:"category"`
	CSAFVersion string       `json:"csaf_version"`
	Lang        string       `json:"lang"`
	Title       string       `json:"title"`
	Publisher   outPublisher `json:"publisher"`
	Tracking    outTracking  `json:"tracking"`
	Notes       []outNote    `json:"notes,omitempty"`
}

type outPublisher struct {
	Category  string `json:"category"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type outTracking struct {
	ID                 string        `json:"id"`
	Status             string        `json:"status"`
	Version            string        `json:"version"`
	InitialReleaseDate string        `json:"initial_release_date"`
	CurrentReleaseDate string        `json:"current_release_date"`
	RevisionHistory    []outRevision `json:"revision_history"`
	Generator          *outGenerator `json:"generator,omitempty"`
}

type outRevision struct {
	Date    string `json:"date"`
	Number  string `json:"number"`
	Summary string `json:"summary"`
}

type outGenerator struct {
	Date   string    `json:"date"`
	Engine outEngine `json:"engine"`
}

type outEngine struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

type outProductTree struct {
	Branches []outBranch `json:"branches"`
}

type outBranch struct {
	Category string              `json:"category"`
	Name     string              `json:"name"`
	Product  *outFullProductName `json:"product,omitempty"`
	Branches []outBranch         `json:"branches,omitempty"`
}

type outFullProductName struct {
	Name      string `json:"name"`
	ProductID string `json:"product_id"`
}

type outVulnerability struct {
	CVE           string           `json:"cve,omitempty"`
	Notes         []outNote        `json:"notes"`
	ProductStatus outProductStatus `json:"product_status"`
	Scores        []outScore       `json:"scores,omitempty"`
	Remediations  []outRemediation `json:"remediations"`
}

type outNote struct {
	Category string `json:"category"`
	Title    string `json:"title,omitempty"`
	Text     string `json:"text"`
}

type outProductStatus struct {
	Fixed         []string `json:"fixed"`
	KnownAffected []string `json:"known_affected"`
}

type outScore struct {
	Products []string `json:"products"`
	CVSSv3   outCVSS3 `json:"cvss_v3"`
}

type outCVSS3 struct {
	Version      string  `json:"version"`
	VectorString string  `json:"vectorString"`
	BaseScore    float64 `json:"baseScore"`
	BaseSeverity string  `json:"baseSeverity"`
}

type outRemediation struct {
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	URL        string   `json:"url,omitempty"`
	ProductIDs []string `json:"product_ids"`
}
