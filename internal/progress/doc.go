// Package progress draws progress bars (bytes or another unit, rate, ETA)
// for long-running commands, and draws nothing at all when the output is
// not a terminal.
//
// # Why a wrapper
//
// The bars themselves come from github.com/schollz/progressbar/v3. Every
// command goes through this package instead of calling it directly, for two
// reasons:
//
//   - Terminal detection in one place. progressbar writes wherever it is
//     told, including a pipe, a log file, a CI transcript or a test's
//     bytes.Buffer, where carriage returns and escape codes are noise. [New]
//     draws only when its writer is a terminal (golang.org/x/term; TERM=dumb
//     counts as no terminal) and is otherwise silent, so a command can
//     always make a bar and never has to ask. [Options.Force] draws anyway
//     (tests, or a future --progress=always).
//   - One look for every command. publish, export, import and `status
//     --watch` all show the same bar: label, percent, bar, count of total in
//     binary units (KiB, MiB, as internal/units prints them), rate and ETA.
//     A wrapper also hides the library's sharp edges: a bar whose count
//     reaches its total early (a total discovered as the work goes, such as
//     a DAG fetched level by level) does not end prematurely, a change
//     between a known and an unknown total is handled, and Finish on an
//     incomplete bar does not pretend it completed.
//
// # What lives here
//
//   - [Bar], made by [New] or [NewWith]: one bar on one line, with [Bar.Add],
//     [Bar.Set], [Bar.SetTotal], [Bar.Finish], [Bar.Reader] and
//     [Bar.Writer] (counting wrappers), and [Bar.Enabled]. A disabled bar
//     still counts ([Bar.Count]), so callers need no second code path.
//   - [Group]: several bars redrawn in place, one line each, with
//     [Group.Println] printing a line above them; for `tocsin status
//     --watch`, which shows one bar per release being fetched. On a
//     non-terminal a Group draws no bars and Println prints plain lines.
//     Bars in a group compute their rate and ETA from a sliding window
//     ([Meter]), so a bar that starts part-way (a fetch resumed before the
//     watch began) does not report the work already done as speed.
//   - [IsTerminal], the detection every constructor uses.
//
// Everything here is safe for concurrent use. A bar with an unknown total
// (≤ 0) shows a spinner and the count; call [Bar.Finish] to end its line.
package progress
