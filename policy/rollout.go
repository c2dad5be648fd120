package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rollout errors.
var (
	// ErrInvalidRollout is returned by Rollout.Validate and Rollout.Plan for
	// a configuration that cannot be used.
	ErrInvalidRollout = errors.New("invalid rollout")
	// ErrInvalidWindow is returned by ParseWindow and Window.Validate for a
	// maintenance window that cannot be used.
	ErrInvalidWindow = errors.New("invalid maintenance window")
)

// Rollout configures a staged rollout of one release to a fleet: devices are
// split into waves, each wave opens one soak period after the previous one,
// and the rollout halts when too many installations in a wave fail.
//
// The zero Rollout is not valid; start from DefaultRollout.
type Rollout struct {
	// CanaryShare is the share of devices in the first wave (the canary),
	// in (0, 1]. Default 0.05. When Waves is empty the plan is
	// [CanaryShare, 1.0]; when Waves is set, CanaryShare must be 0 (take
	// Waves[0]) or equal Waves[0].
	CanaryShare float64 `json:"canary_share" yaml:"canary_share"`
	// Waves are the cumulative shares of the fleet reached by the end of
	// each wave: strictly increasing, each in (0, 1], the last exactly 1.
	// Default [0.05, 0.25, 1.0]: 5 % canary, then 20 %, then the other 75 %.
	Waves []float64 `json:"waves,omitempty" yaml:"waves,omitempty"`
	// Soak is how long a wave runs before the next one may open, 0 or more.
	// Default 24h.
	Soak time.Duration `json:"soak" yaml:"soak"`
	// FailureThreshold is the share of failed installations in a wave above
	// which the rollout halts, in [0, 1). Default 0.1. A wave halts when
	// Failed/Attempted > FailureThreshold (strictly: exactly 1 failure in
	// 10 attempts does not halt at 0.1) and Failed >= MinFailures.
	FailureThreshold float64 `json:"failure_threshold" yaml:"failure_threshold"`
	// MinFailures is the number of failures a wave needs before its failure
	// share can halt the rollout, 0 or more; 0 is read as 1. Default 1: one
	// failure in one attempt (a canary of one device) halts. Raise it for
	// large waves so that the first unlucky device (a power cut during
	// installation) does not halt a wave of thousands.
	MinFailures int `json:"min_failures" yaml:"min_failures"`
}

// DefaultRollout returns the default configuration: a 5 % canary, waves at
// 5 %, 25 % and 100 % of the fleet, 24 hours of soak between waves, and a halt
// once more than 10 % of a wave's installations fail, from the first failure
// on (MinFailures 1).
func DefaultRollout() Rollout {
	return Rollout{
		CanaryShare:      0.05,
		Waves:            []float64{0.05, 0.25, 1.0},
		Soak:             24 * time.Hour,
		FailureThreshold: 0.1,
		MinFailures:      1,
	}
}

// Plan returns the cumulative wave shares the configuration describes (see
// CanaryShare and Waves) after checking them; errors wrap ErrInvalidRollout.
// The returned slice is a copy.
func (r Rollout) Plan() ([]float64, error) {
	var plan []float64
	switch {
	case len(r.Waves) > 0:
		plan = slices.Clone(r.Waves)
		if r.CanaryShare != 0 && r.CanaryShare != plan[0] {
			return nil, fmt.Errorf("policy: %w: canary share %v differs from the first wave %v", ErrInvalidRollout, r.CanaryShare, plan[0])
		}
	case r.CanaryShare > 0 && r.CanaryShare < 1:
		plan = []float64{r.CanaryShare, 1}
	case r.CanaryShare == 1:
		plan = []float64{1}
	default:
		return nil, fmt.Errorf("policy: %w: no waves and canary share %v not in (0, 1]", ErrInvalidRollout, r.CanaryShare)
	}
	for i, s := range plan {
		if math.IsNaN(s) || s <= 0 || s > 1 {
			return nil, fmt.Errorf("policy: %w: wave %d share %v not in (0, 1]", ErrInvalidRollout, i, s)
		}
		if i > 0 && s <= plan[i-1] {
			return nil, fmt.Errorf("policy: %w: wave %d share %v not above wave %d share %v (shares are cumulative)", ErrInvalidRollout, i, s, i-1, plan[i-1])
		}
	}
	if last := plan[len(plan)-1]; last != 1 {
		return nil, fmt.Errorf("policy: %w: last wave share %v must be 1 so that every device gets a wave", ErrInvalidRollout, last)
	}
	return plan, nil
}

// Validate checks the configuration; errors wrap ErrInvalidRollout.
func (r Rollout) Validate() error {
	if _, err := r.Plan(); err != nil {
		return err
	}
	if r.Soak < 0 {
		return fmt.Errorf("policy: %w: soak %s is negative", ErrInvalidRollout, r.Soak)
	}
	if math.IsNaN(r.FailureThreshold) || r.FailureThreshold < 0 || r.FailureThreshold >= 1 {
		return fmt.Errorf("policy: %w: failure threshold %v not in [0, 1)", ErrInvalidRollout, r.FailureThreshold)
	}
	if r.MinFailures < 0 {
		return fmt.Errorf("policy: %w: min failures %d is negative", ErrInvalidRollout, r.MinFailures)
	}
	return nil
}

// WaveStats counts the installation outcomes reported in one wave.
type WaveStats struct {
	// Attempted is the number of devices that finished an installation
	// attempt (succeeded or failed).
	Attempted int `json:"attempted" yaml:"attempted"`
	// Failed is how many of those failed; at most Attempted.
	Failed int `json:"failed" yaml:"failed"`
}

// wavePoint maps (device, release) to a point in [0, 1): the first 53 bits of
// SHA-256 over a length-prefixed encoding, so ("ab", "c") and ("a", "bc")
// differ.
func wavePoint(deviceID, releaseID string) float64 {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write([]byte("tocsin/wave/v1\x00"))
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(releaseID)))])
	h.Write([]byte(releaseID))
	h.Write([]byte(deviceID))
	sum := h.Sum(nil)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// WaveOf returns the wave of a device for a release: the index of the first
// cumulative share in waves that is above the device's point, where the
// point is a hash of device and release mapped uniformly into [0, 1). The
// assignment is stable (same inputs, same wave) and about share-proportional;
// because the release is hashed too, each release picks a different canary
// set and no device is always first. It returns len(waves) when the point is
// not below any share (never for a valid plan, whose last share is 1); waves
// is not otherwise checked, use Rollout.Plan to obtain it.
func WaveOf(deviceID string, releaseID string, waves []float64) int {
	p := wavePoint(deviceID, releaseID)
	for i, s := range waves {
		if p < s {
			return i
		}
	}
	return len(waves)
}

// Halted reports whether the rollout is halted and at which wave: the first
// wave in stats (index = wave) with Failed >= cfg.MinFailures (0 read as 1)
// and Failed/Attempted > cfg.FailureThreshold, the share computed as a float64
// division so that a share exactly equal to a decimal threshold (1/10 at
// 0.1, 3/10 at 0.3) does not halt. Fail-safe cases: a wave with inconsistent
// counts (negative, or Failed > Attempted) halts, and a FailureThreshold
// outside [0, 1) or NaN is read as 0. It returns (false, -1) when not halted.
func Halted(stats []WaveStats, cfg Rollout) (bool, int) {
	threshold := cfg.FailureThreshold
	if math.IsNaN(threshold) || threshold < 0 || threshold >= 1 {
		threshold = 0
	}
	minFailures := max(cfg.MinFailures, 1)
	for i, s := range stats {
		if s.Attempted < 0 || s.Failed < 0 || s.Failed > s.Attempted {
			return true, i
		}
		if s.Failed >= minFailures && float64(s.Failed)/float64(s.Attempted) > threshold {
			return true, i
		}
	}
	return false, -1
}

// WaveOpen reports whether wave may install at time now, and why (one line).
// Wave 0 opens at start; wave k > 0 opens once wave k-1 has been open for
// cfg.Soak, i.e. at start + k*Soak. No wave is open while the rollout is
// halted: prior holds the stats of the waves so far (index = wave, normally
// waves 0..wave-1) and Halted(prior, cfg) closes every wave. A wave outside
// the plan or an invalid cfg is closed.
//
// The signature takes the stats of all earlier waves rather than of wave-1
// alone, because a halt in any earlier wave stops the whole rollout.
func WaveOpen(start time.Time, wave int, cfg Rollout, now time.Time, prior []WaveStats) (bool, string) {
	if err := cfg.Validate(); err != nil {
		return false, err.Error()
	}
	plan, _ := cfg.Plan()
	if wave < 0 || wave >= len(plan) {
		return false, fmt.Sprintf("wave %d is outside the plan of %d waves", wave, len(plan))
	}
	if halted, hw := Halted(prior, cfg); halted {
		s := prior[hw]
		return false, fmt.Sprintf("rollout halted: wave %d failed %d of %d installations (threshold %v)", hw, s.Failed, s.Attempted, cfg.FailureThreshold)
	}
	if wave > 0 && cfg.Soak > 0 && cfg.Soak > time.Duration(math.MaxInt64)/time.Duration(wave) {
		return false, fmt.Sprintf("wave %d never opens: %d soak periods of %s overflow", wave, wave, cfg.Soak)
	}
	opens := start.Add(time.Duration(wave) * cfg.Soak)
	if now.Before(opens) {
		if wave == 0 {
			return false, "rollout starts at " + opens.Format(time.RFC3339)
		}
		return false, fmt.Sprintf("wave %d opens at %s, %s after wave %d", wave, opens.Format(time.RFC3339), cfg.Soak, wave-1)
	}
	return true, fmt.Sprintf("wave %d open since %s", wave, opens.Format(time.RFC3339))
}

// Window is a weekly maintenance window in local wall-clock time: it opens on
// each of Days at Start and closes at End, on the same day or, when End is
// not after Start, on the next day (e.g. Sat 22:00–04:00 runs from Saturday
// night into Sunday morning). Days are the days on which the window opens.
//
// Times are wall-clock times in Location, so across a DST change a window
// keeps its local times and its real length changes: on the night clocks go
// forward it is an hour shorter (and a window lying wholly inside the skipped
// hour does not occur), on the night they go back an hour longer (the
// repeated hour is inside the window both times if it is inside at all).
type Window struct {
	// Days on which the window opens; at least one.
	Days []time.Weekday
	// Start is the opening time, "HH:MM" in 24-hour form, 00:00–23:59.
	Start string
	// End is the closing time, "HH:MM", 00:00–24:00, exclusive. End equal
	// to Start is refused as ambiguous; use 00:00–24:00 for a whole day.
	End string
	// Location is the time zone of Start and End; nil means UTC. Load it
	// with time.LoadLocation outside this package.
	Location *time.Location
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday,
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tues": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

func parseWeekday(s string) (time.Weekday, error) {
	if d, ok := weekdayNames[strings.ToLower(strings.TrimSpace(s))]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("unknown day %q (want Mon, Tue, ... or Monday, ...)", s)
}

// parseClock parses "HH:MM" into minutes after midnight, 0–1440 (24:00 is
// allowed; callers refuse it where it makes no sense).
func parseClock(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q out of range 00:00–24:00", s)
	}
	return h*60 + m, nil
}

// ParseWindow parses a maintenance window written as "DAYS HH:MM-HH:MM" in
// location loc (nil means UTC). DAYS is "daily" or "*" for every day, or a
// comma-separated list of day names (Mon or Monday, case-insensitive) and
// ranges, where a range may wrap around the week ("Fri-Mon" is Friday to
// Monday). Examples: "Mon-Fri 01:00-03:00", "Sat,Sun 22:00-06:00",
// "daily 00:00-24:00". Errors wrap ErrInvalidWindow and quote the spec.
func ParseWindow(spec string, loc *time.Location) (Window, error) {
	fail := func(format string, args ...any) (Window, error) {
		return Window{}, fmt.Errorf("policy: %w %q: %s", ErrInvalidWindow, spec, fmt.Sprintf(format, args...))
	}
	fields := strings.Fields(spec)
	if len(fields) != 2 {
		return fail("want \"DAYS HH:MM-HH:MM\", e.g. \"Mon-Fri 01:00-03:00\"")
	}
	start, end, ok := strings.Cut(fields[1], "-")
	if !ok {
		return fail("times %q are not HH:MM-HH:MM", fields[1])
	}
	var days []time.Weekday
	if d := strings.ToLower(fields[0]); d == "daily" || d == "*" {
		days = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	} else {
		for item := range strings.SplitSeq(fields[0], ",") {
			from, to, isRange := strings.Cut(item, "-")
			a, err := parseWeekday(from)
			if err != nil {
				return fail("%v", err)
			}
			b := a
			if isRange {
				if b, err = parseWeekday(to); err != nil {
					return fail("%v", err)
				}
			}
			for d := a; ; d = (d + 1) % 7 {
				if !slices.Contains(days, d) {
					days = append(days, d)
				}
				if d == b {
					break
				}
			}
		}
	}
	w := Window{Days: days, Start: start, End: end, Location: loc}
	if err := w.check(); err != nil {
		return fail("%v", err)
	}
	return w, nil
}

// check validates w.
func (w Window) check() error {
	_, _, err := w.minutes()
	return err
}

// minutes validates w and returns Start and End in minutes after midnight,
// with an End of 24:00 returned as 0 (the next midnight).
func (w Window) minutes() (start, end int, err error) {
	if len(w.Days) == 0 {
		return 0, 0, errors.New("no days")
	}
	for _, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			return 0, 0, fmt.Errorf("weekday %d out of range", int(d))
		}
	}
	if start, err = parseClock(w.Start); err != nil {
		return 0, 0, fmt.Errorf("start: %w", err)
	}
	if start == 24*60 {
		return 0, 0, errors.New("start 24:00 is not a time of day (use 00:00)")
	}
	if end, err = parseClock(w.End); err != nil {
		return 0, 0, fmt.Errorf("end: %w", err)
	}
	if start == end {
		return 0, 0, fmt.Errorf("start and end are both %s (use 00:00-24:00 for a whole day)", w.Start)
	}
	if end == 24*60 {
		end = 0 // closes at the next midnight
	}
	return start, end, nil
}

// Validate checks w; errors wrap ErrInvalidWindow.
func (w Window) Validate() error {
	if err := w.check(); err != nil {
		return fmt.Errorf("policy: %w: %v", ErrInvalidWindow, err)
	}
	return nil
}

// String returns w in the form ParseWindow reads (without the location),
// e.g. "Sat,Sun 22:00-06:00" or "daily 01:00-03:00".
func (w Window) String() string {
	days := "daily"
	if !w.hasAllDays() {
		names := make([]string, len(w.Days))
		for i, d := range w.Days {
			names[i] = d.String()[:3]
		}
		days = strings.Join(names, ",")
	}
	return days + " " + w.Start + "-" + w.End
}

func (w Window) hasAllDays() bool {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if !slices.Contains(w.Days, d) {
			return false
		}
	}
	return true
}

// InWindow reports whether now falls inside the maintenance window w, judged
// on the wall clock of w.Location (see Window): the window is open from Start
// inclusive to End exclusive. An invalid window is never open (fail closed);
// check windows with ParseWindow or Validate when they are configured.
func InWindow(w Window, now time.Time) bool {
	start, end, err := w.minutes()
	if err != nil {
		return false
	}
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	today := local.Weekday()
	yesterday := (today + 6) % 7
	if start < end {
		return slices.Contains(w.Days, today) && start <= m && m < end
	}
	// Crosses midnight (end <= start, with 24:00 read as 0): the part
	// after start today, or the tail of yesterday's window.
	return (slices.Contains(w.Days, today) && m >= start) || (slices.Contains(w.Days, yesterday) && m < end)
}
