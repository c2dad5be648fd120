package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	quick := flag.Bool("quick", false, "run only the quick subset (about a minute; for make test)")
	only := flag.String("only", "", "run only the checks whose id, name or package matches this regular expression")
	list := flag.Bool("list", false, "list the checks and exit")
	fuzzTime := flag.Duration("fuzztime", 0, "fuzz budget per target (default 20s; 3s with -quick)")
	verbose := flag.Bool("v", false, "copy every test's output to stderr")
	markdown := flag.String("markdown", "", "also write the table, with every cell in full, as Markdown to this file (for the README)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./internal/reliability [-quick] [-only REGEX] [-list] [-fuzztime D] [-v]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	var onlyRE *regexp.Regexp
	if *only != "" {
		var err error
		if onlyRE, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(os.Stderr, "reliability: -only: %v\n", err)
			os.Exit(2)
		}
	}
	var sel []check
	for _, c := range checks {
		if *quick && !c.Quick {
			continue
		}
		if onlyRE != nil && !onlyRE.MatchString(c.ID) && !onlyRE.MatchString(c.Name) && !onlyRE.MatchString(c.Pkg) {
			continue
		}
		sel = append(sel, c)
	}
	if *list {
		printTable(os.Stdout, sel, nil)
		return
	}
	if len(sel) == 0 {
		fmt.Fprintln(os.Stderr, "reliability: no check selected")
		os.Exit(2)
	}
	budget := fuzzBudget
	if *quick {
		budget = 3 * time.Second
	}
	if *fuzzTime > 0 {
		budget = *fuzzTime
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		os.Exit(2)
	}
	goBin, err := findGo()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		os.Exit(2)
	}
	env := append(os.Environ(), "TOCSIN_RELIABILITY=1", "PATH="+filepath.Dir(goBin)+string(os.PathListSeparator)+os.Getenv("PATH"))

	start := time.Now()
	gv, _ := exec.Command(goBin, "version").Output()
	fmt.Printf("reliability suite (issue 9) — %s — %s — %d CPUs, GOMAXPROCS %d\n", start.Format(time.RFC3339), strings.TrimSpace(string(gv)), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	mode := "full"
	if *quick {
		mode = "quick"
	}
	fmt.Printf("mode %s, %d checks selected, fuzz budget %s per target, euid %d\n\n", mode, len(sel), budget, os.Geteuid())

	results := make([]*result, len(sel))
	for i, c := range sel {
		fmt.Fprintf(os.Stderr, "[%d/%d] %-4s %s ... ", i+1, len(sel), c.ID, c.Name)
		r := runCheck(root, goBin, env, c, budget, *verbose)
		results[i] = r
		fmt.Fprintf(os.Stderr, "%s %s\n", r.Outcome, r.Elapsed.Round(100*time.Millisecond))
	}
	printTable(os.Stdout, sel, results)
	printFigures(os.Stdout, sel, results)
	printDetails(os.Stdout, sel, results)

	var n, failed, skipped, gaps int
	for _, r := range results {
		switch r.Outcome {
		case outcomeGap:
			gaps++
			continue
		case outcomeFail:
			failed++
		case outcomeSkip:
			skipped++
		}
		n++
	}
	fmt.Printf("\nreliability: %d passed, %d skipped, %d not covered (GAP rows); wall time %s\n", n-failed-skipped, skipped, gaps, time.Since(start).Round(time.Second))
	fmt.Printf("reliability: %d checks, %d failed\n", n, failed)
	if *markdown != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "Run %s on %s, %d CPUs (%s): **reliability: %d checks, %d failed**, wall time %s.\n\n",
			start.UTC().Format("2006-01-02 15:04 MST"), strings.TrimSpace(string(gv)), runtime.NumCPU(), mode, n, failed, time.Since(start).Round(time.Second))
		printMarkdown(&b, sel, results)
		if err := os.WriteFile(*markdown, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "reliability: -markdown: %v\n", err)
			os.Exit(2)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

const (
	outcomePass = "PASS"
	outcomeFail = "FAIL"
	outcomeSkip = "SKIP"
	outcomeGap  = "GAP"
)

// result is what one check's run came to.
type result struct {
	Outcome string
	Elapsed time.Duration
	Figures []figure // in the order logged
	Detail  []string // why it failed or skipped
	Tests   int      // tests and subtests that ran
}

// figure is one "reliability: k=v ..." line, and the test that logged it.
type figure struct {
	Test string
	KV   [][2]string
}

// event is one line of `go test -json` (test2json).
type event struct {
	Action  string
	Test    string
	Output  string
	Elapsed float64
}

var figureRE = regexp.MustCompile(`reliability: (.*)$`)

// fuzzRE picks the coordinator's progress lines.
var fuzzRE = regexp.MustCompile(`fuzz: elapsed: (\S+), execs: (\d+) \((\d+)/sec\), new interesting: (\d+) \(total: (\d+)\)`)

func runCheck(root, goBin string, env []string, c check, budget time.Duration, verbose bool) *result {
	if c.Gap != "" {
		return &result{Outcome: outcomeGap}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = testTimeout
	}
	args := []string{"test", "-json", "-count=1"}
	if c.Fuzz != "" {
		timeout = budget + 6*time.Minute // the instrumented build comes first
		// New inputs are minimised for at most a quarter of the budget
		// (Go's default, 60 s, can eat a short budget whole).
		args = append(args, "-run", "^$", "-fuzz", "^"+c.Fuzz+"$", "-fuzztime", budget.String(),
			"-fuzzminimizetime", max(budget/4, time.Second).String())
	} else {
		args = append(args, "-run", c.Run)
	}
	args = append(args, "-timeout", timeout.String(), c.Pkg)
	corpusDir := filepath.Join(root, c.Pkg, "testdata", "fuzz", c.Fuzz)
	corpusBefore := listDir(corpusDir)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir, cmd.Env = root, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return &result{Outcome: outcomeFail, Detail: []string{err.Error()}}
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return &result{Outcome: outcomeFail, Detail: []string{err.Error()}}
	}
	r := &result{}
	type testState struct {
		action string
		out    []string
	}
	tests := map[string]*testState{}
	var order []string
	var loose []string // output outside any test: build errors, panics, fuzz progress
	var fuzzLast []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if json.Unmarshal(line, &ev) != nil {
			loose = append(loose, string(line))
			continue
		}
		if verbose && ev.Output != "" {
			fmt.Fprint(os.Stderr, ev.Output)
		}
		if m := fuzzRE.FindStringSubmatch(ev.Output); m != nil {
			fuzzLast = m
		}
		if ev.Test == "" {
			if ev.Output != "" {
				loose = append(loose, strings.TrimRight(ev.Output, "\n"))
			}
			continue
		}
		st := tests[ev.Test]
		if st == nil {
			st = &testState{}
			tests[ev.Test] = st
			order = append(order, ev.Test)
		}
		switch ev.Action {
		case "pass", "fail", "skip":
			st.action = ev.Action
		case "output":
			o := strings.TrimRight(ev.Output, "\n")
			if m := figureRE.FindStringSubmatch(o); m != nil {
				r.Figures = append(r.Figures, figure{Test: ev.Test, KV: parseKV(m[1])})
			}
			st.out = append(st.out, o)
		}
	}
	werr := cmd.Wait()
	r.Elapsed = time.Since(t0)

	if c.Fuzz != "" && fuzzLast != nil {
		kv := [][2]string{{"elapsed", fuzzLast[1]}, {"execs", fuzzLast[2]}}
		if d, err := time.ParseDuration(fuzzLast[1]); err == nil && d > 0 {
			n, _ := strconv.ParseFloat(fuzzLast[2], 64)
			kv = append(kv, [2]string{"execs_per_s", strconv.Itoa(int(n / d.Seconds()))})
		}
		r.Figures = append(r.Figures, figure{Test: c.Fuzz, KV: append(kv, [2]string{"corpus", fuzzLast[5]})})
	}
	// Go 1.26's fuzz coordinator can fail a target with a bare "context
	// deadline exceeded" when -fuzztime ends while a worker is mid-call
	// (golang/go#75804, fixed in Go 1.27). That is no finding: no input
	// was written. Anything else that fails a fuzz target is one.
	if c.Fuzz != "" && werr != nil && tests[c.Fuzz] != nil && tests[c.Fuzz].action == "fail" {
		out := strings.Join(tests[c.Fuzz].out, "\n")
		if strings.Contains(out, "context deadline exceeded") && !strings.Contains(out, "Failing input written") &&
			len(listDir(corpusDir)) == len(corpusBefore) {
			tests[c.Fuzz].action = "pass"
			werr = nil
			r.Figures = append(r.Figures, figure{Test: c.Fuzz, KV: [][2]string{{"coordinator_deadline_race", "1"}, {"see", "golang/go#75804"}}})
		}
	}
	var failed, skipped, ran []string
	for _, name := range order {
		st := tests[name]
		if st.action == "" {
			continue
		}
		r.Tests++
		switch st.action {
		case "fail":
			failed = append(failed, name)
		case "skip":
			skipped = append(skipped, name)
		case "pass":
			ran = append(ran, name)
		}
	}
	switch {
	case ctx.Err() != nil:
		r.Outcome = outcomeFail
		r.Detail = append(r.Detail, fmt.Sprintf("killed after %s", timeout+time.Minute))
	case len(failed) > 0:
		r.Outcome = outcomeFail
		for _, name := range failed {
			if hasFailedChild(name, failed) {
				continue // its subtests say why
			}
			r.Detail = append(r.Detail, failureLines(name, tests[name].out)...)
		}
	case werr != nil:
		// No test failed but go test did: a build error, a panic, a
		// timeout, or a fuzz failure reported outside a test.
		r.Outcome = outcomeFail
		r.Detail = append(r.Detail, fmt.Sprintf("go test: %v", werr))
		r.Detail = append(r.Detail, tailLines(append(loose, strings.Split(strings.TrimSpace(stderr.String()), "\n")...), 20)...)
	case c.Fuzz == "" && r.Tests == 0:
		r.Outcome = outcomeFail
		r.Detail = append(r.Detail, fmt.Sprintf("no test matched -run %q in %s: the check is mapped to a test that does not exist", c.Run, c.Pkg))
	case c.Fuzz == "" && len(ran) == 0:
		r.Outcome = outcomeSkip
		for _, name := range skipped {
			r.Detail = append(r.Detail, skipLines(name, tests[name].out)...)
		}
	default:
		r.Outcome = outcomePass
	}
	return r
}

func hasFailedChild(name string, failed []string) bool {
	for _, f := range failed {
		if strings.HasPrefix(f, name+"/") {
			return true
		}
	}
	return false
}

// parseKV splits "k=v k2=v2" (values without spaces).
func parseKV(s string) [][2]string {
	var kv [][2]string
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		kv = append(kv, [2]string{k, v})
	}
	return kv
}

var noiseRE = regexp.MustCompile(`^(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|FAIL|SKIP)|PASS$|FAIL$|ok\s|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |time=)`)

// failureLines are a failed test's own messages (t.Error, t.Fatal), not
// the node's logs.
func failureLines(name string, out []string) []string {
	var msgs []string
	for i := 0; i < len(out); i++ {
		l := out[i]
		if noiseRE.MatchString(strings.TrimSpace(l)) || figureRE.MatchString(l) {
			continue
		}
		if strings.HasPrefix(l, "    ") && strings.Contains(l, "_test.go:") {
			msgs = append(msgs, strings.TrimSpace(l))
			// Continuation lines of a multi-line message are indented
			// further.
			for i+1 < len(out) && strings.HasPrefix(out[i+1], "        ") {
				i++
				msgs = append(msgs, "  "+strings.TrimSpace(out[i]))
			}
		}
	}
	if len(msgs) == 0 {
		var rest []string
		for _, l := range out {
			if !noiseRE.MatchString(strings.TrimSpace(l)) {
				rest = append(rest, l)
			}
		}
		msgs = tailLines(rest, 10)
	}
	if len(msgs) > 12 {
		msgs = append(msgs[:12], fmt.Sprintf("... %d more lines", len(msgs)-12))
	}
	for i := range msgs {
		if len(msgs[i]) > 400 {
			msgs[i] = msgs[i][:400] + " ..."
		}
		msgs[i] = name + ": " + msgs[i]
	}
	return msgs
}

func skipLines(name string, out []string) []string {
	for _, l := range out {
		if strings.Contains(l, "_test.go:") {
			return []string{name + ": " + strings.TrimSpace(l)}
		}
	}
	return []string{name + ": skipped"}
}

func tailLines(lines []string, n int) []string {
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// times is the "how many times" column: the sum of the "injected" figures
// the check's tests logged, or the check's own description.
func times(c check, r *result) string {
	if r != nil {
		total, found := 0, false
		for _, f := range r.Figures {
			for _, kv := range f.KV {
				if kv[0] == "injected" {
					if n, err := strconv.Atoi(kv[1]); err == nil {
						total += n
						found = true
					}
				}
			}
		}
		if found {
			return strconv.Itoa(total)
		}
		if c.Fuzz != "" {
			for _, f := range r.Figures {
				for _, kv := range f.KV {
					if kv[0] == "execs" {
						return kv[1] + " execs"
					}
				}
			}
		}
	}
	if c.Fuzz != "" {
		return "budget"
	}
	return c.Times
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func printTable(w io.Writer, sel []check, results []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCHECK\tPACKAGE\tINJECTED\tTIMES\tMUST HOLD\tOUTCOME\tTIME")
	for i, c := range sel {
		var r *result
		if results != nil {
			r = results[i]
		}
		outcome, el := "", ""
		if r != nil {
			outcome = r.Outcome
			if r.Outcome != outcomeGap {
				el = r.Elapsed.Round(100 * time.Millisecond).String()
			}
		}
		what, holds := c.Injected, c.Holds
		pkg := strings.TrimPrefix(c.Pkg, "./")
		if c.Gap != "" {
			what, holds, pkg = "—", "not covered: see below", "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, clip(c.Name, 40), pkg, clip(what, 52), clip(times(c, r), 20), clip(holds, 60), outcome, el)
	}
	tw.Flush()
}

// printMarkdown writes the table with every cell in full.
func printMarkdown(w io.Writer, sel []check, results []*result) {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
	fmt.Fprintln(w, "| id | check | injected | times | must hold | outcome |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for i, c := range sel {
		r := results[i]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s %s |\n", c.ID, cell(c.Name), cell(c.Injected), cell(times(c, r)), cell(c.Holds),
			r.Outcome, r.Elapsed.Round(100*time.Millisecond))
	}
}

func printFigures(w io.Writer, sel []check, results []*result) {
	fmt.Fprintln(w, "\nfigures (logged by the tests as \"reliability: key=value\"; fuzz: the last progress line):")
	for i, c := range sel {
		r := results[i]
		for _, f := range r.Figures {
			var parts []string
			for _, kv := range f.KV {
				parts = append(parts, kv[0]+"="+kv[1])
			}
			src := f.Test
			if j := strings.Index(src, "/"); j >= 0 {
				src = src[j+1:]
			}
			fmt.Fprintf(w, "  %-4s %s: %s\n", c.ID, src, strings.Join(parts, " "))
		}
	}
}

func printDetails(w io.Writer, sel []check, results []*result) {
	var ids []int
	for i, r := range results {
		if r.Outcome == outcomeFail || r.Outcome == outcomeSkip || r.Outcome == outcomeGap {
			ids = append(ids, i)
		}
	}
	if len(ids) == 0 {
		return
	}
	sort.SliceStable(ids, func(a, b int) bool { return results[ids[a]].Outcome < results[ids[b]].Outcome })
	fmt.Fprintln(w, "\nfailed, skipped and not covered:")
	for _, i := range ids {
		c, r := sel[i], results[i]
		fmt.Fprintf(w, "  %s %s (%s)\n", c.ID, r.Outcome, c.Name)
		if r.Outcome == outcomeGap {
			fmt.Fprintf(w, "      %s\n", c.Gap)
			continue
		}
		for _, d := range r.Detail {
			fmt.Fprintf(w, "      %s\n", d)
		}
	}
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/tocsin-iiot/tocsin")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the tocsin module (no go.mod found)")
		}
		dir = parent
	}
}

// findGo looks for go on PATH and in /usr/local/go/bin, as the Makefile
// does.
func findGo() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if p := "/usr/local/go/bin/go"; fileExists(p) {
		return p, nil
	}
	return "", errors.New("go not found on PATH or in /usr/local/go/bin")
}

// listDir names the entries of dir (none if it does not exist).
func listDir(dir string) []string {
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
