package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tocsin-iiot/tocsin/internal/progress"
	"github.com/tocsin-iiot/tocsin/internal/units"
	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

func init() { register(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var dataDir, until string
	var asJSON, watch bool
	c := &cobra.Command{
		Use:   "status [--data DIR] [--json | --watch [--until-installed RELEASE]]",
		Short: "Show this node and the fleet view: each release's devices per lifecycle state, overdue devices",
		Long: `Show the node on --data (asked over its control socket, or read from
status.json when it is not running) and the fleet view it builds from every
device's signed status report: per release, how many devices are in each
IEC 62443-2-3 lifecycle state, per rollout wave, and which are past the
advisory's delivery deadline without the release installed.

With --watch, keep asking every second. On a terminal, each release being
fetched gets a progress bar (blocks of the DAG fetched, bytes, rate, ETA) and a
line is printed when a release is fetched, installed, fails or is recalled;
otherwise one plain line is printed per change. Ctrl-C stops. With
--until-installed RELEASE, stop once PRODUCT@VERSION is installed, or exit
non-zero when it fails or is recalled.`,
		Example: `  tocsin status --data /var/lib/tocsin
  tocsin status --data /var/lib/tocsin --json | jq .fleet
  tocsin status --data /var/lib/tocsin --watch
  tocsin status --data /var/lib/tocsin --until-installed acme-plc-fw@2.4.1 && echo done`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if until != "" {
				watch = true
			}
			if watch && asJSON {
				return fmt.Errorf("--json and --watch do not go together")
			}
			ctl := node.NewControlClient(dataDir)
			st, err := readStatus(cmd.Context(), ctl, dataDir)
			if err != nil {
				return err
			}
			if watch {
				return watchStatus(cmd.Context(), cmd.OutOrStdout(), ctl, dataDir, st, until)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	c.Flags().StringVar(&dataDir, "data", "/var/lib/tocsin", "the node's data dir")
	c.Flags().BoolVar(&asJSON, "json", false, "print the whole status as JSON")
	c.Flags().BoolVar(&watch, "watch", false, "keep watching: progress bars on a terminal, one line per change otherwise")
	c.Flags().StringVar(&until, "until-installed", "", "with --watch (implied): exit once RELEASE (PRODUCT@VERSION) is installed, non-zero if it fails")
	return c
}

// readStatus asks the node over its control socket, or reads the
// status.json it left. --watch keeps one client, so its polls reuse one
// connection.
func readStatus(ctx context.Context, ctl *node.ControlClient, dataDir string) (node.Status, error) {
	st, err := ctl.Status(ctx)
	if err != nil {
		if st, err = node.ReadStatus(dataDir); err != nil {
			return st, fmt.Errorf("no node answers on %s and %w", dataDir, err)
		}
	}
	return st, nil
}

func printStatus(w io.Writer, st node.Status) {
	fmt.Fprintf(w, "node %s (%s", st.PeerID, st.Role)
	if st.Group != "" {
		fmt.Fprintf(w, ", group %s", st.Group)
	}
	fmt.Fprintf(w, "), %d peers, root v%d, %s\n", st.Peers, st.Trust.RootVersion, st.Trust.Freshness.Detail)
	ids := make([]string, 0, len(st.Releases))
	for id := range st.Releases {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := st.Releases[id]
		line := fmt.Sprintf("  %-28s %-10s lifecycle %-16s", id, r.Phase, r.Lifecycle.State)
		if r.Gate != "" {
			line += " waiting: " + r.Gate
		} else if r.Error != "" {
			line += " " + r.Error
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if len(st.Fleet) == 0 {
		return
	}
	fmt.Fprintln(w, "fleet:")
	ids = ids[:0]
	for id := range st.Fleet {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fr := st.Fleet[id]
		states := make([]string, 0, len(fr.States))
		for s, n := range fr.States {
			states = append(states, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(states)
		fmt.Fprintf(w, "  %-28s %s\n", id, strings.Join(states, ", "))
		for _, o := range fr.Overdue {
			fmt.Fprintf(w, "    overdue: %s\n", o)
		}
	}
}

// How --watch polls and whether it draws bars; tests shorten the one and
// force the other.
var (
	watchInterval = time.Second
	watchTerminal = progress.IsTerminal
)

// watchTimeout bounds one poll, so a hung node does not freeze the watch.
const watchTimeout = 5 * time.Second

// releaseView is what --watch follows of one release.
type releaseView struct {
	phase      policy.Phase
	lifecycle  policy.State
	gate, err  string
	failedStep string
	attempts   int
	fetch      node.FetchStats
}

// blocksDone counts the blocks of the DAG the node holds: those present
// when the fetch began and those fetched since.
func (v releaseView) blocksDone() int64 {
	return int64(v.fetch.BlocksPresent + v.fetch.BlocksFetched)
}

func releaseViews(st node.Status) map[string]releaseView {
	m := make(map[string]releaseView, len(st.Releases))
	for id, r := range st.Releases {
		if r == nil {
			continue
		}
		v := releaseView{phase: r.Phase, lifecycle: r.Lifecycle.State, gate: r.Gate, err: r.Error,
			failedStep: r.FailedStep, attempts: r.Attempts, fetch: r.Fetch}
		if v.phase == policy.PhaseFetching && v.fetch.DurationSeconds > 0 {
			// The node sets the duration only when a fetch ends, and
			// replaces the stats at the first progress update of the next
			// one: until then they are the last attempt's.
			v.fetch = node.FetchStats{}
		}
		m[id] = v
	}
	return m
}

// releaseLine is one line about a release, as --watch prints it.
func releaseLine(id string, v releaseView) string {
	head := id + " " + v.phase.String()
	switch v.phase {
	case policy.PhaseFetching:
		head += fmt.Sprintf(" %d/%d blocks, %s", v.blocksDone(), v.fetch.BlocksTotal, units.Bytes(v.fetch.BytesFetched))
	case policy.PhaseFailed:
		if v.failedStep != "" {
			head += fmt.Sprintf(" (%s, attempt %d)", v.failedStep, v.attempts)
		}
	}
	parts := []string{head}
	if v.lifecycle.Valid() {
		parts = append(parts, "lifecycle "+v.lifecycle.String())
	}
	if v.gate != "" {
		parts = append(parts, "waiting: "+v.gate)
	} else if v.err != "" {
		parts = append(parts, oneLine(v.err))
	}
	return strings.Join(parts, "; ")
}

// statusWatch is the state of `tocsin status --watch` between polls.
type statusWatch struct {
	g     *progress.Group
	last  map[string]releaseView
	lines map[string]string // without a terminal: the last line printed per release
	bars  map[string]*fetchBar
	down  bool // the last poll failed (said once)
}

// fetchBar is one release's bar. The status carries the release's DAG
// progress but not its size (that is in the signed manifest, which the
// status does not include), so the bar counts blocks: those held of
// Fetch.BlocksTotal. BlocksTotal grows as the fetch discovers the DAG level
// by level, and the leaves (nearly all the bytes) come last, so the total is
// exact once the leaves are being fetched. The bytes fetched and their rate
// are shown beside the bar.
type fetchBar struct {
	bar   *progress.Bar
	bytes progress.Meter
}

func watchStatus(ctx context.Context, w io.Writer, ctl *node.ControlClient, dataDir string, st node.Status, until string) error {
	ws := &statusWatch{g: progress.NewGroupWith(w, progress.Options{Force: watchTerminal(w)}),
		last: map[string]releaseView{}, lines: map[string]string{}, bars: map[string]*fetchBar{}}
	printStatus(w, st)
	ws.update(st, true)
	if done, err := ws.reached(st, until); done {
		return err
	}
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if until != "" {
				return ctx.Err() // interrupted before the release was installed: 130
			}
			return nil
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, watchTimeout)
		st, err := readStatus(pctx, ctl, dataDir)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !ws.down {
				ws.g.Println(stamp() + oneLine(err.Error()))
			}
			ws.down = true
			continue
		}
		ws.down = false
		ws.update(st, false)
		if done, err := ws.reached(st, until); done {
			return err
		}
	}
}

func stamp() string { return time.Now().Format("15:04:05 ") }

// update shows what changed since the last poll: bars for the releases
// being fetched and a line when a release is fetched, installed, fails or
// is recalled (on a terminal), or one line per changed release (otherwise).
// The first poll only sets the baseline: printStatus has shown it.
func (ws *statusWatch) update(st node.Status, first bool) {
	now := time.Now()
	views := releaseViews(st)
	ids := make([]string, 0, len(views))
	width := 0
	for id, v := range views {
		ids = append(ids, id)
		if v.phase == policy.PhaseFetching {
			width = max(width, len(id))
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		v := views[id]
		prev, seen := ws.last[id]
		ws.last[id] = v
		if v.phase == policy.PhaseFetching {
			ws.showFetch(id, v, width, now)
		} else {
			ws.endFetch(id)
		}
		line := releaseLine(id, v)
		switch {
		case first:
			ws.lines[id] = line
		case !ws.g.Enabled():
			if line != ws.lines[id] {
				ws.g.Println(stamp() + line)
				ws.lines[id] = line
			}
		case (!seen || prev.phase != v.phase) && announced(v.phase):
			ws.g.Println(stamp() + line)
		}
	}
	for id := range ws.bars {
		if _, ok := views[id]; !ok {
			ws.endFetch(id)
		}
	}
	ws.g.Draw()
}

// announced: the phases a terminal watch prints a line for (a fetch shows
// as its bar).
func announced(p policy.Phase) bool {
	switch p {
	case policy.PhaseFetched, policy.PhaseInstalled, policy.PhaseFailed, policy.PhaseRecalled:
		return true
	}
	return false
}

func (ws *statusWatch) showFetch(id string, v releaseView, width int, now time.Time) {
	fb := ws.bars[id]
	if fb == nil {
		fb = &fetchBar{bar: ws.g.NewBar(0, id, "blocks")}
		ws.bars[id] = fb
	}
	fb.bar.Describe(fmt.Sprintf("%-*s", width, id))
	fb.bar.SetTotal(int64(v.fetch.BlocksTotal))
	fb.bar.Set(v.blocksDone()) // the first Set is the bar's baseline: blocks held before the watch are not speed
	fb.bytes.Observe(now, v.fetch.BytesFetched)
	detail := units.Bytes(v.fetch.BytesFetched)
	if r := fb.bytes.Rate(); r > 0 {
		detail += " at " + units.Bytes(int64(r)) + "/s"
	}
	fb.bar.Detail(detail)
}

func (ws *statusWatch) endFetch(id string) {
	if fb := ws.bars[id]; fb != nil {
		ws.g.Remove(fb.bar)
		delete(ws.bars, id)
	}
}

// reached reports whether --until-installed is settled: the release is
// installed (nil), or failed or was recalled (an error).
func (ws *statusWatch) reached(st node.Status, until string) (bool, error) {
	if until == "" {
		return false, nil
	}
	v, ok := releaseViews(st)[until]
	if !ok {
		return false, nil // not (yet) known to the node: keep waiting
	}
	switch v.phase {
	case policy.PhaseInstalled:
		return true, nil
	case policy.PhaseFailed, policy.PhaseRecalled:
		return true, fmt.Errorf("%s", releaseLine(until, v))
	}
	return false, nil
}
