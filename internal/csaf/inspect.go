package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

// MaxDocumentSize bounds the input of Inspect. The largest advisory in the
// shared test data is 142 KB; 16 MiB leaves room for huge product trees.
const MaxDocumentSize = 16 << 20

var (
	// ErrNotCSAF is wrapped by every error Inspect returns for input that is
	// not JSON or not a CSAF 2.x document.
	ErrNotCSAF = errors.New("not a CSAF 2.0 document")
	// ErrTooLarge is returned for input longer than MaxDocumentSize.
	ErrTooLarge = errors.New("CSAF document too large")
)

// Summary is what Inspect reports about one advisory. Strings are copied from
// the document with surrounding white space trimmed; nothing is invented.
type Summary struct {
	ID                 string       `json:"id"`    // document.tracking.id
	Title              string       `json:"title"` // document.title
	Category           string       `json:"category"`
	CSAFVersion        string       `json:"csaf_version"`
	Publisher          string       `json:"publisher"` // document.publisher.name
	PublisherCategory  string       `json:"publisher_category,omitempty"`
	PublisherNamespace string       `json:"publisher_namespace,omitempty"`
	Version            string       `json:"version"` // document.tracking.version
	Status             string       `json:"status,omitempty"`
	InitialReleaseDate string       `json:"initial_release_date,omitempty"`
	CurrentReleaseDate string       `json:"current_release_date,omitempty"`
	Vulnerabilities    int          `json:"vulnerabilities"`
	CVEs               []string     `json:"cves"` // sorted, unique
	Products           []Product    `json:"products"`
	Scores             []ScoreEntry `json:"scores"`
	// MaxBaseScore is the highest base score over Scores: the computed
	// score where the vector scores, else the score written in the file
	// (CVSS v2); 0 when there is none.
	MaxBaseScore float64       `json:"max_base_score"`
	Remediations []Remediation `json:"remediations"`
	// FixedReleases are the Tocsin release ids ("tocsin:release:<product>@<version>")
	// that vendor_fix remediations point at, sorted and unique.
	FixedReleases []string `json:"fixed_releases"`
	// Deadline is the text of the document note titled NoteTitleDeadline
	// (Tocsin's delivery deadline), if any.
	Deadline string `json:"deadline,omitempty"`
	// Warnings lists what was ignored while reading leniently: fields of
	// the wrong JSON type, a missing id or title.
	Warnings []string `json:"warnings,omitempty"`
}

// Product is one product defined in the product tree.
type Product struct {
	ID   string `json:"product_id"`
	Name string `json:"name"`
	CPE  string `json:"cpe,omitempty"`
	PURL string `json:"purl,omitempty"`
}

// Score sources: the key of the vulnerability score object the vector came
// from, or SourceNote for a CVSS v4.0 vector carried in a note (see New).
const (
	SourceCVSSv2 = "cvss_v2"
	SourceCVSSv3 = "cvss_v3"
	SourceCVSSv4 = "cvss_v4" // CSAF 2.1; read for forward compatibility
	SourceNote   = "note"
)

// ScoreEntry is one CVSS score of one vulnerability: what the file says and
// what internal/cvss computes from the vector, side by side.
type ScoreEntry struct {
	CVE        string   `json:"cve,omitempty"`
	ProductIDs []string `json:"product_ids,omitempty"`
	Source     string   `json:"source"`
	Version    string   `json:"version,omitempty"` // as written in the file
	Vector     string   `json:"vector"`
	// FileBaseScore and FileSeverity are written in the file; nil/empty when
	// absent.
	FileBaseScore *float64 `json:"file_base_score,omitempty"`
	FileSeverity  string   `json:"file_severity,omitempty"`
	// BaseScore and Severity are computed by internal/cvss; nil/empty when
	// the vector cannot be scored, and Error then says why (CVSS v2 is not
	// scored).
	BaseScore *float64 `json:"base_score,omitempty"`
	Severity  string   `json:"severity,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Mismatch reports whether the file carries a base score that differs from
// the one computed from its vector.
func (e ScoreEntry) Mismatch() bool {
	return e.FileBaseScore != nil && e.BaseScore != nil && math.Abs(*e.FileBaseScore-*e.BaseScore) > 1e-6
}

// Remediation is one remediation of one vulnerability.
type Remediation struct {
	CVE        string   `json:"cve,omitempty"`
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	URL        string   `json:"url,omitempty"`
	ProductIDs []string `json:"product_ids,omitempty"`
	GroupIDs   []string `json:"group_ids,omitempty"`
}

// Inspect reads a CSAF 2.x document leniently and summarises it. It never
// panics on input. Errors wrap ErrNotCSAF (invalid JSON, no
// document.csaf_version or document.category) or ErrTooLarge.
func Inspect(data []byte) (Summary, error) {
	if len(data) > MaxDocumentSize {
		return Summary{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxDocumentSize)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM, as some exports carry
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Summary{}, fmt.Errorf("%w: empty input", ErrNotCSAF)
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return Summary{}, fmt.Errorf("%w: invalid JSON: %v", ErrNotCSAF, syntaxError(trimmed))
		}
		return Summary{}, fmt.Errorf("%w: top level is not a JSON object", ErrNotCSAF)
	}
	var doc rawDocument
	var warnings []string
	if err := json.Unmarshal(trimmed, &doc); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field == "document":
			return Summary{}, fmt.Errorf("%w: \"document\" is not an object", ErrNotCSAF)
		case errors.As(err, &te):
			// encoding/json skips the mistyped value and completes the rest;
			// it reports only the first such value.
			warnings = append(warnings, fmt.Sprintf("ignored %s: JSON %s where %s was expected", fieldName(te.Field), te.Value, jsonKind(te)))
		case errors.As(err, &se):
			return Summary{}, fmt.Errorf("%w: invalid JSON at byte %d: %v", ErrNotCSAF, se.Offset, se)
		default:
			return Summary{}, fmt.Errorf("%w: %v", ErrNotCSAF, err)
		}
	}
	d := doc.Document
	if d == nil {
		return Summary{}, fmt.Errorf("%w: no \"document\" object", ErrNotCSAF)
	}
	s := Summary{
		CSAFVersion: d.CSAFVersion.String(),
		Category:    d.Category.String(),
	}
	switch {
	case s.CSAFVersion == "":
		return Summary{}, fmt.Errorf("%w: no document.csaf_version", ErrNotCSAF)
	case s.CSAFVersion != "2" && !strings.HasPrefix(s.CSAFVersion, "2."):
		return Summary{}, fmt.Errorf("%w: document.csaf_version is %q, want 2.x", ErrNotCSAF, s.CSAFVersion)
	case s.Category == "":
		return Summary{}, fmt.Errorf("%w: no document.category", ErrNotCSAF)
	}
	s.Title = d.Title.String()
	s.Publisher = d.Publisher.Name.String()
	s.PublisherCategory = d.Publisher.Category.String()
	s.PublisherNamespace = d.Publisher.Namespace.String()
	s.ID = d.Tracking.ID.String()
	s.Version = d.Tracking.Version.String()
	s.Status = d.Tracking.Status.String()
	s.InitialReleaseDate = d.Tracking.InitialReleaseDate.String()
	s.CurrentReleaseDate = d.Tracking.CurrentReleaseDate.String()
	if s.ID == "" {
		warnings = append(warnings, "no document.tracking.id")
	}
	if s.Title == "" {
		warnings = append(warnings, "no document.title")
	}

	for _, n := range d.Notes {
		if n.Title.String() == NoteTitleDeadline {
			s.Deadline = n.Text.String()
		}
	}
	s.Products = products(doc.ProductTree)
	s.Vulnerabilities = len(doc.Vulnerabilities)
	cves := map[string]bool{}
	releases := map[string]bool{}
	for _, v := range doc.Vulnerabilities {
		cve := v.CVE.String()
		if cve != "" {
			cves[cve] = true
		}
		for _, sc := range v.Scores {
			pids := texts(sc.Products)
			for _, c := range []struct {
				source string
				obj    *rawCVSS
			}{{SourceCVSSv3, sc.CVSSv3}, {SourceCVSSv4, sc.CVSSv4}, {SourceCVSSv2, sc.CVSSv2}} {
				if c.obj == nil {
					continue
				}
				e := ScoreEntry{
					CVE:          cve,
					ProductIDs:   pids,
					Source:       c.source,
					Version:      c.obj.Version.String(),
					Vector:       c.obj.VectorString.String(),
					FileSeverity: c.obj.BaseSeverity.String(),
				}
				if c.obj.BaseScore.ok {
					f := c.obj.BaseScore.v
					e.FileBaseScore = &f
				}
				s.Scores = append(s.Scores, compute(e))
			}
		}
		for _, n := range v.Notes {
			if n.Title.String() != NoteTitleCVSSv4 {
				continue
			}
			if vec := findVector40(n.Text.String()); vec != "" {
				s.Scores = append(s.Scores, compute(ScoreEntry{CVE: cve, Source: SourceNote, Version: "4.0", Vector: vec}))
			}
		}
		for _, r := range v.Remediations {
			rem := Remediation{
				CVE:        cve,
				Category:   r.Category.String(),
				Details:    r.Details.String(),
				URL:        r.URL.String(),
				ProductIDs: texts(r.ProductIDs),
				GroupIDs:   texts(r.GroupIDs),
			}
			s.Remediations = append(s.Remediations, rem)
			if rem.Category == "vendor_fix" {
				for _, id := range releaseIDsIn(rem.URL, rem.Details) {
					releases[id] = true
				}
			}
		}
	}
	s.CVEs = sortedKeys(cves)
	s.FixedReleases = sortedKeys(releases)
	for _, e := range s.Scores {
		switch {
		case e.BaseScore != nil:
			s.MaxBaseScore = math.Max(s.MaxBaseScore, *e.BaseScore)
		case e.FileBaseScore != nil && *e.FileBaseScore >= 0 && *e.FileBaseScore <= 10:
			s.MaxBaseScore = math.Max(s.MaxBaseScore, *e.FileBaseScore)
		}
	}
	if s.Products == nil {
		s.Products = []Product{}
	}
	if s.Scores == nil {
		s.Scores = []ScoreEntry{}
	}
	if s.Remediations == nil {
		s.Remediations = []Remediation{}
	}
	s.Warnings = warnings
	return s, nil
}

// compute fills in the score internal/cvss computes for e.Vector.
func compute(e ScoreEntry) ScoreEntry {
	switch {
	case e.Vector == "":
		e.Error = "no vectorString"
		return e
	case e.Source == SourceCVSSv2:
		e.Error = "CVSS v2 is not scored"
		return e
	}
	r, err := cvss.Score(e.Vector)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	score := r.BaseScore
	e.BaseScore, e.Severity = &score, r.Severity
	return e
}

// findVector40 returns the first CVSS:4.0/ vector in a note's text.
func findVector40(text string) string {
	i := strings.Index(text, "CVSS:4.0/")
	if i < 0 {
		return ""
	}
	rest := text[i:]
	if j := strings.IndexFunc(rest, func(r rune) bool {
		return !(r == '/' || r == ':' || r == '.' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
	}); j >= 0 {
		rest = rest[:j]
	}
	return strings.TrimRight(rest, ".:")
}

// products walks the product tree: branches (recursively), then
// full_product_names, then relationships. A product id defined twice keeps
// its first definition.
func products(pt *rawProductTree) []Product {
	if pt == nil {
		return nil
	}
	var out []Product
	seen := map[string]bool{}
	add := func(f *rawFullProductName) {
		if f == nil {
			return
		}
		id := f.ProductID.String()
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		p := Product{ID: id, Name: f.Name.String()}
		if h := f.Helper; h != nil {
			p.CPE, p.PURL = h.CPE.String(), h.PURL.String()
		}
		out = append(out, p)
	}
	// Iterative walk: a hostile document may nest branches thousands deep.
	stack := make([]*rawBranch, 0, len(pt.Branches))
	for i := len(pt.Branches) - 1; i >= 0; i-- {
		stack = append(stack, &pt.Branches[i])
	}
	for len(stack) > 0 {
		b := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		add(b.Product)
		for i := len(b.Branches) - 1; i >= 0; i-- {
			stack = append(stack, &b.Branches[i])
		}
	}
	for i := range pt.FullProductNames {
		add(&pt.FullProductNames[i])
	}
	for i := range pt.Relationships {
		add(pt.Relationships[i].FullProductName)
	}
	return out
}

func texts(ts []text) []string {
	var out []string
	for _, t := range ts {
		if s := t.String(); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// syntaxError returns encoding/json's syntax error for invalid data, with
// its byte offset.
func syntaxError(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("byte %d: %v", se.Offset, se)
	}
	return err
}

func fieldName(f string) string {
	if f == "" {
		return "a value"
	}
	return f
}

func jsonKind(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "another type"
	}
	switch k := te.Type.Kind().String(); k {
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return k
	}
}

// The raw* types mirror the parts of the CSAF 2.0 schema that Inspect reads.
// Leaves are text or number, which accept any JSON scalar and never fail;
// a container of the wrong type makes encoding/json skip that value (and
// report it, which Inspect turns into a warning) while it decodes the rest.
type rawDocument struct {
	Document        *rawDocMeta        `json:"document"`
	ProductTree     *rawProductTree    `json:"product_tree"`
	Vulnerabilities []rawVulnerability `json:"vulnerabilities"`
}

type rawDocMeta struct {
	CSAFVersion text `json:"csaf_version"`
	Category    text `json:"category"`
	Title       text `json:"title"`
	Publisher   struct {
		Name      text `json:"name"`
		Category  text `json:"category"`
		Namespace text `json:"namespace"`
	} `json:"publisher"`
	Tracking struct {
		ID                 text `json:"id"`
		Version            text `json:"version"`
		Status             text `json:"status"`
		InitialReleaseDate text `json:"initial_release_date"`
		CurrentReleaseDate text `json:"current_release_date"`
	} `json:"tracking"`
	Notes []rawNote `json:"notes"`
}

type rawProductTree struct {
	Branches         []rawBranch          `json:"branches"`
	FullProductNames []rawFullProductName `json:"full_product_names"`
	Relationships    []struct {
		FullProductName *rawFullProductName `json:"full_product_name"`
	} `json:"relationships"`
}

type rawBranch struct {
	Category text                `json:"category"`
	Name     text                `json:"name"`
	Product  *rawFullProductName `json:"product"`
	Branches []rawBranch         `json:"branches"`
}

type rawFullProductName struct {
	ProductID text `json:"product_id"`
	Name      text `json:"name"`
	Helper    *struct {
		CPE  text `json:"cpe"`
		PURL text `json:"purl"`
	} `json:"product_identification_helper"`
}

type rawVulnerability struct {
	CVE    text      `json:"cve"`
	Notes  []rawNote `json:"notes"`
	Scores []struct {
		Products []text   `json:"products"`
		CVSSv2   *rawCVSS `json:"cvss_v2"`
		CVSSv3   *rawCVSS `json:"cvss_v3"`
		CVSSv4   *rawCVSS `json:"cvss_v4"`
	} `json:"scores"`
	Remediations []struct {
		Category   text   `json:"category"`
		Details    text   `json:"details"`
		URL        text   `json:"url"`
		ProductIDs []text `json:"product_ids"`
		GroupIDs   []text `json:"group_ids"`
	} `json:"remediations"`
}

type rawNote struct {
	Category text `json:"category"`
	Title    text `json:"title"`
	Text     text `json:"text"`
}

type rawCVSS struct {
	Version      text   `json:"version"`
	VectorString text   `json:"vectorString"`
	BaseScore    number `json:"baseScore"`
	BaseSeverity text   `json:"baseSeverity"`
}

// text is a string leaf read leniently: a JSON string is kept, a number or
// boolean keeps its JSON spelling, and null, objects and arrays read as "".
// Its UnmarshalJSON never fails.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch c := b[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*t = text(s)
		}
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f':
		*t = text(b)
	}
	return nil
}

// String returns the value with surrounding white space trimmed.
func (t text) String() string { return strings.TrimSpace(string(t)) }

// number is a numeric leaf read leniently: a JSON number or a string holding
// a finite decimal number. Anything else leaves ok false. Its UnmarshalJSON
// never fails.
type number struct {
	v  float64
	ok bool
}

func (n *number) UnmarshalJSON(b []byte) error {
	*n = number{}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		s = strings.TrimSpace(s)
	}
	if s == "" || slices.Contains([]string{"null", "true", "false"}, s) {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "nNiIxX") {
		return nil
	}
	*n = number{v: f, ok: true}
	return nil
}
