package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// watchBuf is a bytes.Buffer the test reads while the watch writes.
type watchBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *watchBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *watchBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// setWatch polls every interval and draws bars or not, for this test.
func setWatch(t *testing.T, interval time.Duration, terminal bool) {
	t.Helper()
	oldI, oldT := watchInterval, watchTerminal
	watchInterval = interval
	watchTerminal = func(io.Writer) bool { return terminal }
	t.Cleanup(func() { watchInterval, watchTerminal = oldI, oldT })
}

// writeWatchStatus writes status.json (as a stopped node leaves it; no
// control socket answers in dir) with one release whose state is the JSON
// object rel.
func writeWatchStatus(t *testing.T, dir, id, rel string) {
	t.Helper()
	b := fmt.Sprintf(`{"peer_id":"12D3KooWtest","role":"device","peers":3,"releases":{%q:%s}}`, id, rel)
	tmp := filepath.Join(dir, "status.json.tmp")
	if err := os.WriteFile(tmp, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "status.json")); err != nil {
		t.Fatal(err)
	}
}

func fetchingJSON(present, fetched, total int, bytes int64) string {
	return fmt.Sprintf(`{"release_id":"x","phase":"fetching","lifecycle":{"state":"authorised"},"fetch":{"blocks_total":%d,"blocks_present_at_start":%d,"blocks_fetched":%d,"bytes_fetched":%d}}`,
		total, present, fetched, bytes)
}

const installedJSON = `{"phase":"installed","fetched":true,"lifecycle":{"state":"installed"},"fetch":{"blocks_total":10,"blocks_fetched":10,"bytes_fetched":10240,"duration_seconds":1.5}}`

// startWatch runs the CLI in the background; the exit code arrives on the
// channel.
func startWatch(ctx context.Context, args ...string) (<-chan int, *watchBuf, *watchBuf) {
	out, errOut := &watchBuf{}, &watchBuf{}
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, out, errOut) }()
	return done, out, errOut
}

func waitOutput(t *testing.T, b *watchBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after 10s:\n%s", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitExit(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not exit within 10s")
	}
	return -1
}

func TestStatusWatchPlainUntilInstalled(t *testing.T) {
	setWatch(t, 10*time.Millisecond, false)
	dir := t.TempDir()
	writeWatchStatus(t, dir, "acme@2.4.1", fetchingJSON(0, 2, 10, 2048))
	done, out, errOut := startWatch(context.Background(), "status", "--data", dir, "--until-installed", "acme@2.4.1")
	waitOutput(t, out, "node 12D3KooWtest")
	writeWatchStatus(t, dir, "acme@2.4.1", fetchingJSON(0, 6, 10, 6144))
	waitOutput(t, out, "acme@2.4.1 fetching 6/10 blocks, 6.0KiB; lifecycle authorised\n")
	time.Sleep(50 * time.Millisecond) // several polls of the same state
	writeWatchStatus(t, dir, "acme@2.4.1", installedJSON)
	if code := waitExit(t, done); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	got := out.String()
	if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d acme@2\.4\.1 installed; lifecycle installed$`).MatchString(got) {
		t.Errorf("no installed line:\n%s", got)
	}
	if n := strings.Count(got, "fetching 6/10"); n != 1 {
		t.Errorf("the same state printed %d times, want once per change:\n%s", n, got)
	}
	if strings.ContainsAny(got, "\r\x1b") || errOut.String() != "" {
		t.Errorf("without a terminal the watch drew: stdout %q, stderr %q", got, errOut.String())
	}
}

func TestStatusWatchUntilSettledAtOnce(t *testing.T) {
	setWatch(t, 10*time.Millisecond, false)
	for _, tc := range []struct {
		rel     string
		code    int
		wantErr string
	}{
		{installedJSON, 0, ""},
		{`{"phase":"failed","failed_step":"install","attempts":2,"lifecycle":{"state":"install-failed"},"error":"installer exited 1\nsee the log"}`, 1,
			"tocsin: acme@2.4.1 failed (install, attempt 2); lifecycle install-failed; installer exited 1; see the log\n"},
		{`{"phase":"recalled","recalled":true}`, 1, "tocsin: acme@2.4.1 recalled\n"},
	} {
		dir := t.TempDir()
		writeWatchStatus(t, dir, "acme@2.4.1", tc.rel)
		done, _, errOut := startWatch(context.Background(), "status", "--data", dir, "--until-installed", "acme@2.4.1")
		if code := waitExit(t, done); code != tc.code || errOut.String() != tc.wantErr {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", tc.rel, code, errOut.String(), tc.code, tc.wantErr)
		}
	}
}

func TestStatusWatchFailsWhileWatching(t *testing.T) {
	setWatch(t, 10*time.Millisecond, false)
	dir := t.TempDir()
	writeWatchStatus(t, dir, "acme@2.4.1", fetchingJSON(0, 1, 10, 1024))
	done, out, errOut := startWatch(context.Background(), "status", "--data", dir, "--until-installed", "acme@2.4.1")
	waitOutput(t, out, "node 12D3KooWtest")
	writeWatchStatus(t, dir, "acme@2.4.1", `{"phase":"failed","failed_step":"fetch","attempts":1,"error":"release larger than allowed"}`)
	if code := waitExit(t, done); code != 1 || !strings.HasPrefix(errOut.String(), "tocsin: acme@2.4.1 failed (fetch, attempt 1)") ||
		strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestStatusWatchStopsOnInterrupt(t *testing.T) {
	setWatch(t, 10*time.Millisecond, false)
	dir := t.TempDir()
	writeWatchStatus(t, dir, "acme@2.4.1", fetchingJSON(0, 1, 10, 1024))
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"status", "--data", dir, "--watch"}, 0},
		{[]string{"status", "--data", dir, "--until-installed", "other@1.0"}, 130}, // interrupted before it was installed
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done, out, errOut := startWatch(ctx, tc.args...)
		waitOutput(t, out, "node 12D3KooWtest")
		time.Sleep(30 * time.Millisecond)
		cancel()
		if code := waitExit(t, done); code != tc.code || errOut.String() != "" {
			t.Errorf("%v: exit %d, stderr %q; want %d", tc.args, code, errOut.String(), tc.code)
		}
	}
}

func TestStatusWatchBarsOnTerminal(t *testing.T) {
	setWatch(t, 20*time.Millisecond, true)
	dir := t.TempDir()
	// A resumed fetch: 100 of the DAG's blocks were held before the watch.
	writeWatchStatus(t, dir, "acme@2.4.1", fetchingJSON(100, 0, 400, 0))
	done, out, errOut := startWatch(context.Background(), "status", "--data", dir, "--until-installed", "acme@2.4.1")
	waitOutput(t, out, "node 12D3KooWtest")
	for i := 1; i <= 50; i++ {
		writeWatchStatus(t, dir, "acme@2.4.1", fetchingJSON(100, i*5, 400, int64(i*5)<<18))
		time.Sleep(20 * time.Millisecond)
	}
	writeWatchStatus(t, dir, "acme@2.4.1", installedJSON)
	if code := waitExit(t, done); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	got := out.String()
	if os.Getenv("WATCH_DEBUG") != "" {
		t.Logf("%s", got)
	}
	bar := regexp.MustCompile(`acme@2\.4\.1 +\d+% \|[█ ]+\| \d+/400 blocks, [0-9.]+MiB at [0-9.]+(K|M)iB/s, ETA \d+s`)
	if !bar.MatchString(got) {
		t.Errorf("no bar with count, bytes, rate and ETA:\n%q", got)
	}
	if !strings.Contains(got, "\x1b[1A\r\x1b[J") {
		t.Errorf("the bar is not redrawn in place:\n%q", got)
	}
	if !regexp.MustCompile(`\d\d:\d\d:\d\d acme@2\.4\.1 installed; lifecycle installed\n$`).MatchString(got) {
		t.Errorf("the watch does not end with the installed line:\n%q", got)
	}
	// The blocks held before the watch are not speed: 5 blocks per 20 ms
	// is at most about 250 blocks/s, so the ETA for 300 blocks is never 0s
	// while the count is far from the total.
	if m := regexp.MustCompile(` (1\d\d|2[0-4]\d)/400 blocks, [^\n\x1b]*ETA 0s`).FindString(got); m != "" {
		t.Errorf("ETA counts the blocks held before the watch: %q", m)
	}
}

func TestStatusWatchFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"status", "--data", t.TempDir(), "--watch", "--json"}, &out, &errOut); code != 1 ||
		errOut.String() != "tocsin: --json and --watch do not go together\n" {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
