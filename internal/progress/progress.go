package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/tocsin-iiot/tocsin/internal/units"
)

// Options adjust a bar or a group.
type Options struct {
	// Force draws even when the writer is not a terminal: for tests, or a
	// --progress=always flag.
	Force bool
	// Unit names what a bar counts, e.g. "blocks"; "" counts bytes, shown
	// in binary units. Ignored by NewGroupWith (see Group.NewBar).
	Unit string
}

// IsTerminal reports whether w is a terminal a bar can be drawn on: a file
// (such as os.Stderr) open on a TTY, with TERM not "dumb".
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || f == nil || os.Getenv("TERM") == "dumb" {
		return false
	}
	if of, isFile := f.(*os.File); isFile && of == nil {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// barWidth is the width of the bar itself, in columns; progressbar narrows
// a standalone bar further on a narrow terminal.
const (
	barWidth      = 20
	groupBarWidth = 15
)

// Bar is one progress bar. It always counts; it draws only if it was made
// for a terminal (or forced). A Bar is safe for concurrent use. The zero
// value is not usable: make one with New, NewWith or Group.NewBar.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer // standalone bars: where to draw
	grouped bool      // drawn by a Group, from pb.String and the meter
	unit    string
	label   string
	detail  string
	n       int64
	total   int64
	done    bool
	pb      *progressbar.ProgressBar // nil: silent
	pbMax   int64                    // the max pb was last given (-1: unknown)
	synced  time.Time                // when pb was last brought up to date
	meter   Meter
}

// New returns a bar counting bytes towards total (≤ 0: unknown), labelled
// label, drawn on w if w is a terminal and silent otherwise. A nil w is
// silent.
func New(w io.Writer, total int64, label string) *Bar {
	return NewWith(w, total, label, Options{})
}

// NewWith is New with options.
func NewWith(w io.Writer, total int64, label string, o Options) *Bar {
	b := &Bar{w: w, unit: o.Unit, label: label, total: total}
	if w != nil && (o.Force || IsTerminal(w)) {
		b.pb = b.newPB()
	}
	return b
}

// wantMax is the max to give the library: -1 for an unknown total, and
// never a value the count has reached before Finish, so a total that grows
// as the work is discovered does not end the bar early.
func (b *Bar) wantMax() int64 {
	switch {
	case b.total <= 0:
		return -1
	case !b.done && b.n >= b.total:
		return b.n + 1
	}
	return b.total
}

// newPB makes the library bar for b's current state. Called with b.mu held
// (or before b is shared).
func (b *Bar) newPB() *progressbar.ProgressBar {
	b.pbMax = b.wantMax()
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(b.label),
		progressbar.OptionSpinnerType(14),
		// No spinner goroutine: the spinner turns when the count moves, and
		// a bar that is never finished leaks no goroutine.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetRenderBlankState(true),
	}
	if b.grouped {
		// The group draws the line: the library renders label, percent
		// and bar into memory (String); count, rate and ETA come from the
		// meter.
		opts = append(opts, progressbar.OptionSetWriter(io.Discard), progressbar.OptionSetWidth(groupBarWidth),
			progressbar.OptionSetPredictTime(false), progressbar.OptionSetElapsedTime(false))
	} else {
		w := b.w
		opts = append(opts, progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(barWidth),
			progressbar.OptionShowCount(), progressbar.OptionShowTotalBytes(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
		if b.unit == "" {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(b.unit))
		}
	}
	pb := progressbar.NewOptions64(b.pbMax, opts...)
	// The next draw waits redrawEvery, so the library's first rate is not
	// a count over microseconds.
	b.synced = time.Now()
	if b.n != 0 {
		_ = pb.Set64(b.n)
	}
	return pb
}

// redrawEvery throttles drawing: counting is cheap, drawing a line per
// 32 KiB read is not.
const redrawEvery = 100 * time.Millisecond

// sync brings the library bar to b's count and total, at most every
// redrawEvery unless force. The throttle lives here, not in the library, so
// Finish can always show the last count. Called with b.mu held.
func (b *Bar) sync(force bool) {
	if b.pb == nil || b.done {
		return
	}
	now := time.Now()
	if !force && now.Sub(b.synced) < redrawEvery {
		return
	}
	b.synced = now
	want := b.wantMax()
	if (want < 0) != (b.pbMax < 0) {
		// Known ↔ unknown total: the library's spinner count wraps at the
		// bar width, so it cannot switch; start a new bar on the line.
		if !b.grouped {
			_ = b.pb.Clear()
		}
		b.pb = b.newPB()
		return
	}
	if want != b.pbMax {
		b.pbMax = want
		b.pb.ChangeMax64(want)
	}
	_ = b.pb.Set64(b.n) // errors are the writer's; a bar never fails the work
}

// Enabled reports whether the bar draws anything.
func (b *Bar) Enabled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pb != nil
}

// Add adds n to the count.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += n
	b.meter.Observe(time.Now(), b.n)
	b.sync(false)
}

// Set sets the count to n.
func (b *Bar) Set(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n = n
	b.meter.Observe(time.Now(), b.n)
	b.sync(false)
}

// SetTotal changes the total (≤ 0: unknown).
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = total
	b.sync(false)
}

// Describe changes the label.
func (b *Bar) Describe(label string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if label == b.label {
		return
	}
	b.label = label
	if b.pb != nil {
		b.pb.Describe(label)
	}
}

// Detail sets a short text a bar in a Group shows after its count in place
// of its rate, e.g. the bytes behind a count of blocks. Standalone bars
// ignore it.
func (b *Bar) Detail(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detail = s
}

// Count returns the count.
func (b *Bar) Count() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Total returns the total (≤ 0: unknown).
func (b *Bar) Total() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Finish ends the bar: one that reached its total (or had none) is shown
// complete; one that did not (the work failed) is left as it stands. A
// standalone bar then moves to a new line, so what follows is not drawn
// over it. Later calls do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.sync(true)
	b.done = true
	if b.pb == nil {
		return
	}
	switch {
	case b.pbMax < 0:
		_ = b.pb.Finish()
	case b.n >= b.total:
		if b.pbMax != b.n {
			b.pbMax = b.n
			b.pb.ChangeMax64(b.n) // reaches max: the library completes the bar
		}
		_ = b.pb.Finish()
	case !b.grouped:
		_ = b.pb.Exit() // keeps the line, ends it
	}
}

// Reader returns a reader that reads r and adds the bytes read to the count.
func (b *Bar) Reader(r io.Reader) io.Reader { return &countingReader{r: r, b: b} }

// Writer returns a writer that writes to w and adds the bytes written to the
// count.
func (b *Bar) Writer(w io.Writer) io.Writer { return &countingWriter{w: w, b: b} }

type countingReader struct {
	r io.Reader
	b *Bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.b.Add(int64(n))
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	b *Bar
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.b.Add(int64(n))
	}
	return n, err
}

// groupLine is the bar's line in a group: the library's label, percent and
// bar, then count, detail or rate, and ETA.
func (b *Bar) groupLine(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb == nil {
		return ""
	}
	b.meter.Observe(now, b.n) // a stalled transfer's rate falls
	b.sync(true)
	line := strings.TrimRight(strings.ReplaceAll(b.pb.String(), "\r", ""), " ")
	parts := []string{b.count()}
	rate := b.meter.Rate()
	switch {
	case b.detail != "":
		parts = append(parts, b.detail)
	case rate > 0 && b.unit == "":
		parts = append(parts, units.Bytes(int64(rate))+"/s")
	case rate > 0:
		parts = append(parts, fmt.Sprintf("%.0f %s/s", rate, b.unit))
	}
	if !b.done && b.total > b.n && rate > 0 {
		eta := time.Duration(float64(b.total-b.n) / rate * float64(time.Second))
		parts = append(parts, "ETA "+eta.Round(time.Second).String())
	}
	return line + " " + strings.Join(parts, ", ")
}

// count formats count of total. Called with b.mu held.
func (b *Bar) count() string {
	switch {
	case b.unit == "" && b.total > 0:
		return units.Bytes(b.n) + "/" + units.Bytes(b.total)
	case b.unit == "":
		return units.Bytes(b.n)
	case b.total > 0:
		return fmt.Sprintf("%d/%d %s", b.n, b.total, b.unit)
	}
	return fmt.Sprintf("%d %s", b.n, b.unit)
}

// Meter estimates a rate from timed observations of a count, over a
// sliding window. The first observation is only a baseline, so work done
// before it (a resumed transfer) never counts as speed. A Meter is not safe
// for concurrent use; its zero value is ready (10 s window).
type Meter struct {
	Window  time.Duration // 0: 10 s
	samples []sample
}

type sample struct {
	t time.Time
	n int64
}

// Observe records that the count was n at t.
func (m *Meter) Observe(t time.Time, n int64) {
	window := m.Window
	if window <= 0 {
		window = 10 * time.Second
	}
	if k := len(m.samples); k > 0 && n < m.samples[k-1].n {
		m.samples = m.samples[:0] // the count went back: start over
	}
	if k := len(m.samples); k > 1 && t.Sub(m.samples[k-2].t) < 100*time.Millisecond {
		m.samples[k-1] = sample{t, n} // many small reads: keep one sample per 100 ms
	} else {
		m.samples = append(m.samples, sample{t, n})
	}
	i := 0
	for i < len(m.samples)-2 && t.Sub(m.samples[i+1].t) >= window {
		i++
	}
	if i > 0 {
		m.samples = append(m.samples[:0], m.samples[i:]...)
	}
}

// Rate is the count per second over the window: 0 until two observations
// at least half a second apart.
func (m *Meter) Rate() float64 {
	if len(m.samples) < 2 {
		return 0
	}
	a, z := m.samples[0], m.samples[len(m.samples)-1]
	dt := z.t.Sub(a.t).Seconds()
	if dt < 0.5 {
		return 0
	}
	return float64(z.n-a.n) / dt
}

// Group draws several bars, one line each, redrawn in place by Draw, with
// Println printing lines above them. On a writer that is not a terminal it
// draws no bars (they still count) and Println prints plain lines. A Group
// is safe for concurrent use.
type Group struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	bars    []*Bar
	drawn   int // lines of bars on screen below the cursor's line
}

// NewGroup returns a group drawing on w if w is a terminal.
func NewGroup(w io.Writer) *Group { return NewGroupWith(w, Options{}) }

// NewGroupWith is NewGroup with options (only Force applies).
func NewGroupWith(w io.Writer, o Options) *Group {
	return &Group{w: w, enabled: w != nil && (o.Force || IsTerminal(w))}
}

// Enabled reports whether the group draws bars.
func (g *Group) Enabled() bool { return g.enabled }

// NewBar adds a bar counting unit ("" for bytes) towards total (≤ 0:
// unknown). It shows at the next Draw.
func (g *Group) NewBar(total int64, label, unit string) *Bar {
	b := &Bar{grouped: true, unit: unit, label: label, total: total}
	if g.enabled {
		b.pb = b.newPB()
	}
	g.mu.Lock()
	g.bars = append(g.bars, b)
	g.mu.Unlock()
	return b
}

// Remove takes b out of the group; its line goes at the next Draw.
func (g *Group) Remove(b *Bar) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, x := range g.bars {
		if x == b {
			g.bars = append(g.bars[:i], g.bars[i+1:]...)
			return
		}
	}
}

// Draw redraws every bar in place.
func (g *Group) Draw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.enabled {
		g.draw("")
	}
}

// Println prints line above the bars (or, without a terminal, as a plain
// line).
func (g *Group) Println(line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.enabled {
		fmt.Fprintln(g.w, line)
		return
	}
	g.draw(line + "\n")
}

// draw erases the bars drawn last, writes above (if any) and the bars, in
// one write. Called with g.mu held.
func (g *Group) draw(above string) {
	var sb strings.Builder
	if g.drawn > 0 {
		fmt.Fprintf(&sb, "\033[%dA\r\033[J", g.drawn) // up to the first bar, erase to the end of the screen
	}
	sb.WriteString(above)
	width := 80
	if f, ok := g.w.(interface{ Fd() uintptr }); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			width = cols
		}
	}
	now := time.Now()
	for _, b := range g.bars {
		// One column short of the width, so a line never wraps (which
		// would break moving up over the bars).
		sb.WriteString(truncate(b.groupLine(now), width-1))
		sb.WriteByte('\n')
	}
	g.drawn = len(g.bars)
	_, _ = io.WriteString(g.w, sb.String())
}

func truncate(s string, cols int) string {
	if cols < 1 || utf8.RuneCountInString(s) <= cols {
		return s
	}
	r := []rune(s)
	return string(r[:cols])
}
