package policy

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestDecideDeliveryTable(t *testing.T) {
	const (
		NR = DeliveryNextRelease
		SC = DeliveryScheduled
		EX = DeliveryExpedited
		IM = DeliveryImmediate
	)
	tests := []struct {
		score    float64
		x        Exploitation
		wa       bool
		deployed int
		want     DeliveryClass
		days     int
	}{
		// Step 1 alone (workaround, small fleet): one cell per row and column.
		{9.8, ExploitNone, true, 10, EX, 30},
		{9.8, ExploitPoC, true, 10, EX, 30},
		{9.0, ExploitActive, true, 10, IM, 7},
		{8.9, ExploitNone, true, 10, SC, 90},
		{7.0, ExploitPoC, true, 10, EX, 30},
		{7.5, ExploitActive, true, 10, IM, 7},
		{6.9, ExploitNone, true, 10, NR, 180},
		{4.0, ExploitPoC, true, 10, SC, 90},
		{5.3, ExploitActive, true, 10, EX, 30},
		{3.9, ExploitNone, true, 10, NR, 180},
		{0.1, ExploitPoC, true, 10, NR, 180},
		{2.0, ExploitActive, true, 10, SC, 90},
		{0.0, ExploitActive, true, 10, NR, 180},
		// Step 2: no workaround.
		{8.1, ExploitNone, false, 10, EX, 30},
		{5.0, ExploitNone, false, 10, SC, 90},
		{2.0, ExploitActive, false, 10, EX, 30},
		{9.8, ExploitPoC, false, 10, IM, 7},
		// Step 3: large fleet, only from MEDIUM up.
		{5.0, ExploitNone, true, 999, NR, 180},
		{5.0, ExploitNone, true, 1000, SC, 90},
		{3.9, ExploitNone, true, 1_000_000, NR, 180},
		{3.9, ExploitActive, false, 1_000_000, EX, 30},
		{5.0, ExploitNone, false, 1000, EX, 30},
		// Step 4: unexploited never immediate.
		{9.8, ExploitNone, false, 1_000_000, EX, 30},
		{8.0, ExploitNone, false, 5000, EX, 30},
		// NONE is final whatever else holds.
		{0.0, ExploitActive, false, 1_000_000, NR, 180},
	}
	for _, tt := range tests {
		in := DeliveryInput{Score: tt.score, Exploitation: tt.x, Workaround: tt.wa, Deployed: tt.deployed}
		got, err := DecideDelivery(in)
		if err != nil {
			t.Errorf("DecideDelivery(%+v): %v", in, err)
			continue
		}
		if got.Class != tt.want || got.Days != tt.days {
			t.Errorf("DecideDelivery(%+v) = %s/%d days (%s), want %s/%d days", in, got.Class, got.Days, got.Reason, tt.want, tt.days)
		}
		if got.Severity != SeverityFromScore(tt.score) {
			t.Errorf("DecideDelivery(%+v).Severity = %q", in, got.Severity)
		}
	}
}

func TestDecideDeliveryReason(t *testing.T) {
	d, err := DecideDelivery(DeliveryInput{Score: 9.8, Exploitation: ExploitNone, Deployed: 5000})
	if err != nil {
		t.Fatal(err)
	}
	want := "CRITICAL with none exploitation: expedited; no workaround: immediate; not exploited: capped at expedited"
	if d.Reason != want {
		t.Errorf("Reason = %q, want %q", d.Reason, want)
	}
}

func TestDecideDeliveryInvalid(t *testing.T) {
	tests := []DeliveryInput{
		{Score: -0.1, Exploitation: ExploitNone},
		{Score: 10.1, Exploitation: ExploitNone},
		{Score: math.NaN(), Exploitation: ExploitNone},
		{Score: math.Inf(1), Exploitation: ExploitNone},
		{Score: 5, Exploitation: 0},
		{Score: 5, Exploitation: ExploitActive + 1},
		{Score: 5, Exploitation: ExploitNone, Deployed: -1},
	}
	for _, in := range tests {
		d, err := DecideDelivery(in)
		if !errors.Is(err, ErrInvalidDeliveryInput) {
			t.Errorf("DecideDelivery(%+v) error = %v, want ErrInvalidDeliveryInput", in, err)
		}
		if d != (DeliveryDecision{}) {
			t.Errorf("DecideDelivery(%+v) returned %+v with its error", in, d)
		}
	}
}

// urgencyAtLeast reports whether a is at least as urgent as b in every input
// dimension: score, exploitation, absence of a workaround, deployed systems.
func urgencyAtLeast(a, b DeliveryInput) bool {
	return a.Score >= b.Score && a.Exploitation >= b.Exploitation &&
		(!a.Workaround || b.Workaround) && a.Deployed >= b.Deployed
}

var deployedMagnitudes = []int{0, 1, 10, 100, 999, 1000, 10_000, 100_000, 1_000_000, math.MaxInt32}

func TestDecideDeliveryMonotoneRandom(t *testing.T) {
	const seed = 62443
	rng := rand.New(rand.NewPCG(seed, 4))
	randInput := func() DeliveryInput {
		return DeliveryInput{
			Score:        float64(rng.IntN(101)) / 10,
			Exploitation: Exploitation(1 + rng.IntN(3)),
			Workaround:   rng.IntN(2) == 0,
			Deployed:     deployedMagnitudes[rng.IntN(len(deployedMagnitudes))] + rng.IntN(3),
		}
	}
	const pairs = 200_000
	checked := 0
	for range pairs {
		low := randInput()
		// Build a dominant input by moving every dimension up or keeping it.
		high := low
		high.Score = math.Min(10, low.Score+float64(rng.IntN(101-int(math.Round(low.Score*10))))/10)
		high.Exploitation = low.Exploitation + Exploitation(rng.IntN(int(ExploitActive-low.Exploitation)+1))
		if low.Workaround && rng.IntN(2) == 0 {
			high.Workaround = false
		}
		high.Deployed = low.Deployed + rng.IntN(2)*rng.IntN(1_000_000)
		if !urgencyAtLeast(high, low) {
			t.Fatalf("generator bug: %+v does not dominate %+v", high, low)
		}
		dl, err1 := DecideDelivery(low)
		dh, err2 := DecideDelivery(high)
		if err1 != nil || err2 != nil {
			t.Fatalf("seed %d: unexpected errors %v, %v", seed, err1, err2)
		}
		if dh.Days > dl.Days {
			t.Fatalf("seed %d: not monotone: %+v -> %d days (%s) but dominated %+v -> %d days (%s)",
				seed, high, dh.Days, dh.Reason, low, dl.Days, dl.Reason)
		}
		checked++
	}
	if checked != pairs {
		t.Fatalf("checked %d of %d pairs", checked, pairs)
	}
}

func TestDecideDeliveryMonotoneSweep(t *testing.T) {
	type point struct{ s, x, w, d int } // indexes into the axes below
	exploits := []Exploitation{ExploitNone, ExploitPoC, ExploitActive}
	workarounds := []bool{true, false} // ordered by increasing urgency
	input := func(p point) DeliveryInput {
		return DeliveryInput{Score: float64(p.s) / 10, Exploitation: exploits[p.x], Workaround: workarounds[p.w], Deployed: deployedMagnitudes[p.d]}
	}
	days := map[point]int{}
	classes := map[DeliveryClass]int{}
	for s := 0; s <= 100; s++ {
		for x := range exploits {
			for w := range workarounds {
				for d := range deployedMagnitudes {
					p := point{s, x, w, d}
					dec, err := DecideDelivery(input(p))
					if err != nil {
						t.Fatalf("%+v: %v", input(p), err)
					}
					if !dec.Class.Valid() || dec.Days != dec.Class.Days() {
						t.Fatalf("%+v: inconsistent decision %+v", input(p), dec)
					}
					days[p] = dec.Days
					classes[dec.Class]++
				}
			}
		}
	}
	// Monotone along each axis between neighbours implies monotone under
	// dominance, by transitivity.
	violations := 0
	for p, dp := range days {
		for _, q := range []point{{p.s + 1, p.x, p.w, p.d}, {p.s, p.x + 1, p.w, p.d}, {p.s, p.x, p.w + 1, p.d}, {p.s, p.x, p.w, p.d + 1}} {
			if dq, ok := days[q]; ok && dq > dp {
				violations++
				if violations < 10 {
					t.Errorf("not monotone: %+v -> %d days but more urgent %+v -> %d days", input(p), dp, input(q), dq)
				}
			}
		}
	}
	if want := 101 * 3 * 2 * len(deployedMagnitudes); len(days) != want {
		t.Errorf("swept %d points, want %d", len(days), want)
	}
	for c := DeliveryNextRelease; c <= DeliveryImmediate; c++ {
		if classes[c] == 0 {
			t.Errorf("class %s never decided in the sweep", c)
		}
	}
}

func TestDeadline(t *testing.T) {
	berlin := loadBerlin(t)
	tests := []struct {
		published time.Time
		days      int
		want      time.Time
	}{
		{time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC), 7, time.Date(2025, 1, 8, 9, 0, 0, 0, time.UTC)},
		{time.Date(2025, 12, 15, 0, 0, 0, 0, time.UTC), 30, time.Date(2026, 1, 14, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), 180, time.Date(2024, 6, 29, 0, 0, 0, 0, time.UTC)}, // leap year
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), -3, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if berlin != nil {
		// Across the spring DST change the wall-clock time is kept, so only
		// 30*24-1 real hours pass.
		tests = append(tests, struct {
			published time.Time
			days      int
			want      time.Time
		}{time.Date(2025, 3, 15, 10, 0, 0, 0, berlin), 30, time.Date(2025, 4, 14, 10, 0, 0, 0, berlin)})
	}
	for _, tt := range tests {
		got := Deadline(tt.published, DeliveryDecision{Days: tt.days})
		if !got.Equal(tt.want) {
			t.Errorf("Deadline(%s, %d days) = %s, want %s", tt.published, tt.days, got, tt.want)
		}
	}
	if berlin != nil {
		pub := time.Date(2025, 3, 15, 10, 0, 0, 0, berlin)
		if got := Deadline(pub, DeliveryDecision{Days: 30}).Sub(pub); got != 30*24*time.Hour-time.Hour {
			t.Errorf("30 days across spring DST in Berlin = %s, want 719h", got)
		}
	}
}

func TestDeliveryNames(t *testing.T) {
	for c := DeliveryNextRelease; c <= DeliveryImmediate; c++ {
		b, err := c.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back DeliveryClass
		if err := back.UnmarshalText([]byte(strings.ToUpper(string(b)))); err != nil || back != c {
			t.Errorf("class %s round trip = %s, %v", c, back, err)
		}
	}
	for x := ExploitNone; x <= ExploitActive; x++ {
		var back Exploitation
		if err := back.UnmarshalText([]byte(x.String())); err != nil || back != x {
			t.Errorf("exploitation %s round trip = %s, %v", x, back, err)
		}
	}
	if c, err := ParseDeliveryClass("next_release"); err != nil || c != DeliveryNextRelease {
		t.Errorf("ParseDeliveryClass(next_release) = %s, %v", c, err)
	}
	for _, bad := range []string{"", "urgent", "yes"} {
		if _, err := ParseExploitation(bad); !errors.Is(err, ErrInvalidDeliveryInput) {
			t.Errorf("ParseExploitation(%q) error = %v", bad, err)
		}
		if _, err := ParseDeliveryClass(bad); !errors.Is(err, ErrInvalidDeliveryInput) {
			t.Errorf("ParseDeliveryClass(%q) error = %v", bad, err)
		}
	}
	if _, err := Exploitation(0).MarshalText(); !errors.Is(err, ErrInvalidDeliveryInput) {
		t.Errorf("Exploitation(0).MarshalText() error = %v", err)
	}
	if _, err := DeliveryClass(9).MarshalText(); !errors.Is(err, ErrInvalidDeliveryInput) {
		t.Errorf("DeliveryClass(9).MarshalText() error = %v", err)
	}
	if DeliveryClass(0).Days() != 0 || DeliveryClass(0).String() != "DeliveryClass(0)" {
		t.Error("undefined class should have 0 days and a numeric name")
	}

	d, err := DecideDelivery(DeliveryInput{Score: 7.5, Exploitation: ExploitPoC, Workaround: true})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"class":"expedited"`) || !strings.Contains(string(js), `"deadline_days":30`) {
		t.Errorf("JSON = %s", js)
	}
	var in DeliveryInput
	if err := json.Unmarshal([]byte(`{"score":5.5,"exploitation":"poc","workaround":true,"deployed":3}`), &in); err != nil || in.Exploitation != ExploitPoC {
		t.Errorf("DeliveryInput from JSON = %+v, %v", in, err)
	}
}

// loadBerlin loads Europe/Berlin or returns nil after logging why the
// DST cases are skipped.
func loadBerlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Logf("skipping Europe/Berlin cases: tzdata not available: %v", err)
		return nil
	}
	return loc
}
