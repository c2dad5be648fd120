package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// synthetic fills a Result by hand: n honest devices, the advisory reaching
// them between 0.05 s and advMax, the patch between 1.2 s and patchMax
// (no patch when patchMax is 0), bounds as for the default scenario.
func synthetic(engine string, n int, advMax, patchMax float64) *scenario.Result {
	s := scenario.Default()
	s.Name = "flat-1000"
	s.Description = "The default flat fleet: 1,000 devices, 20 Mbit/s, 4 MiB patch."
	s.Engine = engine
	r := &scenario.Result{Engine: engine, Nodes: n, HonestDevices: n, WallSeconds: 12.5, VirtualSeconds: 600, Scenario: s}
	times := func(lo, hi float64) []float64 {
		t := make([]float64, n)
		for i := range t {
			q := float64(i+1) / float64(n)
			t[i] = lo + (hi-lo)*math.Pow(q, 3)
		}
		return t
	}
	a := &r.Advisory
	a.DeliveredFraction, a.P50S, a.P99S, a.MaxS, a.CDF = scenario.Summarise(times(0.05, advMax), n)
	if patchMax == 0 {
		zero := scenario.Bytes(0)
		r.Scenario.Patch.Size = &zero
		r.Upload = scenario.Series{StepS: 0.1, Seed: []float64{1e5, 5e4, 0}, Peers: []float64{0, 2e5, 1e5}}
		return r
	}
	p := &scenario.PatchResult{BoundS: 1.677722, ChunkBoundS: 2.621441, SeedEgressRatio: 1.25, DuplicateRatio: 0.031}
	p.CompletedFraction, p.P50S, p.P99S, p.MaxS, p.CDF = scenario.Summarise(times(1.2, patchMax), n)
	p.RatioToBound = scenario.Round(p.MaxS / p.BoundS)
	r.Patch = p
	r.ClientServerS = 1677.7216
	r.Upload.StepS = 0.1
	for i := range int(patchMax*10) + 1 {
		t := float64(i) / 10
		r.Upload.Seed = append(r.Upload.Seed, 2.5e6)
		r.Upload.Peers = append(r.Upload.Peers, 2.5e6*float64(n)*0.7*math.Min(1, t/1.5))
	}
	const file = 4 << 20
	r.BytesBySource = map[string]int64{"seed": int64(1.25 * file), "peer": int64(n)*file - int64(1.25*file), "duplicate": int64(0.031 * float64(n) * file), "rejected": 0}
	return r
}

func readPage(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var imgSrc = regexp.MustCompile(`<img src="([^"]+)"`)

// checkImages asserts that every image the page references exists and is a
// valid, non-empty SVG or PNG, and returns their names.
func checkImages(t *testing.T, dir, html string) []string {
	t.Helper()
	var names []string
	for _, m := range imgSrc.FindAllStringSubmatch(html, -1) {
		name := m[1]
		names = append(names, name)
		if strings.ContainsAny(name, "/\\") {
			t.Errorf("image %q is not a plain file name in the report directory", name)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("referenced image: %v", err)
			continue
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
			continue
		}
		switch filepath.Ext(name) {
		case ".svg":
			if err := validSVG(data); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case ".png":
			if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		default:
			t.Errorf("%s: neither SVG nor PNG", name)
		}
	}
	return names
}

// validSVG parses the whole document and checks that its root is <svg>.
func validSVG(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		return errors.New("root element is " + root + ", want svg")
	}
	return nil
}

func TestWriteTwoEngines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "report") // Write creates it
	model := synthetic("model", 1000, 0.3, 2.4)
	stack := synthetic("stack", 1000, 0.33, 2.6)
	if err := Write(dir, model, stack); err != nil {
		t.Fatal(err)
	}
	html := readPage(t, dir)
	for _, want := range []string{
		"<h1>flat-1000</h1>", "The default flat fleet", ">model<", ">stack<",
		`id="calibration"`, "<td>advisory p99</td>", "<td>patch p50</td>", "<td>patch p99</td>",
		"Kumar–Ross bound", "<details>", "&#34;devices&#34;: 1000",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, "ZgotmplZ") {
		t.Error("template rejected a value (ZgotmplZ)")
	}
	// No external assets or scripts.
	for _, bad := range []string{"<script", "http://", "https://", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	names := checkImages(t, dir, html)
	for _, want := range plotFiles {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("page does not show %s (shows %v)", want, names)
		}
	}
	// The stack run is the reference; the model is 8–10% faster: within.
	if n := strings.Count(html, `<tr class="within">`); n != 3 {
		t.Errorf("%d calibration rows within 15%%, want 3", n)
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left %s behind", e.Name())
		}
	}
}

func TestAdvisoryOnly(t *testing.T) {
	dir := t.TempDir()
	// A full run first, so that stale patch plots are in the directory.
	if err := Write(dir, synthetic("model", 1000, 0.3, 2.4)); err != nil {
		t.Fatal(err)
	}
	adv := synthetic("stack", 5000, 0.4, 0)
	adv.Scenario.Name = "advisory-5000"
	if err := Write(dir, adv); err != nil {
		t.Fatal(err)
	}
	html := readPage(t, dir)
	for _, f := range []string{patchFile, bytesFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want no such file for an advisory-only run", f, err)
		}
		if strings.Contains(html, f) {
			t.Errorf("page references %s", f)
		}
	}
	for _, want := range []string{"advisory-5000", "No patch plots: this run is advisory only", "— (advisory only)", "all 5,000 honest devices"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(html, `id="calibration"`) {
		t.Error("calibration table with one result")
	}
	if names := checkImages(t, dir, html); len(names) != 2 { // advisory CDF and upload
		t.Errorf("images %v, want advisory CDF and upload", names)
	}
}

var outsideRow = regexp.MustCompile(`<tr class="outside"><td>patch p99</td><td>model</td><td>([^<]*)</td><td>([^<]*)</td><td>(?:\+|&#43;)30\.0%</td><td>outside 15%</td></tr>`)

func TestCalibrationOutside(t *testing.T) {
	stack := synthetic("stack", 1000, 0.3, 2.4)
	model := synthetic("model", 1000, 0.3, 2.4)
	model.Patch.P99S = stack.Patch.P99S * 1.3
	dir := t.TempDir()
	// The model comes first, but the stack run is the reference.
	if err := Write(dir, model, stack); err != nil {
		t.Fatal(err)
	}
	html := readPage(t, dir)
	if !outsideRow.MatchString(html) {
		i := strings.Index(html, `id="calibration"`)
		t.Fatalf("no patch p99 row marked outside 15%%:\n%s", html[i:min(len(html), i+1500)])
	}
	if !strings.Contains(html, `<tr class="within"><td>patch p50</td>`) || !strings.Contains(html, `<tr class="within"><td>advisory p99</td>`) {
		t.Error("equal figures not marked within 15%")
	}
	// Boundaries.
	for _, c := range []struct {
		ref, v float64
		ok     bool
		class  string
		within bool
	}{
		{2, 2.3, true, "within", true},
		{2, 1.7, true, "within", true},
		{2, 2.31, true, "outside", false},
		{0, 0, true, "within", true},
		{0, 1, true, "outside", false},
		{1, 1, false, "na", false},
	} {
		row := compare("patch p99", "model", c.ref, c.v, c.ok)
		if row.Class != c.class || row.within != c.within {
			t.Errorf("compare(%v, %v, %v) = %s within=%v, want %s %v", c.ref, c.v, c.ok, row.Class, row.within, c.class, c.within)
		}
	}
}

func TestCalibrationAdvisoryOnlyAgainstPatch(t *testing.T) {
	c := calibrate([]run{
		{res: synthetic("stack", 100, 0.3, 2.4), Label: "stack"},
		{res: synthetic("model", 100, 0.3, 0), Label: "model"},
	})
	if len(c.Rows) != 3 || c.Rows[0].Class != "within" || c.Rows[1].Class != "na" || c.Rows[2].Class != "na" {
		t.Errorf("rows %+v", c.Rows)
	}
}

func TestReading(t *testing.T) {
	r := synthetic("model", 1000, 0.31, 2.4)
	got := reading(r)
	want := "The advisory reached all 1,000 honest devices within 0.31 s; the last device had the patch after 2.4 s, 1.4 times the physical minimum of 1.7 s; one server alone would have needed 1,678 s."
	if got != want {
		t.Errorf("reading:\n got %s\nwant %s", got, want)
	}
	r.Patch.CompletedFraction = 0.97
	if got := reading(r); !strings.Contains(got, "; 97.0% had the patch by the end of the run, the last of them after 2.4 s") {
		t.Errorf("partial: %s", got)
	}
	if got := attackReading(scenario.Attacks{ForgedSent: 20, BadBlocksServed: 1234, BadBlocksStored: 2}); got != "None of the 20 forged advisories was accepted; 2 of the 1,234 bad blocks served were stored." {
		t.Errorf("attacks: %s", got)
	}
	if got := attackReading(scenario.Attacks{}); got != "" {
		t.Errorf("no attacks: %q", got)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		x    float64
		n    int
		want string
	}{
		{2.4163, 2, "2.4"}, {1677.72, 2, "1,678"}, {0.31, 2, "0.31"}, {0.0421, 2, "0.042"},
		{12.34, 3, "12.3"}, {1234567, 3, "1,234,567"}, {0, 3, "0"}, {-1500, 2, "-1,500"},
	} {
		if got := sig(c.x, c.n); got != c.want {
			t.Errorf("sig(%v, %d) = %s, want %s", c.x, c.n, got, c.want)
		}
	}
	for f, want := range map[float64]string{1: "100%", 0.99999: "99.9%", 0.5: "50.0%", 0: "0%", 0.0001: "<0.1%"} {
		if got := pct(f); got != want {
			t.Errorf("pct(%v) = %s, want %s", f, got, want)
		}
	}
	if got := size(4 << 20); got != "4.00 MiB" {
		t.Errorf("size: %s", got)
	}
	if got := size(4000 << 30); got != "4,000 GiB" {
		t.Errorf("size: %s", got)
	}
}

func TestWriteRejects(t *testing.T) {
	if err := Write(t.TempDir()); err == nil {
		t.Error("no results accepted")
	}
	if err := Write(t.TempDir(), synthetic("model", 10, 0.3, 2.4), nil); err == nil {
		t.Error("nil result accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(file, "sub"), synthetic("model", 10, 0.3, 2.4)); err == nil {
		t.Error("unwritable directory accepted")
	}
}

// TestWriteExample renders the two-engine example into
// $TOCSIN_REPORT_EXAMPLE when it is set, for looking at the page.
func TestWriteExample(t *testing.T) {
	dir := os.Getenv("TOCSIN_REPORT_EXAMPLE")
	if dir == "" {
		t.Skip("set TOCSIN_REPORT_EXAMPLE to a directory to render the example")
	}
	model := synthetic("model", 1000, 0.3, 2.4)
	stack := synthetic("stack", 1000, 0.33, 2.6)
	stack.Attacks = scenario.Attacks{ForgedSent: 20}
	if err := Write(dir, model, stack); err != nil {
		t.Fatal(err)
	}
}
