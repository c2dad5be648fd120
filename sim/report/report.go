package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// tolerance is the relative difference within which two results' figures
// agree in the calibration table.
const tolerance = 0.15

const indexFile = "index.html"

// Write renders results into dir: index.html plus one image per plot,
// readable without the JSON. With one result it describes that run; with
// several (e.g. the same scenario in the model and the stack engine) it
// overlays them and adds a calibration table comparing advisory p99 and
// patch p50/p99 (relative difference, and whether within 15%).
//
// dir is created if missing. Every file is written to a temporary name and
// renamed into place, images before the page; plot files this run does not
// produce (patch plots for an advisory-only run) are removed from dir.
func Write(dir string, results ...*scenario.Result) error {
	if len(results) == 0 {
		return errors.New("report: no results")
	}
	for i, r := range results {
		if r == nil {
			return fmt.Errorf("report: result %d is nil", i)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	pg, err := newPage(results)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	type maker struct {
		file string
		make func(*page) (*plot.Plot, error)
	}
	var makers []maker
	makers = append(makers, maker{advisoryFile, advisoryPlot})
	if pg.anyPatch() {
		makers = append(makers, maker{patchFile, patchPlot})
	}
	if pg.anyUpload() {
		makers = append(makers, maker{uploadFile, uploadPlot})
	}
	if pg.anyPatch() {
		makers = append(makers, maker{bytesFile, bytesPlot})
	}
	written := map[string]bool{}
	for _, m := range makers {
		p, err := m.make(pg)
		if err != nil {
			return fmt.Errorf("report: plot %s: %w", m.file, err)
		}
		data, err := renderSVG(p)
		if err != nil {
			return fmt.Errorf("report: plot %s: %w", m.file, err)
		}
		if err := writeFile(dir, m.file, data); err != nil {
			return err
		}
		written[m.file] = true
	}
	for _, f := range plotFiles {
		if written[f] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("report: removing stale plot: %w", err)
		}
	}
	pg.Figures = pg.figures(written)
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pg); err != nil {
		return fmt.Errorf("report: page: %w", err)
	}
	return writeFile(dir, indexFile, buf.Bytes())
}

// writeFile writes data to dir/name through a temporary file and a rename,
// so that a reader never sees half a file.
func writeFile(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("report: writing %s: %w", name, err)
	}
	if err = f.Chmod(0o644); err != nil {
		_ = f.Close()
		return fmt.Errorf("report: writing %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("report: writing %s: %w", name, err)
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// page is what the template renders.
type page struct {
	Title        string
	Descriptions []string
	Runs         []run
	Summary      []summaryRow
	Figures      []figure
	Notes        []string
	Calibration  *calibration
}

// run is one result as the page shows it.
type run struct {
	res      *scenario.Result
	colour   color.RGBA
	Label    string
	Colour   string
	Reading  string
	Attacks  string
	Scenario string // pretty JSON
}

type summaryRow struct {
	Name  string
	Key   string // the JSON field, for readers who have it
	Cells []string
}

type figure struct {
	File, Alt, Caption string
}

type calibration struct {
	Reference string
	Why       string
	Rows      []calRow
}

type calRow struct {
	Metric  string
	Other   string
	Ref     string
	Value   string
	Diff    string
	Verdict string
	Class   string // within, outside or na
	within  bool
}

func newPage(results []*scenario.Result) (*page, error) {
	pg := &page{}
	var names []string
	for _, r := range results {
		if !slices.Contains(names, r.Scenario.Name) {
			names = append(names, r.Scenario.Name)
		}
		if d := r.Scenario.Description; d != "" && !slices.Contains(pg.Descriptions, d) {
			pg.Descriptions = append(pg.Descriptions, d)
		}
	}
	pg.Title = strings.Join(names, " vs ")
	if pg.Title == "" {
		pg.Title = "unnamed scenario"
	}
	labels := labelsOf(results, len(names) > 1)
	for i, r := range results {
		js, err := json.MarshalIndent(r.Scenario, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("scenario of %s: %w", labels[i], err)
		}
		c := colourOf(i)
		pg.Runs = append(pg.Runs, run{
			res: r, colour: c, Label: labels[i], Colour: hexColour(c),
			Reading: reading(r), Attacks: attackReading(r.Attacks), Scenario: string(js),
		})
	}
	pg.Summary = summary(pg.Runs)
	if len(pg.Runs) > 1 {
		pg.Calibration = calibrate(pg.Runs)
	}
	return pg, nil
}

// labelsOf names each result by its engine, with the scenario name when
// the results are of different scenarios, and a number when two would
// otherwise share a name.
func labelsOf(results []*scenario.Result, withScenario bool) []string {
	labels := make([]string, len(results))
	for i, r := range results {
		l := r.Engine
		if l == "" {
			l = "result"
		}
		if withScenario {
			l = r.Scenario.Name + " (" + l + ")"
		}
		labels[i] = l
	}
	for i, l := range labels {
		dup := false
		for j, m := range labels {
			if j != i && m == l {
				dup = true
			}
		}
		if dup {
			labels[i] = fmt.Sprintf("%s #%d", l, i+1)
		}
	}
	return labels
}

func (pg *page) anyPatch() bool {
	return slices.ContainsFunc(pg.Runs, func(r run) bool { return r.res.Patch != nil })
}

func (pg *page) anyUpload() bool {
	return slices.ContainsFunc(pg.Runs, func(r run) bool { return hasUpload(r.res) })
}

// figures lists the plots written, with captions, and notes the ones left
// out.
func (pg *page) figures(written map[string]bool) []figure {
	var advOnly []string
	for _, r := range pg.Runs {
		if r.res.Patch == nil {
			advOnly = append(advOnly, r.Label)
		}
	}
	if len(advOnly) == len(pg.Runs) {
		if len(pg.Runs) == 1 {
			pg.Notes = append(pg.Notes, "No patch plots: this run is advisory only (patch size 0), so there is no patch completion, bound or bytes by source to show.")
		} else {
			pg.Notes = append(pg.Notes, "No patch plots: every run is advisory only (patch size 0).")
		}
	} else if len(advOnly) > 0 {
		pg.Notes = append(pg.Notes, "The patch plots leave out "+strings.Join(advOnly, ", ")+": advisory only (patch size 0).")
	}
	if !written[uploadFile] {
		pg.Notes = append(pg.Notes, "No upload plot: no run recorded an upload series.")
	}
	honest := "honest devices"
	if n := pg.Runs[0].res.HonestDevices; !slices.ContainsFunc(pg.Runs, func(r run) bool { return r.res.HonestDevices != n }) {
		honest = "the " + count(n) + " honest devices"
	}
	var figs []figure
	if written[advisoryFile] {
		figs = append(figs, figure{advisoryFile, "Advisory delivery CDF",
			"Advisory delivery: the share of " + honest + " that had verified the first advisory, by seconds after it was published. A curve that stops below 1 means some devices never got it before the run ended."})
	}
	if written[patchFile] {
		figs = append(figs, figure{patchFile, "Patch completion CDF with bounds",
			"Patch completion: the share of honest devices holding the whole verified patch, by seconds after the advisory. Dashed line T_KR: the Kumar–Ross bound, the least time any schedule could need with these upload capacities (the physical minimum). Dotted line T_chunk: the bound for the scenario's chunk size, since a device can pass on only whole chunks."})
	}
	if written[uploadFile] {
		figs = append(figs, figure{uploadFile, "Seed and peer upload over time",
			"Upload over time in Mbit/s: the seed's (dashed) and all devices' together (solid). The more the devices carry, the less the rollout depends on the seed's link."})
	}
	if written[bytesFile] {
		figs = append(figs, figure{bytesFile, "Patch bytes by source",
			"Patch bytes devices received, summed over the fleet: from the seed, from peers, duplicates (bytes a device already had) and rejected (failed verification and were thrown away)."})
	}
	return figs
}

// summary builds the table: one row per figure, one column per run.
func summary(runs []run) []summaryRow {
	var rows []summaryRow
	add := func(name, key string, f func(*scenario.Result) string) {
		row := summaryRow{Name: name, Key: key}
		for _, r := range runs {
			row.Cells = append(row.Cells, f(r.res))
		}
		rows = append(rows, row)
	}
	patch := func(f func(*scenario.PatchResult) string) func(*scenario.Result) string {
		return func(r *scenario.Result) string {
			if r.Patch == nil {
				return "—"
			}
			return f(r.Patch)
		}
	}
	add("Engine", "engine", func(r *scenario.Result) string { return r.Engine })
	add("Devices", "nodes", func(r *scenario.Result) string { return count(r.Nodes) })
	add("Honest devices", "honest_devices", func(r *scenario.Result) string { return count(r.HonestDevices) })
	add("Wall time", "wall_seconds", func(r *scenario.Result) string {
		if r.WallSeconds == 0 {
			return "— (not recorded)"
		}
		return secs(r.WallSeconds, 3)
	})
	add("Simulated time", "virtual_seconds", func(r *scenario.Result) string { return secs(r.VirtualSeconds, 3) })
	add("Advisory delivered", "advisory.delivered_fraction", func(r *scenario.Result) string { return pct(r.Advisory.DeliveredFraction) })
	add("Advisory p50", "advisory.p50_s", func(r *scenario.Result) string { return secs(r.Advisory.P50S, 3) })
	add("Advisory p99", "advisory.p99_s", func(r *scenario.Result) string { return secs(r.Advisory.P99S, 3) })
	add("Advisory last", "advisory.max_s", func(r *scenario.Result) string { return secs(r.Advisory.MaxS, 3) })
	add("Patch completed", "patch.completed_fraction", func(r *scenario.Result) string {
		if r.Patch == nil {
			return "— (advisory only)"
		}
		return pct(r.Patch.CompletedFraction)
	})
	add("Patch p50", "patch.p50_s", patch(func(p *scenario.PatchResult) string { return secs(p.P50S, 3) }))
	add("Patch p99", "patch.p99_s", patch(func(p *scenario.PatchResult) string { return secs(p.P99S, 3) }))
	add("Patch last", "patch.max_s", patch(func(p *scenario.PatchResult) string { return secs(p.MaxS, 3) }))
	add("Kumar–Ross bound T_KR", "patch.bound_s", patch(func(p *scenario.PatchResult) string { return secs(p.BoundS, 3) }))
	add("Chunked bound T_chunk", "patch.chunk_bound_s", patch(func(p *scenario.PatchResult) string { return secs(p.ChunkBoundS, 3) }))
	add("Last device / T_KR", "patch.ratio_to_bound", patch(func(p *scenario.PatchResult) string { return "×" + sig(p.RatioToBound, 3) }))
	add("Seed egress / patch size", "patch.seed_egress_ratio", patch(func(p *scenario.PatchResult) string { return "×" + sig(p.SeedEgressRatio, 3) }))
	add("Duplicate bytes", "patch.duplicate_ratio", patch(func(p *scenario.PatchResult) string { return pctRound(p.DuplicateRatio) }))
	add("Fetching time: window full / starved / blocked", "patch.waits", patch(func(p *scenario.PatchResult) string {
		if p.Waits == nil { // bitswap, or no device fetched
			return "—"
		}
		return pctRound(p.Waits.Full) + " / " + pctRound(p.Waits.Starved) + " / " + pctRound(p.Waits.Blocked)
	}))
	add("One server alone", "client_server_s", func(r *scenario.Result) string {
		if r.ClientServerS == 0 {
			return "—"
		}
		return secs(r.ClientServerS, 3)
	})
	add("Patch bytes by source", "bytes_by_source", func(r *scenario.Result) string {
		if r.Patch == nil || len(r.BytesBySource) == 0 {
			return "—"
		}
		var parts []string
		for _, k := range sourceKeys(r.BytesBySource) {
			parts = append(parts, k+" "+size(r.BytesBySource[k]))
		}
		return strings.Join(parts, ", ")
	})
	add("Forged advisories accepted", "attacks.forged_accepted / forged_sent", func(r *scenario.Result) string {
		return fmt.Sprintf("%s of %s", count64(r.Attacks.ForgedAccepted), count64(r.Attacks.ForgedSent))
	})
	add("Bad blocks stored", "attacks.bad_blocks_stored / bad_blocks_served", func(r *scenario.Result) string {
		return fmt.Sprintf("%s of %s", count64(r.Attacks.BadBlocksStored), count64(r.Attacks.BadBlocksServed))
	})
	return rows
}

// sourceKeys orders a BytesBySource map: seed, peer, duplicate, rejected,
// then any others sorted.
func sourceKeys(m map[string]int64) []string {
	var keys, extra []string
	for _, k := range sourceOrder {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	for k := range m {
		if !slices.Contains(sourceOrder, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return append(keys, extra...)
}

// reading is the one-sentence plain-language reading of a result.
func reading(r *scenario.Result) string {
	var b strings.Builder
	a := r.Advisory
	n := count(r.HonestDevices)
	switch {
	case a.DeliveredFraction >= 1:
		fmt.Fprintf(&b, "The advisory reached all %s honest devices within %s s", n, sig(a.MaxS, 2))
	case a.DeliveredFraction > 0:
		fmt.Fprintf(&b, "The advisory reached %s of the %s honest devices (the last of them after %s s)", pct(a.DeliveredFraction), n, sig(a.MaxS, 2))
	default:
		fmt.Fprintf(&b, "The advisory reached none of the %s honest devices", n)
	}
	p := r.Patch
	if p == nil {
		b.WriteString("; the run carried no patch (advisory only).")
		return b.String()
	}
	switch {
	case p.CompletedFraction >= 1:
		fmt.Fprintf(&b, "; the last device had the patch after %s s", sig(p.MaxS, 2))
	case p.CompletedFraction > 0:
		fmt.Fprintf(&b, "; %s had the patch by the end of the run, the last of them after %s s", pct(p.CompletedFraction), sig(p.MaxS, 2))
	default:
		b.WriteString("; no device completed the patch")
	}
	if p.CompletedFraction > 0 && p.BoundS > 0 {
		fmt.Fprintf(&b, ", %s times the physical minimum of %s s", sig(p.MaxS/p.BoundS, 2), sig(p.BoundS, 2))
	}
	if r.ClientServerS > 0 {
		fmt.Fprintf(&b, "; one server alone would have needed %s s", sig(r.ClientServerS, 2))
	}
	b.WriteString(".")
	return b.String()
}

// attackReading says what the adversaries got through, or "" when they
// tried nothing.
func attackReading(a scenario.Attacks) string {
	var parts []string
	if a.ForgedSent > 0 {
		parts = append(parts, ofN(a.ForgedAccepted, a.ForgedSent, "forged advisories", "forged advisory", "was accepted", "were accepted"))
	}
	if a.BadBlocksServed > 0 {
		parts = append(parts, ofN(a.BadBlocksStored, a.BadBlocksServed, "bad blocks served", "bad block served", "was stored", "were stored"))
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, "; ") + "."
	return strings.ToUpper(s[:1]) + s[1:]
}

func ofN(got, of int64, plural, singular, one, many string) string {
	noun := plural
	if of == 1 {
		noun = singular
	}
	switch {
	case got == 0 && of == 1:
		return fmt.Sprintf("the one %s %s", noun, strings.Replace(one, "was", "was not", 1))
	case got == 0:
		return fmt.Sprintf("none of the %s %s %s", count64(of), noun, one)
	case got == 1:
		return fmt.Sprintf("1 of the %s %s %s", count64(of), noun, one)
	}
	return fmt.Sprintf("%s of the %s %s %s", count64(got), count64(of), noun, many)
}

// calibrate compares every run with the reference: the first stack-engine
// run (the real node code), or the first run when there is none.
func calibrate(runs []run) *calibration {
	ref := slices.IndexFunc(runs, func(r run) bool { return r.res.Engine == "stack" })
	why := "the stack engine runs the real node code, so the other runs are measured against it"
	if ref < 0 {
		ref, why = 0, "the first result given"
	}
	c := &calibration{Reference: runs[ref].Label, Why: why}
	rr := runs[ref].res
	for i, o := range runs {
		if i == ref {
			continue
		}
		or := o.res
		c.Rows = append(c.Rows, compare("advisory p99", o.Label, rr.Advisory.P99S, or.Advisory.P99S, true))
		var rp50, rp99, op50, op99 float64
		both := rr.Patch != nil && or.Patch != nil
		if both {
			rp50, rp99, op50, op99 = rr.Patch.P50S, rr.Patch.P99S, or.Patch.P50S, or.Patch.P99S
		}
		c.Rows = append(c.Rows, compare("patch p50", o.Label, rp50, op50, both))
		c.Rows = append(c.Rows, compare("patch p99", o.Label, rp99, op99, both))
	}
	return c
}

func compare(metric, other string, ref, v float64, ok bool) calRow {
	row := calRow{Metric: metric, Other: other}
	if !ok {
		row.Ref, row.Value, row.Diff, row.Verdict, row.Class = "—", "—", "—", "not comparable (advisory only)", "na"
		return row
	}
	row.Ref, row.Value = secs(ref, 3), secs(v, 3)
	var d float64
	switch {
	case ref == 0 && v == 0:
	case ref == 0:
		row.Diff, row.Verdict, row.Class = "—", fmt.Sprintf("outside %d%% (reference is 0)", int(tolerance*100)), "outside"
		return row
	default:
		d = (v - ref) / ref
	}
	row.Diff = fmt.Sprintf("%+.1f%%", d*100)
	row.within = math.Abs(d) <= tolerance+1e-9
	if row.within {
		row.Verdict, row.Class = fmt.Sprintf("within %d%%", int(tolerance*100)), "within"
	} else {
		row.Verdict, row.Class = fmt.Sprintf("outside %d%%", int(tolerance*100)), "outside"
	}
	return row
}

// sig formats x with n significant digits, as an integer with thousands
// separators once it has n or more digits before the point.
func sig(x float64, n int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	if x == 0 {
		return "0"
	}
	a := math.Abs(x)
	if a >= math.Pow(10, float64(n-1)) {
		return count64(int64(math.Round(x)))
	}
	dec := min(9, n-1-int(math.Floor(math.Log10(a))))
	return strconv.FormatFloat(x, 'f', dec, 64)
}

func secs(x float64, n int) string { return sig(x, n) + " s" }

// pct writes a share, never rounding up to 100%.
func pct(f float64) string {
	switch {
	case f >= 1:
		return "100%"
	case f <= 0:
		return "0%"
	}
	v := math.Floor(f*1000) / 10
	if v == 0 {
		return "<0.1%"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "%"
}

func pctRound(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

func count(n int) string { return count64(int64(n)) }

// count64 writes n with thousands separators.
func count64(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// size writes a byte count in MiB, or GiB for very large ones.
func size(b int64) string {
	if b == 0 {
		return "0"
	}
	unit, div := byteUnit(float64(b))
	return sig(float64(b)/div, 3) + " " + unit
}
