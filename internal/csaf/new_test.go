package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"

	"github.com/tocsin-iiot/tocsin/internal/cvss"
)

var testTime = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.FixedZone("CET", 3600))

func baseParams() Params {
	return Params{
		ID:                 "ACME-SA-2025-001",
		Title:              "Remote code execution in ACME PLC firmware",
		Product:            "acme-plc",
		FixedVersion:       "2.1.0",
		CVSS:               "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		CVEs:               []string{"CVE-2025-1002", "cve-2025-1001", "CVE-2025-1002"},
		PublisherName:      "ACME Industrial",
		PublisherNamespace: "https://acme.example",
		Time:               testTime,
	}
}

func newParamCases() map[string]Params {
	cases := map[string]Params{"cvss 3.1, two CVEs": baseParams()}
	p := baseParams()
	p.CVSS, p.CVEs = "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N", nil
	cases["cvss 3.0, no CVE"] = p
	p = baseParams()
	p.CVSS = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
	cases["cvss 4.0"] = p
	p = baseParams()
	p.Product, p.ReleaseID, p.PublisherName, p.PublisherNamespace = "ACME PLC-1000 (S7 line)", "acme-plc1000@2.1.0", "", ""
	cases["display product name, explicit release id, default publisher"] = p
	p = baseParams()
	p.CVSS = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N/E:U" // score 0.0
	cases["score zero with temporal metric"] = p
	return cases
}

func decodeMap(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("New wrote invalid JSON: %v", err)
	}
	return doc
}

func TestCSAFNewSchemaAndMandatoryTests(t *testing.T) {
	// The schema validator is not vacuous: a planted defect is reported.
	valid, err := New(baseParams())
	if err != nil {
		t.Fatal(err)
	}
	broken := decodeMap(t, valid)
	firstCVSS(broken)["baseSeverity"] = "SEVERE"
	if errs, err := gocsaf.ValidateCSAF(broken); err != nil || len(errs) == 0 {
		t.Fatalf("schema validation accepts baseSeverity SEVERE (errs %v, err %v)", errs, err)
	}
	for name, p := range newParamCases() {
		data, err := New(p)
		if err != nil {
			t.Errorf("%s: New: %v", name, err)
			continue
		}
		doc := decodeMap(t, data)
		errs, err := gocsaf.ValidateCSAF(doc)
		if err != nil {
			t.Fatalf("%s: schema validation did not run: %v", name, err)
		}
		for _, e := range errs {
			t.Errorf("%s: CSAF 2.0 schema: %s", name, e)
		}
		for _, e := range mandatoryTests(doc) {
			t.Errorf("%s: mandatory test %s", name, e)
		}
		// The gocsaf model's own checks of required fields.
		var adv gocsaf.Advisory
		if err := json.Unmarshal(data, &adv); err != nil {
			t.Errorf("%s: gocsaf decode: %v", name, err)
		} else if err := adv.Validate(); err != nil {
			t.Errorf("%s: gocsaf Validate: %v", name, err)
		}
	}
}

func TestCSAFNewRoundTrip(t *testing.T) {
	for name, p := range newParamCases() {
		data, err := New(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := Inspect(data)
		if err != nil {
			t.Fatalf("%s: Inspect(New()): %v", name, err)
		}
		want, err := cvss.Score(p.CVSS)
		if err != nil {
			t.Fatal(err)
		}
		var wantCVEs []string
		for _, c := range p.CVEs {
			c = strings.ToUpper(c)
			if !slices.Contains(wantCVEs, c) {
				wantCVEs = append(wantCVEs, c)
			}
		}
		slices.Sort(wantCVEs)
		if s.ID != p.ID || s.Title != p.Title || s.Category != "csaf_security_advisory" || s.CSAFVersion != "2.0" ||
			s.Status != "final" || s.Version != "1" {
			t.Errorf("%s: summary %+v", name, s)
		}
		if !slices.Equal(s.CVEs, wantCVEs) && !(len(s.CVEs) == 0 && len(wantCVEs) == 0) {
			t.Errorf("%s: CVEs %v, want %v", name, s.CVEs, wantCVEs)
		}
		if s.InitialReleaseDate != "2025-03-14T08:26:53Z" || s.CurrentReleaseDate != s.InitialReleaseDate {
			t.Errorf("%s: release dates %q %q, want the UTC time in seconds", name, s.InitialReleaseDate, s.CurrentReleaseDate)
		}
		nVulns := max(1, len(wantCVEs))
		if s.Vulnerabilities != nVulns || len(s.Scores) != nVulns {
			t.Fatalf("%s: %d vulnerabilities and %d scores, want %d", name, s.Vulnerabilities, len(s.Scores), nVulns)
		}
		for _, e := range s.Scores {
			if e.Vector != p.CVSS || e.BaseScore == nil || *e.BaseScore != want.BaseScore || e.Severity != want.Severity || e.Mismatch() {
				t.Errorf("%s: score %+v, want %s = %.1f %s", name, e, p.CVSS, want.BaseScore, want.Severity)
			}
			if want.Version == "4.0" {
				if e.Source != SourceNote || e.FileBaseScore != nil {
					t.Errorf("%s: CVSS 4.0 score %+v, want it read from the note", name, e)
				}
			} else if e.Source != SourceCVSSv3 || e.Version != want.Version || e.FileBaseScore == nil || *e.FileBaseScore != want.BaseScore {
				t.Errorf("%s: cvss_v3 score %+v", name, e)
			}
		}
		if s.MaxBaseScore != want.BaseScore {
			t.Errorf("%s: max base score %.1f, want %.1f", name, s.MaxBaseScore, want.BaseScore)
		}
		wantRelease := "tocsin:release:" + p.Product + "@" + p.FixedVersion
		if p.ReleaseID != "" {
			wantRelease = "tocsin:release:" + p.ReleaseID
		}
		if !slices.Equal(s.FixedReleases, []string{wantRelease}) {
			t.Errorf("%s: fixed releases %v, want [%s]", name, s.FixedReleases, wantRelease)
		}
		if len(s.Products) != 2 || !strings.Contains(s.Products[0].Name, p.Product) || !strings.Contains(s.Products[0].Name, "<"+p.FixedVersion) ||
			!strings.HasSuffix(s.Products[1].Name, " "+p.FixedVersion) {
			t.Errorf("%s: products %+v", name, s.Products)
		}
		wantPublisher := p.PublisherName
		if wantPublisher == "" {
			wantPublisher = DefaultPublisherName
		}
		if s.Publisher != wantPublisher || s.PublisherCategory != "vendor" {
			t.Errorf("%s: publisher %q (%s), want %q", name, s.Publisher, s.PublisherCategory, wantPublisher)
		}
		for _, r := range s.Remediations {
			if r.Category != "vendor_fix" || r.URL != wantRelease || !strings.Contains(r.Details, p.FixedVersion) ||
				!slices.Equal(r.ProductIDs, []string{s.Products[0].ID}) {
				t.Errorf("%s: remediation %+v", name, r)
			}
		}
	}
}

func TestCSAFNewDeterministic(t *testing.T) {
	a, err := New(baseParams())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(baseParams())
	if string(a) != string(b) {
		t.Error("New is not deterministic for equal Params")
	}
	p := baseParams()
	p.Time = p.Time.Add(24 * time.Hour)
	c, _ := New(p)
	if string(a) == string(c) || !strings.Contains(string(c), "2025-03-15T08:26:53Z") {
		t.Error("New does not use Params.Time")
	}
}

func TestCSAFNewInvalidParams(t *testing.T) {
	mod := func(f func(*Params)) Params { p := baseParams(); f(&p); return p }
	for name, c := range map[string]struct {
		p    Params
		want string
	}{
		"no id":            {mod(func(p *Params) { p.ID = "" }), "id"},
		"id with space":    {mod(func(p *Params) { p.ID = "ACME SA 1" }), "id"},
		"no title":         {mod(func(p *Params) { p.Title = "  " }), "title"},
		"title newline":    {mod(func(p *Params) { p.Title = "a\nb" }), "title"},
		"no product":       {mod(func(p *Params) { p.Product = "" }), "product"},
		"product spaces":   {mod(func(p *Params) { p.Product = "ACME PLC" }), "release id"},
		"no version":       {mod(func(p *Params) { p.FixedVersion = "" }), "fixed version"},
		"version space":    {mod(func(p *Params) { p.FixedVersion = "2.1 SP1" }), "fixed version"},
		"bad cvss":         {mod(func(p *Params) { p.CVSS = "CVSS:3.1/AV:N" }), "CVSS"},
		"no cvss":          {mod(func(p *Params) { p.CVSS = "" }), "CVSS"},
		"cvss v2":          {mod(func(p *Params) { p.CVSS = "AV:N/AC:L/Au:N/C:P/I:P/A:P" }), "CVSS"},
		"bad cve":          {mod(func(p *Params) { p.CVEs = []string{"CVE-25-1"} }), "CVE"},
		"no time":          {mod(func(p *Params) { p.Time = time.Time{} }), "time"},
		"relative ns":      {mod(func(p *Params) { p.PublisherNamespace = "acme.example" }), "namespace"},
		"bad release id":   {mod(func(p *Params) { p.ReleaseID = "acme plc@1" }), "release id"},
		"release no ver":   {mod(func(p *Params) { p.ReleaseID = "tocsin:release:acme" }), "release id"},
		"publisher 2 line": {mod(func(p *Params) { p.PublisherName = "A\nB" }), "publisher"},
	} {
		data, err := New(c.p)
		if err == nil {
			t.Errorf("%s: no error, wrote %d bytes", name, len(data))
			continue
		}
		if !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), c.want) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("%s: error %q, want one line wrapping ErrInvalidParams and mentioning %q", name, err, c.want)
		}
		if name == "bad cvss" && !errors.Is(err, cvss.ErrInvalidVector) {
			t.Errorf("%s: %v does not wrap cvss.ErrInvalidVector", name, err)
		}
	}
}

// TestCSAFMandatoryTestsCatchDefects checks that the mandatory-test helper
// below is not vacuous: each defect planted in a valid document is found.
func TestCSAFMandatoryTestsCatchDefects(t *testing.T) {
	data, err := New(baseParams())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		plant func(doc map[string]any)
		want  string
	}{
		"6.1.1 undefined product": {func(doc map[string]any) {
			v := asList(doc["vulnerabilities"])[0].(map[string]any)
			v["remediations"].([]any)[0].(map[string]any)["product_ids"] = []any{"CSAFPID-9999"}
		}, "6.1.1"},
		"6.1.2 defined twice": {func(doc map[string]any) {
			pt := doc["product_tree"].(map[string]any)
			pt["full_product_names"] = []any{map[string]any{"name": "again", "product_id": "CSAFPID-0001"}}
		}, "6.1.2"},
		"6.1.6 contradicting status": {func(doc map[string]any) {
			ps := asList(doc["vulnerabilities"])[0].(map[string]any)["product_status"].(map[string]any)
			ps["fixed"] = append(ps["fixed"].([]any), "CSAFPID-0001")
		}, "6.1.6"},
		"6.1.8 invalid CVSS": {func(doc map[string]any) {
			c := firstCVSS(doc)
			c["baseSeverity"] = "SEVERE"
		}, "6.1.8"},
		"6.1.9 wrong base score": {func(doc map[string]any) {
			firstCVSS(doc)["baseScore"] = 7.5
		}, "6.1.9"},
		"6.1.16 version not latest": {func(doc map[string]any) {
			doc["document"].(map[string]any)["tracking"].(map[string]any)["version"] = "2"
		}, "6.1.16"},
		"6.1.27.5 no vulnerability notes": {func(doc map[string]any) {
			delete(asList(doc["vulnerabilities"])[0].(map[string]any), "notes")
		}, "6.1.27.5"},
		"6.1.37 date without zone": {func(doc map[string]any) {
			doc["document"].(map[string]any)["tracking"].(map[string]any)["current_release_date"] = "2025-03-14 08:26:53"
		}, "6.1.37"},
		"6.1.37 impossible date": {func(doc map[string]any) {
			doc["document"].(map[string]any)["tracking"].(map[string]any)["initial_release_date"] = "2025-02-30T08:26:53Z"
		}, "6.1.37"},
	} {
		doc := decodeMap(t, data)
		if errs := mandatoryTests(doc); len(errs) != 0 {
			t.Fatalf("valid document fails: %v", errs)
		}
		c.plant(doc)
		errs := mandatoryTests(doc)
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.HasPrefix(e, c.want+" ") }) {
			t.Errorf("%s: not found; mandatory tests report %q", name, errs)
		}
	}
}

// TestCSAFMandatoryTestsOnOASISExamples runs the same checks on the OASIS
// examples, which the standard publishes as valid: no false positives.
func TestCSAFMandatoryTestsOnOASISExamples(t *testing.T) {
	files := sharedAdvisories(t)
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		errs := mandatoryTests(decodeMap(t, data))
		if filepath.Base(filepath.Dir(f)) == "oasis" {
			checked++
			for _, e := range errs {
				t.Errorf("%s: %s", filepath.Base(f), e)
			}
		} else if len(errs) > 0 {
			t.Logf("%s (CISA republication, informational): %d findings, first: %s", filepath.Base(f), len(errs), errs[0])
		}
	}
	if checked != 6 {
		t.Errorf("checked %d OASIS examples, want 6", checked)
	}
}

func firstCVSS(doc map[string]any) map[string]any {
	v := asList(doc["vulnerabilities"])[0].(map[string]any)
	return asList(v["scores"])[0].(map[string]any)["cvss_v3"].(map[string]any)
}

// mandatoryTests implements a few of the CSAF 2.0 mandatory tests (section
// 6.1) on a generic JSON tree. Each finding starts with the test number.
func mandatoryTests(doc map[string]any) []string {
	var out []string
	report := func(test, format string, a ...any) {
		out = append(out, test+" "+fmt.Sprintf(format, a...))
	}
	d, _ := doc["document"].(map[string]any)
	tracking, _ := d["tracking"].(map[string]any)
	vulns := asList(doc["vulnerabilities"])

	// 6.1.1 Missing Definition of Product ID, 6.1.2 Multiple Definition.
	defined := map[string]int{}
	pt, _ := doc["product_tree"].(map[string]any)
	def := func(v any) {
		if m, ok := v.(map[string]any); ok {
			if id, ok := m["product_id"].(string); ok {
				defined[id]++
			}
		}
	}
	var walk func([]any)
	walk = func(bs []any) {
		for _, b := range bs {
			bm, _ := b.(map[string]any)
			def(bm["product"])
			walk(asList(bm["branches"]))
		}
	}
	walk(asList(pt["branches"]))
	for _, f := range asList(pt["full_product_names"]) {
		def(f)
	}
	for _, r := range asList(pt["relationships"]) {
		def(r.(map[string]any)["full_product_name"])
	}
	for id, n := range defined {
		if n > 1 {
			report("6.1.2", "product id %s defined %d times", id, n)
		}
	}
	ref := func(where string, ids any) {
		for _, id := range asList(ids) {
			if s, _ := id.(string); defined[s] == 0 {
				report("6.1.1", "%s references undefined product id %v", where, id)
			}
		}
	}
	for _, g := range asList(pt["product_groups"]) {
		ref("product_groups", g.(map[string]any)["product_ids"])
	}
	for _, r := range asList(pt["relationships"]) {
		rm := r.(map[string]any)
		ref("relationships", []any{rm["product_reference"], rm["relates_to_product_reference"]})
	}
	affectedGroup := []string{"first_affected", "known_affected", "last_affected"}
	fixedGroup := []string{"first_fixed", "fixed"}
	for i, v := range vulns {
		vm, _ := v.(map[string]any)
		ps, _ := vm["product_status"].(map[string]any)
		group := map[string]string{}
		for key, ids := range ps {
			ref(fmt.Sprintf("vulnerabilities[%d].product_status.%s", i, key), ids)
			kind := key
			switch {
			case slices.Contains(affectedGroup, key):
				kind = "affected"
			case slices.Contains(fixedGroup, key):
				kind = "fixed"
			}
			for _, id := range asList(ids) {
				s, _ := id.(string)
				// 6.1.6 Contradicting Product Status.
				if g, ok := group[s]; ok && g != kind {
					report("6.1.6", "vulnerabilities[%d]: %s is both %s and %s", i, s, g, kind)
				}
				group[s] = kind
			}
		}
		for _, s := range asList(vm["scores"]) {
			sm, _ := s.(map[string]any)
			ref(fmt.Sprintf("vulnerabilities[%d].scores", i), sm["products"])
			if c, ok := sm["cvss_v3"].(map[string]any); ok {
				out = append(out, checkCVSS3(i, c)...)
			}
		}
		for _, key := range []string{"remediations", "threats", "flags"} {
			for _, r := range asList(vm[key]) {
				ref(fmt.Sprintf("vulnerabilities[%d].%s", i, key), r.(map[string]any)["product_ids"])
			}
		}
		// 6.1.27.5 Vulnerability Notes, 6.1.27.6 Product Status
		// (csaf_security_advisory profile).
		if d["category"] == "csaf_security_advisory" {
			if len(asList(vm["notes"])) == 0 {
				report("6.1.27.5", "vulnerabilities[%d] has no notes", i)
			}
			if len(ps) == 0 {
				report("6.1.27.6", "vulnerabilities[%d] has no product_status", i)
			}
		}
	}
	// 6.1.27.4 Product Tree, 6.1.27.11 Vulnerabilities.
	if d["category"] == "csaf_security_advisory" {
		if pt == nil {
			report("6.1.27.4", "no product_tree")
		}
		if len(vulns) == 0 {
			report("6.1.27.11", "no vulnerabilities")
		}
	}

	// 6.1.16 Latest Document Version: with status final, the version is the
	// highest revision number (integer versioning).
	highest := -1
	for _, r := range asList(tracking["revision_history"]) {
		n, err := strconv.Atoi(fmt.Sprint(r.(map[string]any)["number"]))
		if err == nil && n > highest {
			highest = n
		}
	}
	if v, err := strconv.Atoi(fmt.Sprint(tracking["version"])); err == nil && tracking["status"] == "final" && highest >= 0 && v != highest {
		report("6.1.16", "tracking.version %d, latest revision %d", v, highest)
	}

	// 6.1.37 Date and Time: every date is an RFC 3339 date-time with a
	// time zone.
	dates := map[string]any{
		"tracking.initial_release_date": tracking["initial_release_date"],
		"tracking.current_release_date": tracking["current_release_date"],
	}
	if g, ok := tracking["generator"].(map[string]any); ok {
		if x, ok := g["date"]; ok {
			dates["tracking.generator.date"] = x
		}
	}
	for i, r := range asList(tracking["revision_history"]) {
		dates[fmt.Sprintf("tracking.revision_history[%d].date", i)] = r.(map[string]any)["date"]
	}
	for i, v := range vulns {
		vm, _ := v.(map[string]any)
		for _, key := range []string{"discovery_date", "release_date"} {
			if x, ok := vm[key]; ok {
				dates[fmt.Sprintf("vulnerabilities[%d].%s", i, key)] = x
			}
		}
		for _, key := range []string{"remediations", "threats", "involvements", "flags"} {
			for j, r := range asList(vm[key]) {
				if x, ok := r.(map[string]any)["date"]; ok {
					dates[fmt.Sprintf("vulnerabilities[%d].%s[%d].date", i, key, j)] = x
				}
			}
		}
	}
	for where, x := range dates {
		s, _ := x.(string)
		if !reDateTime.MatchString(s) {
			report("6.1.37", "%s = %v is not an RFC 3339 date-time with time zone", where, x)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			report("6.1.37", "%s = %q: %v", where, s, err)
		}
	}
	slices.Sort(out)
	return out
}

var reDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// checkCVSS3 implements 6.1.8 Invalid CVSS (the parts of the CVSS v3 JSON
// schema that matter here) and 6.1.9 Invalid CVSS Computation (the base score
// and severity match the vector).
func checkCVSS3(i int, c map[string]any) []string {
	var out []string
	version, _ := c["version"].(string)
	vector, _ := c["vectorString"].(string)
	base, hasBase := c["baseScore"].(float64)
	severity, _ := c["baseSeverity"].(string)
	if (version != "3.0" && version != "3.1") || !strings.HasPrefix(vector, "CVSS:"+version+"/") ||
		!hasBase || base < 0 || base > 10 ||
		!slices.Contains([]string{"NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"}, severity) {
		out = append(out, fmt.Sprintf("6.1.8 vulnerabilities[%d] cvss_v3 %v is not valid CVSS v3", i, c))
	}
	r, err := cvss.Score(vector)
	switch {
	case err != nil:
		out = append(out, fmt.Sprintf("6.1.9 vulnerabilities[%d] vector %q: %v", i, vector, err))
	case math.Abs(r.BaseScore-base) > 1e-9 || r.Severity != severity:
		out = append(out, fmt.Sprintf("6.1.9 vulnerabilities[%d] %s computes %.1f %s, document says %v %s", i, vector, r.BaseScore, r.Severity, base, severity))
	}
	return out
}

func TestAdvisoryViewRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	deadline := at.AddDate(0, 0, 30)
	b, err := New(Params{ID: "ACME-SA-7", Title: "Overflow", Product: "plc-fw", FixedVersion: "2.1.0",
		CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", CVEs: []string{"CVE-2026-0001"},
		Time: at, Initial: at.AddDate(0, 0, -3), Revision: 3, Deadline: deadline})
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeMap(t, b)
	errs, err := gocsaf.ValidateCSAF(doc)
	if err != nil || len(errs) > 0 {
		t.Fatalf("revision 3 with a deadline note fails the schema: %v %v", errs, err)
	}
	for _, e := range mandatoryTests(doc) {
		t.Errorf("mandatory test %s", e)
	}
	a, err := Advisory(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "ACME-SA-7" || a.ReleaseID != "plc-fw@2.1.0" || a.BaseScore != 9.8 || a.Severity != "CRITICAL" ||
		!a.Deadline.Equal(deadline) || a.Revision != "3" || a.Seq != uint64(at.UnixMilli()) || len(a.CVEs) != 1 {
		t.Fatalf("advisory view %+v", a)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	// A CSAF document that names no Tocsin release cannot drive a fleet.
	if _, err := Advisory(bytes.ReplaceAll(b, []byte("tocsin:release:"), []byte("see:"))); !errors.Is(err, ErrNotTocsin) {
		t.Fatalf("no release: %v", err)
	}
}
