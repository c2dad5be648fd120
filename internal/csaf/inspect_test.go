package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"

	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

// sharedCSAF is the shared test data directory, relative to this package.
const sharedCSAF = "../../../shared/testdata/csaf"

// knownWrongScores lists scores written in the shared advisories that differ
// from what their own vector computes to, keyed "file|CVE|vector", with the
// value the file writes. None of the 234 vector scores in the 49 files (OASIS
// commit 27af37f, cisagov/CSAF commit 6960219) disagrees, so it is empty; a
// new file with a wrong score must be added here with a comment, and an entry
// that starts agreeing fails the test.
var knownWrongScores = map[string]float64{}

func sharedAdvisories(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(sharedCSAF); err != nil {
		t.Skipf("shared CSAF test data not available at %s: %v", sharedCSAF, err)
	}
	var files []string
	for _, dir := range []string{"oasis", "cisa-2024"} {
		m, err := filepath.Glob(filepath.Join(sharedCSAF, dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) != 49 {
		t.Fatalf("found %d advisories under %s, want the 49 of oasis/ and cisa-2024/", len(files), sharedCSAF)
	}
	return files
}

// fileScore is one CVSS object of a vulnerability, read independently of
// Inspect from the generic JSON tree.
type fileScore struct {
	cve, vector string
	base        float64
	hasBase     bool
}

// independent is what the test reads from a document without Inspect: a
// generic JSON walk, so that a bug in Inspect's structs cannot hide itself.
type independent struct {
	id, title string
	cves      []string
	products  map[string]bool
	scores    []fileScore
}

func readIndependent(t *testing.T, data []byte) independent {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("generic decode: %v", err)
	}
	var in independent
	d, _ := doc["document"].(map[string]any)
	in.title, _ = d["title"].(string)
	tr, _ := d["tracking"].(map[string]any)
	in.id, _ = tr["id"].(string)
	in.products = definedProducts(doc)
	cves := map[string]bool{}
	for _, v := range asList(doc["vulnerabilities"]) {
		vm, _ := v.(map[string]any)
		cve, _ := vm["cve"].(string)
		if cve != "" {
			cves[cve] = true
		}
		for _, s := range asList(vm["scores"]) {
			sm, _ := s.(map[string]any)
			for _, key := range []string{"cvss_v3", "cvss_v2"} {
				c, ok := sm[key].(map[string]any)
				if !ok {
					continue
				}
				fs := fileScore{cve: cve}
				fs.vector, _ = c["vectorString"].(string)
				fs.base, fs.hasBase = c["baseScore"].(float64)
				in.scores = append(in.scores, fs)
			}
		}
	}
	for c := range cves {
		in.cves = append(in.cves, c)
	}
	sort.Strings(in.cves)
	return in
}

func asList(v any) []any { l, _ := v.([]any); return l }

// definedProducts collects every product_id defined in the product tree:
// branches at any depth, full_product_names and relationships.
func definedProducts(doc map[string]any) map[string]bool {
	ids := map[string]bool{}
	pt, _ := doc["product_tree"].(map[string]any)
	addFPN := func(v any) {
		if m, ok := v.(map[string]any); ok {
			if id, _ := m["product_id"].(string); id != "" {
				ids[id] = true
			}
		}
	}
	var walk func(bs []any)
	walk = func(bs []any) {
		for _, b := range bs {
			bm, _ := b.(map[string]any)
			addFPN(bm["product"])
			walk(asList(bm["branches"]))
		}
	}
	walk(asList(pt["branches"]))
	for _, f := range asList(pt["full_product_names"]) {
		addFPN(f)
	}
	for _, r := range asList(pt["relationships"]) {
		rm, _ := r.(map[string]any)
		addFPN(rm["full_product_name"])
	}
	return ids
}

func TestCSAFInspectSharedAdvisories(t *testing.T) {
	files := sharedAdvisories(t)
	var nScores, nVectors, nWrong int
	wrongSeen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Inspect(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		in := readIndependent(t, data)

		// A second, independent reader: the gocsaf types.
		var adv gocsaf.Advisory
		if err := json.Unmarshal(data, &adv); err != nil {
			t.Errorf("%s: gocsaf decode: %v", name, err)
		} else if adv.Document != nil && adv.Document.Tracking != nil && adv.Document.Tracking.ID != nil {
			if got := string(*adv.Document.Tracking.ID); got != s.ID {
				t.Errorf("%s: Inspect id %q, gocsaf id %q", name, s.ID, got)
			}
		}

		if s.ID == "" || s.ID != strings.TrimSpace(in.id) {
			t.Errorf("%s: id %q, want %q", name, s.ID, in.id)
		}
		if s.Title == "" || s.Title != strings.TrimSpace(in.title) {
			t.Errorf("%s: title %q, want %q", name, s.Title, in.title)
		}
		if s.Publisher == "" || s.Version == "" || s.CSAFVersion != "2.0" {
			t.Errorf("%s: publisher %q version %q csaf_version %q", name, s.Publisher, s.Version, s.CSAFVersion)
		}
		if !slices.Equal(s.CVEs, in.cves) && !(len(s.CVEs) == 0 && len(in.cves) == 0) {
			t.Errorf("%s: CVEs %v, want %v", name, s.CVEs, in.cves)
		}
		if len(s.Products) != len(in.products) || len(s.Products) == 0 {
			t.Errorf("%s: %d products, the product tree defines %d", name, len(s.Products), len(in.products))
		}
		for _, p := range s.Products {
			if !in.products[p.ID] {
				t.Errorf("%s: product %q is not defined in the product tree", name, p.ID)
			}
		}
		if len(s.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %v", name, s.Warnings)
		}

		// Every score that carries a vector: the base score written in the
		// file must equal what internal/cvss computes (checked here from the
		// generic tree, then against Inspect's report).
		if len(s.Scores) != len(in.scores) {
			t.Errorf("%s: Inspect reports %d scores, the file has %d", name, len(s.Scores), len(in.scores))
		}
		maxScore := 0.0
		for i, fs := range in.scores {
			nScores++
			if fs.vector == "" {
				continue
			}
			nVectors++
			r, err := cvss.Score(fs.vector)
			if err != nil {
				t.Errorf("%s %s: vector %q does not score: %v", name, fs.cve, fs.vector, err)
				continue
			}
			maxScore = math.Max(maxScore, r.BaseScore)
			key := name + "|" + fs.cve + "|" + fs.vector
			if want, known := knownWrongScores[key]; known {
				wrongSeen[key] = true
				if fs.base == r.BaseScore {
					t.Errorf("%s %s: documented wrong score now agrees (%.1f); remove it from knownWrongScores", name, fs.cve, fs.base)
				} else if fs.base != want {
					t.Errorf("%s %s: file writes %.1f, knownWrongScores says %.1f", name, fs.cve, fs.base, want)
				}
				t.Logf("documented wrong score: %s %s %s: file %.1f, computed %.1f", name, fs.cve, fs.vector, fs.base, r.BaseScore)
				nWrong++
			} else if !fs.hasBase || fs.base != r.BaseScore {
				nWrong++
				t.Errorf("%s %s %s: file writes base score %v, vector computes %.1f", name, fs.cve, fs.vector, fs.base, r.BaseScore)
			}
			if i < len(s.Scores) {
				e := s.Scores[i]
				if e.Vector != fs.vector || e.BaseScore == nil || *e.BaseScore != r.BaseScore ||
					e.FileBaseScore == nil || *e.FileBaseScore != fs.base || e.Mismatch() != (fs.base != r.BaseScore) {
					t.Errorf("%s: score %d reported as %+v, want vector %q file %.1f computed %.1f", name, i, e, fs.vector, fs.base, r.BaseScore)
				}
			}
		}
		if s.MaxBaseScore != maxScore {
			t.Errorf("%s: max base score %.1f, want %.1f", name, s.MaxBaseScore, maxScore)
		}
	}
	for k := range knownWrongScores {
		if !wrongSeen[k] {
			t.Errorf("knownWrongScores entry %q matches no score", k)
		}
	}
	t.Logf("%d CSAF files inspected; %d scores, %d with a vector, %d file scores differ from the computed score", len(files), nScores, nVectors, nWrong)
}

func TestCSAFInspectKnownAdvisory(t *testing.T) {
	// Facts of the OASIS example advisory bsi-2022-0001, read off the file.
	files := sharedAdvisories(t)
	var data []byte
	for _, f := range files {
		if filepath.Base(f) == "bsi-2022-0001.json" {
			data, _ = os.ReadFile(f)
		}
	}
	if data == nil {
		t.Fatal("bsi-2022-0001.json not found")
	}
	s, err := Inspect(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "BSI-2022-0001" || s.Publisher != "Bundesamt für Sicherheit in der Informationstechnik" ||
		s.PublisherCategory != "coordinator" || s.Category != "csaf_security_advisory" ||
		s.Title != "CVRF-CSAF-Converter: XML External Entities Vulnerability" {
		t.Errorf("id %q publisher %q (%s) category %q title %q", s.ID, s.Publisher, s.PublisherCategory, s.Category, s.Title)
	}
	if !slices.Equal(s.CVEs, []string{"CVE-2022-27193"}) {
		t.Errorf("CVEs %v", s.CVEs)
	}
	if len(s.Products) != 6 || s.Products[0].ID != "CSAFPID-0001" || s.Products[0].Name != "CSAF Tools CVRF-CSAF-Converter 1.0.0-alpha" ||
		s.Products[0].CPE != "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha" {
		t.Errorf("products %+v", s.Products)
	}
	if len(s.Scores) != 1 {
		t.Fatalf("scores %+v", s.Scores)
	}
	sc := s.Scores[0]
	if sc.Vector != "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:L/E:F/RL:O/RC:C" || sc.Version != "3.1" || sc.CVE != "CVE-2022-27193" ||
		sc.FileBaseScore == nil || *sc.FileBaseScore != 6.1 || sc.FileSeverity != "MEDIUM" ||
		sc.BaseScore == nil || *sc.BaseScore != 6.1 || sc.Severity != "MEDIUM" || len(sc.ProductIDs) != 5 || s.MaxBaseScore != 6.1 {
		t.Errorf("score %+v, max %.1f", sc, s.MaxBaseScore)
	}
	if len(s.Remediations) != 1 || s.Remediations[0].Category != "vendor_fix" ||
		s.Remediations[0].URL != "https://github.com/csaf-tools/CVRF-CSAF-Converter/releases/tag/1.0.0-rc2" ||
		len(s.Remediations[0].ProductIDs) != 5 {
		t.Errorf("remediations %+v", s.Remediations)
	}
	if len(s.FixedReleases) != 0 {
		t.Errorf("fixed releases %v in a document that names no Tocsin release", s.FixedReleases)
	}
}

func TestCSAFInspectNotCSAF(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"spaces", "  \n", "empty"},
		{"garbage", "not json", "invalid JSON"},
		{"truncated", `{"document": {"csaf_version": "2.0"`, "invalid JSON"},
		{"trailing data", `{"document": {"csaf_version": "2.0", "category": "csaf_base"}} {}`, "invalid JSON"},
		{"array", `[1, 2]`, "not a JSON object"},
		{"string", `"CSAF"`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"no document", `{"vulnerabilities": []}`, `no "document"`},
		{"document not an object", `{"document": "x"}`, `"document" is not an object`},
		{"no version", `{"document": {"category": "csaf_base", "title": "x"}}`, "csaf_version"},
		{"no category", `{"document": {"csaf_version": "2.0"}}`, "category"},
		{"version 1", `{"document": {"csaf_version": "1.2", "category": "csaf_base"}}`, "want 2.x"},
		{"cyclonedx", `{"bomFormat": "CycloneDX", "specVersion": "1.5"}`, `no "document"`},
	} {
		_, err := Inspect([]byte(c.in))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, ErrNotCSAF) {
			t.Errorf("%s: %v does not wrap ErrNotCSAF", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) || strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("%s: error %q, want one line mentioning %q", c.name, err, c.want)
		}
	}
}

func TestCSAFInspectTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte(" "), MaxDocumentSize+1)
	_, err := Inspect(big)
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotCSAF) {
		t.Fatalf("Inspect(%d bytes): %v, want ErrTooLarge", len(big), err)
	}
	ok := append([]byte(`{"document":{"csaf_version":"2.0","category":"csaf_base","title":"t","tracking":{"id":"X"}}}`),
		bytes.Repeat([]byte(" "), MaxDocumentSize-100)...)
	if _, err := Inspect(ok); err != nil {
		t.Fatalf("document just under the limit: %v", err)
	}
}

func TestCSAFInspectLenient(t *testing.T) {
	// Messy but meaningful: numbers written as strings or the other way
	// round, a mistyped container, a BOM, odd enum values and case.
	doc := "\xef\xbb\xbf" + `{
	  "document": {
	    "csaf_version": "2.0",
	    "category": "csaf_security_advisory",
	    "title": "  Messy advisory ",
	    "publisher": {"name": "ACME", "category": "supplier-ish", "namespace": "https://acme.example"},
	    "tracking": {"id": "ACME-1", "version": 3, "status": "final"}
	  },
	  "product_tree": {
	    "branches": [{"category": "vendor", "name": "ACME", "branches": [
	      {"category": "product_family", "name": "PLC", "branches": [
	        {"category": "product_name", "name": "PLC-1", "product": {"product_id": "P1", "name": "ACME PLC-1"}},
	        {"category": "product_name", "name": "PLC-1", "product": {"product_id": "P1", "name": "duplicate definition"}}
	      ]}
	    ]}],
	    "full_product_names": [{"product_id": "P2", "name": "ACME HMI", "product_identification_helper": {"cpe": "cpe:2.3:h:acme:hmi:-:*:*:*:*:*:*:*"}}],
	    "relationships": [{"category": "installed_on", "product_reference": "P2", "relates_to_product_reference": "P1",
	      "full_product_name": {"product_id": "P3", "name": "ACME HMI on PLC-1"}}],
	    "product_groups": [{"group_id": "G1", "product_ids": ["P1", "P2"]}]
	  },
	  "vulnerabilities": [
	    {"cve": "CVE-2024-0002", "scores": [{"products": ["P1"], "cvss_v3": {"version": "3.1",
	      "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "baseScore": "9.8", "baseSeverity": "CRITICAL"}}],
	     "remediations": [{"category": "vendor_fix", "details": "Install tocsin:release:acme-plc@2.0.1.", "product_ids": ["P1"]}]},
	    {"cve": "CVE-2024-0001", "scores": [{"products": ["P2"], "cvss_v3": {"version": "3.0",
	      "vectorString": "CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", "baseScore": 4.0}},
	      {"products": ["P2"], "cvss_v2": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "baseScore": 7.5}}],
	     "remediations": [{"category": "mitigation", "details": "Firewall.", "url": "tocsin:release:ignored@1.0", "product_ids": "P2"}]},
	    {"cve": "CVE-2024-0002", "notes": [{"category": "other", "title": "CVSS v4.0",
	      "text": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N (base score 9.3)."}]}
	  ]
	}`
	s, err := Inspect([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Title != "Messy advisory" || s.Version != "3" || s.PublisherCategory != "supplier-ish" {
		t.Errorf("title %q version %q publisher category %q", s.Title, s.Version, s.PublisherCategory)
	}
	// product_ids given as a string rather than a list: skipped, reported.
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "vulnerabilities.remediations.product_ids") {
		t.Errorf("warnings %q, want one about vulnerabilities.remediations.product_ids", s.Warnings)
	}
	wantProducts := []Product{
		{ID: "P1", Name: "ACME PLC-1"},
		{ID: "P2", Name: "ACME HMI", CPE: "cpe:2.3:h:acme:hmi:-:*:*:*:*:*:*:*"},
		{ID: "P3", Name: "ACME HMI on PLC-1"},
	}
	if !slices.Equal(s.Products, wantProducts) {
		t.Errorf("products %+v, want %+v", s.Products, wantProducts)
	}
	if !slices.Equal(s.CVEs, []string{"CVE-2024-0001", "CVE-2024-0002"}) {
		t.Errorf("CVEs %v", s.CVEs)
	}
	if len(s.Scores) != 4 {
		t.Fatalf("%d scores, want 4: %+v", len(s.Scores), s.Scores)
	}
	first := s.Scores[0]
	if first.FileBaseScore == nil || *first.FileBaseScore != 9.8 || first.BaseScore == nil || *first.BaseScore != 9.8 || first.Mismatch() {
		t.Errorf("score given as a string: %+v", first)
	}
	wrong := s.Scores[1] // the file says 4.0, the vector computes 5.5
	if wrong.FileBaseScore == nil || *wrong.FileBaseScore != 4.0 || wrong.BaseScore == nil || *wrong.BaseScore != 5.5 || !wrong.Mismatch() {
		t.Errorf("wrong file score not reported as such: %+v", wrong)
	}
	v2 := s.Scores[2]
	if v2.Source != SourceCVSSv2 || v2.BaseScore != nil || v2.Error == "" || v2.FileBaseScore == nil || *v2.FileBaseScore != 7.5 {
		t.Errorf("CVSS v2 score: %+v", v2)
	}
	note := s.Scores[3]
	if note.Source != SourceNote || note.Vector != "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" || note.BaseScore == nil || *note.BaseScore != 9.3 {
		t.Errorf("CVSS v4.0 note: %+v", note)
	}
	// The v2 score (7.5, not computed) is below the computed 9.8.
	if s.MaxBaseScore != 9.8 {
		t.Errorf("max base score %.1f, want 9.8", s.MaxBaseScore)
	}
	// Only vendor_fix remediations name the fixing release; the trailing
	// full stop of the sentence is not part of the version.
	if !slices.Equal(s.FixedReleases, []string{"tocsin:release:acme-plc@2.0.1"}) {
		t.Errorf("fixed releases %v", s.FixedReleases)
	}
	if len(s.Remediations) != 2 || s.Remediations[1].CVE != "CVE-2024-0001" || s.Remediations[1].URL != "tocsin:release:ignored@1.0" ||
		s.Remediations[1].ProductIDs != nil || !slices.Equal(s.Remediations[0].ProductIDs, []string{"P1"}) {
		t.Errorf("remediations %+v", s.Remediations)
	}
}

func TestCSAFInspectDeepBranches(t *testing.T) {
	// Thousands of nested branches: bounded work, no stack exhaustion.
	const depth = 4000
	var b strings.Builder
	b.WriteString(`{"document":{"csaf_version":"2.0","category":"csaf_base","title":"t","tracking":{"id":"X"}},"product_tree":{"branches":[`)
	for i := 0; i < depth; i++ {
		b.WriteString(`{"name":"b","product":{"product_id":"P`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(`","name":"n"},"branches":[`)
	}
	b.WriteString(strings.Repeat("]}", depth))
	b.WriteString(`]}}`)
	s, err := Inspect([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Products) != 7 {
		t.Errorf("%d products, want the 7 distinct ids", len(s.Products))
	}
}

func TestCSAFReleaseID(t *testing.T) {
	if got := ReleaseID("acme-plc", "2.1.0"); got != "tocsin:release:acme-plc@2.1.0" {
		t.Errorf("ReleaseID = %q", got)
	}
	for _, c := range []struct {
		in       string
		product  string
		version  string
		wellForm bool
	}{
		{"tocsin:release:acme-plc@2.1.0", "acme-plc", "2.1.0", true},
		{"tocsin:release:a@1.0+build~rc1", "a", "1.0+build~rc1", true},
		{"acme-plc@2.1.0", "", "", false},
		{"tocsin:release:acme-plc", "", "", false},
		{"tocsin:release:@1.0", "", "", false},
		{"tocsin:release:acme plc@1.0", "", "", false},
		{"tocsin:release:acme@", "", "", false},
		{"tocsin:release:acme@1.0@2", "", "", false},
	} {
		p, v, ok := ParseReleaseID(c.in)
		if ok != c.wellForm || p != c.product || v != c.version {
			t.Errorf("ParseReleaseID(%q) = %q, %q, %v", c.in, p, v, ok)
		}
	}
}
