package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRolloutPlanAndValidate(t *testing.T) {
	def := DefaultRollout()
	if err := def.Validate(); err != nil {
		t.Fatalf("DefaultRollout invalid: %v", err)
	}
	if def.CanaryShare != 0.05 || !slices.Equal(def.Waves, []float64{0.05, 0.25, 1}) || def.Soak != 24*time.Hour ||
		def.FailureThreshold != 0.1 || def.MinFailures != 1 {
		t.Errorf("DefaultRollout() = %+v, not the documented defaults", def)
	}
	with := func(f func(r *Rollout)) Rollout { r := DefaultRollout(); f(&r); return r }
	tests := []struct {
		name string
		r    Rollout
		plan []float64 // nil when invalid
	}{
		{"default", def, []float64{0.05, 0.25, 1}},
		{"canary only", Rollout{CanaryShare: 0.1, Soak: time.Hour, FailureThreshold: 0.2}, []float64{0.1, 1}},
		{"single wave", Rollout{CanaryShare: 1}, []float64{1}},
		{"waves without canary share", with(func(r *Rollout) { r.CanaryShare = 0 }), []float64{0.05, 0.25, 1}},
		{"zero", Rollout{}, nil},
		{"canary disagrees", with(func(r *Rollout) { r.CanaryShare = 0.1 }), nil},
		{"not increasing", with(func(r *Rollout) { r.Waves = []float64{0.05, 0.05, 1} }), nil},
		{"decreasing", with(func(r *Rollout) { r.Waves = []float64{0.05, 0.5, 0.25, 1} }), nil},
		{"last below one", with(func(r *Rollout) { r.Waves = []float64{0.05, 0.5} }), nil},
		{"above one", with(func(r *Rollout) { r.Waves = []float64{0.05, 1.5} }), nil},
		{"NaN share", with(func(r *Rollout) { r.Waves = []float64{0.05, math.NaN(), 1} }), nil},
		{"canary share above one", Rollout{CanaryShare: 1.5}, nil},
		{"negative soak", with(func(r *Rollout) { r.Soak = -time.Second }), []float64{0.05, 0.25, 1}},
		{"threshold one", with(func(r *Rollout) { r.FailureThreshold = 1 }), []float64{0.05, 0.25, 1}},
		{"threshold negative", with(func(r *Rollout) { r.FailureThreshold = -0.1 }), []float64{0.05, 0.25, 1}},
		{"threshold NaN", with(func(r *Rollout) { r.FailureThreshold = math.NaN() }), []float64{0.05, 0.25, 1}},
		{"negative min failures", with(func(r *Rollout) { r.MinFailures = -1 }), []float64{0.05, 0.25, 1}},
	}
	validNames := map[string]bool{"default": true, "canary only": true, "single wave": true, "waves without canary share": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := tt.r.Plan()
			if tt.plan == nil {
				if !errors.Is(err, ErrInvalidRollout) {
					t.Errorf("Plan() = %v, %v; want ErrInvalidRollout", plan, err)
				}
			} else if err != nil || !slices.Equal(plan, tt.plan) {
				t.Errorf("Plan() = %v, %v; want %v", plan, err, tt.plan)
			}
			err = tt.r.Validate()
			if validNames[tt.name] != (err == nil) {
				t.Errorf("Validate() = %v, want valid=%v", err, validNames[tt.name])
			}
			if err != nil && !errors.Is(err, ErrInvalidRollout) {
				t.Errorf("Validate() error %v does not wrap ErrInvalidRollout", err)
			}
		})
	}
	// Plan returns a copy.
	r := DefaultRollout()
	p, _ := r.Plan()
	p[0] = 0.9
	if r.Waves[0] != 0.05 {
		t.Error("Plan shares its slice with the config")
	}
}

func TestHalted(t *testing.T) {
	def := DefaultRollout()
	with := func(threshold float64, minFailures int) Rollout {
		r := DefaultRollout()
		r.FailureThreshold, r.MinFailures = threshold, minFailures
		return r
	}
	tests := []struct {
		name  string
		stats []WaveStats
		cfg   Rollout
		want  bool
		wave  int
	}{
		{"no stats", nil, def, false, -1},
		{"nothing attempted", []WaveStats{{0, 0}}, def, false, -1},
		{"canary of one fails", []WaveStats{{1, 1}}, def, true, 0},
		{"all good", []WaveStats{{50, 0}, {200, 0}}, def, false, -1},
		{"exactly at threshold", []WaveStats{{10, 1}}, def, false, -1},
		{"exactly at threshold, larger", []WaveStats{{30, 3}}, def, false, -1},
		{"just above", []WaveStats{{9, 1}}, def, true, 0},
		{"two of ten", []WaveStats{{10, 2}}, def, true, 0},
		{"100 with 10", []WaveStats{{100, 10}}, def, false, -1},
		{"100 with 11", []WaveStats{{100, 11}}, def, true, 0},
		{"second wave", []WaveStats{{20, 0}, {50, 6}}, def, true, 1},
		{"first halted wave reported", []WaveStats{{10, 5}, {10, 5}}, def, true, 0},
		{"later wave fine, earlier halted", []WaveStats{{4, 1}, {100, 0}}, def, true, 0},
		{"failed above attempted", []WaveStats{{1, 2}}, def, true, 0},
		{"negative attempted", []WaveStats{{10, 0}, {-1, 0}}, def, true, 1},
		{"negative failed", []WaveStats{{10, -1}}, def, true, 0},
		{"min 3: one of one", []WaveStats{{1, 1}}, with(0.1, 3), false, -1},
		{"min 3: two of two", []WaveStats{{2, 2}}, with(0.1, 3), false, -1},
		{"min 3: three of three", []WaveStats{{3, 3}}, with(0.1, 3), true, 0},
		{"min 3: three of thirty", []WaveStats{{30, 3}}, with(0.1, 3), false, -1},
		{"min 3: three of twenty", []WaveStats{{20, 3}}, with(0.1, 3), true, 0},
		{"min 0 read as 1", []WaveStats{{1, 1}}, with(0.1, 0), true, 0},
		{"threshold 0: any failure", []WaveStats{{1000, 1}}, with(0, 1), true, 0},
		{"threshold 0: no failure", []WaveStats{{1000, 0}}, with(0, 1), false, -1},
		{"threshold 0.3: 3 of 10", []WaveStats{{10, 3}}, with(0.3, 1), false, -1},
		{"threshold 0.3: 4 of 10", []WaveStats{{10, 4}}, with(0.3, 1), true, 0},
		{"NaN threshold read as 0", []WaveStats{{1000, 1}}, with(math.NaN(), 1), true, 0},
		{"threshold 1 read as 0", []WaveStats{{1000, 1}}, with(1, 1), true, 0},
	}
	for _, tt := range tests {
		got, wave := Halted(tt.stats, tt.cfg)
		if got != tt.want || wave != tt.wave {
			t.Errorf("%s: Halted(%v) = %v, %d; want %v, %d", tt.name, tt.stats, got, wave, tt.want, tt.wave)
		}
	}
}

func TestWaveOpen(t *testing.T) {
	start := time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)
	def := DefaultRollout()
	noSoak := DefaultRollout()
	noSoak.Soak = 0
	bad := DefaultRollout()
	bad.Waves = []float64{0.5, 0.4, 1}
	tests := []struct {
		name   string
		wave   int
		cfg    Rollout
		now    time.Time
		prior  []WaveStats
		want   bool
		reason string // substring of the reason
	}{
		{"canary at start", 0, def, start, nil, true, "wave 0 open since 2025-06-02T08:00:00Z"},
		{"canary before start", 0, def, start.Add(-time.Second), nil, false, "rollout starts at 2025-06-02T08:00:00Z"},
		{"wave 1 before soak", 1, def, start.Add(24*time.Hour - time.Nanosecond), []WaveStats{{5, 0}}, false, "wave 1 opens at 2025-06-03T08:00:00Z, 24h0m0s after wave 0"},
		{"wave 1 after soak", 1, def, start.Add(24 * time.Hour), []WaveStats{{5, 0}}, true, "wave 1 open since 2025-06-03T08:00:00Z"},
		{"wave 2 after one soak", 2, def, start.Add(47 * time.Hour), []WaveStats{{5, 0}, {20, 1}}, false, "wave 2 opens at 2025-06-04T08:00:00Z"},
		{"wave 2 after two soaks", 2, def, start.Add(48 * time.Hour), []WaveStats{{5, 0}, {20, 1}}, true, "wave 2 open"},
		{"halted by canary", 1, def, start.Add(100 * time.Hour), []WaveStats{{1, 1}}, false, "rollout halted: wave 0 failed 1 of 1 installations"},
		{"halted by wave 1", 2, def, start.Add(100 * time.Hour), []WaveStats{{5, 0}, {10, 3}}, false, "rollout halted: wave 1 failed 3 of 10"},
		{"halt closes the canary too", 0, def, start.Add(time.Hour), []WaveStats{{2, 2}}, false, "halted"},
		{"outside plan", 3, def, start.Add(1000 * time.Hour), nil, false, "wave 3 is outside the plan of 3 waves"},
		{"negative wave", -1, def, start, nil, false, "outside the plan"},
		{"invalid config", 0, bad, start, nil, false, "invalid rollout"},
		{"no soak: last wave at start", 2, noSoak, start, nil, true, "wave 2 open"},
	}
	for _, tt := range tests {
		got, reason := WaveOpen(start, tt.wave, tt.cfg, tt.now, tt.prior)
		if got != tt.want || !strings.Contains(reason, tt.reason) {
			t.Errorf("%s: WaveOpen = %v, %q; want %v, containing %q", tt.name, got, reason, tt.want, tt.reason)
		}
		if strings.Contains(reason, "\n") {
			t.Errorf("%s: reason spans lines: %q", tt.name, reason)
		}
	}
	huge := DefaultRollout()
	huge.Soak = time.Duration(math.MaxInt64/2 + 1)
	if ok, reason := WaveOpen(start, 2, huge, start.Add(time.Duration(math.MaxInt64)), nil); ok || !strings.Contains(reason, "never opens") {
		t.Errorf("overflowing soak: %v, %q", ok, reason)
	}
}

func TestWaveOf(t *testing.T) {
	plan := DefaultRollout().Waves
	const n = 20000
	counts := make([]int, len(plan)+1)
	canaryA := map[string]bool{}
	for i := range n {
		dev := fmt.Sprintf("dev-%05d", i)
		w := WaveOf(dev, "fw-1.2.3", plan)
		if w != WaveOf(dev, "fw-1.2.3", plan) {
			t.Fatalf("WaveOf(%s) is not stable", dev)
		}
		counts[w]++
		if w == 0 {
			canaryA[dev] = true
		}
	}
	if counts[len(plan)] != 0 {
		t.Errorf("%d devices got no wave under a valid plan", counts[len(plan)])
	}
	// Expected shares 5 %, 20 %, 75 %; tolerance is several standard
	// deviations at n = 20000.
	for i, want := range []float64{0.05, 0.20, 0.75} {
		got := float64(counts[i]) / n
		if math.Abs(got-want) > 0.015 {
			t.Errorf("wave %d holds %.4f of devices, want %.2f ± 0.015", i, got, want)
		}
	}
	// Another release picks another canary set.
	overlap := 0
	for dev := range canaryA {
		if WaveOf(dev, "fw-1.2.4", plan) == 0 {
			overlap++
		}
	}
	if share := float64(overlap) / float64(len(canaryA)); share > 0.2 {
		t.Errorf("%.2f of release A's canaries are canaries again for release B; want about 0.05", share)
	}
	// Growing a share never moves a device to a later wave.
	for i := range 2000 {
		dev := fmt.Sprintf("dev-%05d", i)
		if small, large := WaveOf(dev, "r", []float64{0.1, 1}), WaveOf(dev, "r", []float64{0.2, 1}); large > small {
			t.Fatalf("%s: wave %d with canary 0.1 but %d with 0.2", dev, small, large)
		}
	}
	// The encoding separates device from release.
	if wavePoint("c", "ab") == wavePoint("bc", "a") {
		t.Error("wavePoint does not separate device and release")
	}
	// Outside a plan that does not reach 1 and with no waves at all.
	outside := 0
	for i := range 1000 {
		if WaveOf(fmt.Sprint(i), "r", []float64{0.5}) == 1 {
			outside++
		}
		if w := WaveOf(fmt.Sprint(i), "r", nil); w != 0 {
			t.Fatalf("WaveOf with no waves = %d, want 0", w)
		}
	}
	if outside < 400 || outside > 600 {
		t.Errorf("%d of 1000 devices fell outside a 0.5 plan, want about 500", outside)
	}
}

func TestParseWindow(t *testing.T) {
	wd := func(d ...time.Weekday) []time.Weekday { return d }
	all := wd(time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday)
	tests := []struct {
		spec       string
		days       []time.Weekday
		start, end string
		str        string // String() of the result
	}{
		{"Mon-Fri 01:00-03:00", wd(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday), "01:00", "03:00", "Mon,Tue,Wed,Thu,Fri 01:00-03:00"},
		{"sat,SUN 22:00-06:00", wd(time.Saturday, time.Sunday), "22:00", "06:00", "Sat,Sun 22:00-06:00"},
		{"Fri-Mon 23:00-01:00", wd(time.Friday, time.Saturday, time.Sunday, time.Monday), "23:00", "01:00", "Fri,Sat,Sun,Mon 23:00-01:00"},
		{"daily 00:00-24:00", all, "00:00", "24:00", "daily 00:00-24:00"},
		{"  *   02:00-04:00 ", all, "02:00", "04:00", "daily 02:00-04:00"},
		{"Wednesday,wed,Wed-Wed 12:00-13:30", wd(time.Wednesday), "12:00", "13:30", "Wed 12:00-13:30"},
	}
	for _, tt := range tests {
		w, err := ParseWindow(tt.spec, nil)
		if err != nil {
			t.Errorf("ParseWindow(%q): %v", tt.spec, err)
			continue
		}
		if !slices.Equal(w.Days, tt.days) || w.Start != tt.start || w.End != tt.end {
			t.Errorf("ParseWindow(%q) = %+v", tt.spec, w)
		}
		if got := w.String(); got != tt.str {
			t.Errorf("ParseWindow(%q).String() = %q, want %q", tt.spec, got, tt.str)
		}
		if back, err := ParseWindow(w.String(), nil); err != nil || back.String() != w.String() {
			t.Errorf("String() does not parse back: %q: %v", w.String(), err)
		}
	}

	bad := []struct{ spec, msg string }{
		{"", `want "DAYS HH:MM-HH:MM"`},
		{"Mon-Fri", `want "DAYS HH:MM-HH:MM"`},
		{"Mon 01:00 03:00", `want "DAYS HH:MM-HH:MM"`},
		{"Mon 01:00", `times "01:00" are not HH:MM-HH:MM`},
		{"Mon 25:00-03:00", `start: time "25:00" out of range 00:00–24:00`},
		{"Mon 01:60-03:00", `out of range`},
		{"Mon 1:00-03:00", `start: time "1:00" is not HH:MM`},
		{"Mon 01:00-3pm", `end: time "3pm" is not HH:MM`},
		{"Mon 24:00-03:00", `start 24:00 is not a time of day`},
		{"Mon 24:30-03:00", `out of range`},
		{"Mon 03:00-03:00", `start and end are both 03:00 (use 00:00-24:00 for a whole day)`},
		{"Funday 01:00-03:00", `unknown day "Funday"`},
		{"Mon-Xyz 01:00-03:00", `unknown day "Xyz"`},
		{"Mon,,Tue 01:00-03:00", `unknown day ""`},
		{"Mon -1:00-03:00", `start: time "" is not HH:MM`},
	}
	for _, tt := range bad {
		_, err := ParseWindow(tt.spec, nil)
		if !errors.Is(err, ErrInvalidWindow) || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.spec)) {
			t.Errorf("ParseWindow(%q) error = %v; want ErrInvalidWindow quoting the spec and mentioning %q", tt.spec, err, tt.msg)
		}
	}

	invalid := []Window{
		{Start: "01:00", End: "02:00"},
		{Days: wd(7), Start: "01:00", End: "02:00"},
		{Days: wd(time.Monday), Start: "1", End: "02:00"},
	}
	for _, w := range invalid {
		if err := w.Validate(); !errors.Is(err, ErrInvalidWindow) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidWindow", w, err)
		}
		if InWindow(w, time.Date(2025, 6, 2, 1, 30, 0, 0, time.UTC)) {
			t.Errorf("invalid window %+v reported open", w)
		}
	}
	if err := (Window{Days: wd(time.Monday), Start: "01:00", End: "02:00"}).Validate(); err != nil {
		t.Errorf("valid window: %v", err)
	}
}

func TestInWindow(t *testing.T) {
	mustParse := func(spec string, loc *time.Location) Window { return mustParseWindow(t, spec, loc) }
	// 2025-06-07 is a Saturday.
	at := func(day, hh, mm int) time.Time { return time.Date(2025, 6, day, hh, mm, 0, 0, time.UTC) }
	weekday := mustParse("Mon-Fri 01:00-03:00", nil)
	night := mustParse("Sat 22:00-04:00", nil)
	sunNight := mustParse("Sun 23:00-01:00", nil)
	toMidnight := mustParse("Fri 22:00-24:00", nil)
	always := mustParse("daily 00:00-24:00", nil)
	tests := []struct {
		name string
		w    Window
		now  time.Time
		want bool
	}{
		{"weekday before", weekday, at(2, 0, 59), false},
		{"weekday start inclusive", weekday, at(2, 1, 0), true},
		{"weekday inside", weekday, at(6, 2, 59), true},
		{"weekday end exclusive", weekday, at(2, 3, 0), false},
		{"weekday one second before end", weekday, at(2, 2, 59).Add(59*time.Second + 999*time.Millisecond), true},
		{"weekday on Saturday", weekday, at(7, 2, 0), false},
		{"night before start", night, at(7, 21, 59), false},
		{"night at start", night, at(7, 22, 0), true},
		{"night at 23:59 Sat", night, at(7, 23, 59), true},
		{"night after midnight Sun", night, at(8, 0, 0), true},
		{"night Sun 03:59", night, at(8, 3, 59), true},
		{"night Sun 04:00", night, at(8, 4, 0), false},
		{"night Sat early morning (Fri not listed)", night, at(7, 3, 0), false},
		{"night Sun 22:00 (Sun not listed)", night, at(8, 22, 0), false},
		{"Sun night wraps into Mon", sunNight, at(9, 0, 30), true},
		{"Sun night not Sat into Sun", sunNight, at(8, 0, 30), false},
		{"Sun night at Sun 23:30", sunNight, at(8, 23, 30), true},
		{"to midnight, 23:59 Fri", toMidnight, at(6, 23, 59), true},
		{"to midnight, 00:00 Sat", toMidnight, at(7, 0, 0), false},
		{"to midnight, Fri 21:59", toMidnight, at(6, 21, 59), false},
		{"always", always, at(4, 12, 34), true},
		{"always at midnight", always, at(4, 0, 0), true},
		{"location nil is UTC", weekday, time.Date(2025, 6, 2, 3, 30, 0, 0, time.FixedZone("UTC+2", 2*3600)), true},
		{"fixed zone", mustParse("Mon 01:00-03:00", time.FixedZone("UTC+2", 2*3600)), time.Date(2025, 6, 1, 23, 30, 0, 0, time.UTC), true},
		{"fixed zone, UTC wall time in range is not", mustParse("Mon 01:00-03:00", time.FixedZone("UTC+2", 2*3600)), at(2, 1, 30), false},
	}
	for _, tt := range tests {
		if got := InWindow(tt.w, tt.now); got != tt.want {
			t.Errorf("%s: InWindow(%s, %s) = %v, want %v", tt.name, tt.w, tt.now.Format(time.RFC3339), got, tt.want)
		}
	}
}

func TestInWindowDST(t *testing.T) {
	berlin := loadBerlin(t)
	if berlin == nil {
		t.Skip("Europe/Berlin not available (no tzdata); DST cases not run")
	}
	utc := func(mon time.Month, day, hh, mm int) time.Time {
		return time.Date(2025, mon, day, hh, mm, 0, 0, time.UTC)
	}
	night := mustParseWindow(t, "Sat 22:00-04:00", berlin)
	gap := mustParseWindow(t, "Sun 02:00-02:45", berlin)
	// Clocks go forward on Sun 2025-03-30 at 02:00 CET (01:00 UTC) and back
	// on Sun 2025-10-26 at 03:00 CEST (01:00 UTC).
	tests := []struct {
		name string
		w    Window
		now  time.Time
		want bool
	}{
		{"spring: Sat 21:59 CET", night, utc(3, 29, 20, 59), false},
		{"spring: Sat 22:00 CET", night, utc(3, 29, 21, 0), true},
		{"spring: Sun 01:59 CET", night, utc(3, 30, 0, 59), true},
		{"spring: Sun 03:00 CEST, right after the jump", night, utc(3, 30, 1, 0), true},
		{"spring: Sun 03:59 CEST", night, utc(3, 30, 1, 59), true},
		{"spring: Sun 04:00 CEST", night, utc(3, 30, 2, 0), false},
		{"autumn: Sat 22:00 CEST", night, utc(10, 25, 20, 0), true},
		{"autumn: Sun 02:30 CEST, first pass", night, utc(10, 26, 0, 30), true},
		{"autumn: Sun 02:30 CET, second pass", night, utc(10, 26, 1, 30), true},
		{"autumn: Sun 03:59 CET", night, utc(10, 26, 2, 59), true},
		{"autumn: Sun 04:00 CET", night, utc(10, 26, 3, 0), false},
		{"gap: 01:59 CET", gap, utc(3, 30, 0, 59), false},
		{"gap: 03:00 CEST", gap, utc(3, 30, 1, 0), false},
		{"gap on a normal Sunday", gap, utc(3, 23, 1, 30), true},
		{"gap window, autumn first pass", gap, utc(10, 26, 0, 15), true},
		{"gap window, autumn second pass", gap, utc(10, 26, 1, 15), true},
	}
	for _, tt := range tests {
		if got := InWindow(tt.w, tt.now); got != tt.want {
			t.Errorf("%s: InWindow(%s, %s = %s) = %v, want %v", tt.name, tt.w, tt.now.Format(time.RFC3339), tt.now.In(berlin).Format("Mon 15:04 MST"), got, tt.want)
		}
	}
	// Real length of the windows, counted minute by minute over two days.
	lengths := []struct {
		name string
		w    Window
		from time.Time
		want time.Duration
	}{
		{"normal weekend", night, utc(3, 22, 0, 0), 6 * time.Hour},
		{"spring forward", night, utc(3, 29, 0, 0), 5 * time.Hour},
		{"fall back", night, utc(10, 25, 0, 0), 7 * time.Hour},
		{"gap window, normal", gap, utc(3, 22, 0, 0), 45 * time.Minute},
		{"gap window, spring forward", gap, utc(3, 29, 0, 0), 0},
		{"gap window, fall back", gap, utc(10, 25, 0, 0), 90 * time.Minute},
	}
	for _, tt := range lengths {
		var open time.Duration
		for m := time.Duration(0); m < 48*time.Hour; m += time.Minute {
			if InWindow(tt.w, tt.from.Add(m)) {
				open += time.Minute
			}
		}
		if open != tt.want {
			t.Errorf("%s: window %s open for %s, want %s", tt.name, tt.w, open, tt.want)
		}
	}
}

func mustParseWindow(t *testing.T, spec string, loc *time.Location) Window {
	t.Helper()
	w, err := ParseWindow(spec, loc)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
