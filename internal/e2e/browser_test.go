package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
)

// TestBrowserDashboard drives the operator dashboard in headless Chromium
// against real processes: a seed and three devices of a safety-related group
// (never auto-authorised) under one owner policy; the first device serves the
// HTTP API with a token and holds the local operator's key. A release is
// published; the test opens the dashboard, sees the advisory, enters the
// token and an SIA reference, clicks Authorise, and watches the rollout card
// count three devices installed. Screenshots are saved under $TEST_ARTIFACTS
// (or a temporary directory, logged).
//
// It is skipped, saying why, when no Chromium is installed (Debian:
// apt-get install -y chromium; or set CHROME_BIN).
func TestBrowserDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and a browser; skipped in -short mode")
	}
	chrome := findChromium()
	if chrome == "" {
		msg := "TestBrowserDashboard skipped: no Chromium found (looked for $CHROME_BIN, chromium, chromium-browser, google-chrome, headless-shell); install it with: apt-get install -y chromium"
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	if help, _, _ := tocsin(t, "node", "--help"); !strings.Contains(help, "--api") {
		msg := "TestBrowserDashboard skipped: `tocsin node` has no --api flag yet (node.ServeAPI is not wired into the CLI)"
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}

	dir := t.TempDir()
	key, op, root := filepath.Join(dir, "supplier.key"), filepath.Join(dir, "operator.key"), filepath.Join(dir, "root.json")
	for _, args := range [][]string{
		{"keygen", "-o", key}, {"keygen", "-o", op}, {"root", "init", "--root-key", key, "-o", root},
	} {
		if _, e, code := tocsin(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, e)
		}
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(`version: 1
operator_keys: [operator.key.pub]
zones: [{name: cell, target_sl: 2}]
groups: [{name: line, zone: cell, safety_related: true}]
rollout: {waves: [1.0], soak: 0s}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var raw [24]byte
	rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	tokenFile := filepath.Join(dir, "api.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	seedDir := filepath.Join(dir, "seed")
	os.MkdirAll(seedDir, 0o700)
	startProc(t, filepath.Join(seedDir, "out.log"), "seed", "--data", seedDir, "--trust-root", root, "--listen", "/ip4/127.0.0.1/tcp/0")
	seedSt := waitStatus(t, seedDir, "seed addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
	// The devices bootstrap from the seed and from the first device, their
	// neighbour: a seed without the owner policy does not relay operator
	// decisions (it cannot verify them), so decisions travel device to
	// device, as on a plant network.
	var devDirs []string
	boot := seedSt.Addrs
	for i := range 3 {
		devDir := filepath.Join(dir, fmt.Sprintf("dev%d", i))
		cfg := writeConfig(t, devDir, root, boot)
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, append(b, []byte("policy: "+pol+"\ngroup: line\n")...), 0o600)
		args := []string{"node", "--config", cfg}
		if i == 0 {
			args = append(args, "--api", "127.0.0.1:0", "--api-token-file", tokenFile, "--operator-key", op)
		}
		startProc(t, filepath.Join(devDir, "out.log"), args...)
		st := waitStatus(t, devDir, "device addrs", 30*time.Second, func(s node.Status) bool { return len(s.Addrs) > 0 })
		if i == 0 {
			boot = append(append([]string(nil), seedSt.Addrs...), st.Addrs...)
		}
		devDirs = append(devDirs, devDir)
	}
	url := apiURL(t, filepath.Join(devDirs[0], "out.log"))
	t.Logf("dashboard at %s", url)

	file := filepath.Join(dir, "fw.bin")
	os.WriteFile(file, []byte(strings.Repeat("firmware ", 60000)), 0o600)
	if _, e, code := tocsin(t, "publish", "--key", key, "--seed-dir", seedDir, "--product", "plc-fw", "--version", "2.0.0",
		"--file", file, "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--exploited", "active", "--deployed", "5000"); code != 0 {
		t.Fatalf("publish: %s", e)
	}
	const id = "plc-fw@2.0.0"

	// The browser.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("no-pings", true), chromedp.Flag("disable-domain-reliability", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	con := watchConsole(bctx)
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s in %s: %v", url, chrome, err)
	}
	arts := artifactsDir(t)
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		p := filepath.Join(arts, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		t.Logf("screenshot: %s", p)
	}
	step := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			shot("dashboard-failed.png")
			t.Fatalf("%s: %v\nbrowser console:\n%s\ndevice log:\n%s", what, err, con.String(), logTail(devDirs[0]))
		}
	}
	// waitJS polls a JavaScript predicate once a second; a failure names
	// what was awaited and the value last seen.
	waitJS := func(what string, timeout time.Duration, expr, probe string) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			ctx, cancel := context.WithTimeout(bctx, 5*time.Second)
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
			cancel()
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				ctx, cancel := context.WithTimeout(bctx, 5*time.Second)
				seen, _ := chromedp.Run(ctx, chromedp.Evaluate[string](probe))
				cancel()
				shot("dashboard-failed.png")
				t.Fatalf("timed out waiting for %s (last seen %q, err %v)\nbrowser console:\n%s\ndevice log:\n%s", what, seen, err, con.String(), logTail(devDirs[0]))
			}
			time.Sleep(time.Second)
		}
	}

	advRow := chromedp.CSS(`tr.advisory[data-release="` + id + `"]`)
	step("the advisory appears on the dashboard", 60*time.Second, chromedp.WaitVisible(advRow))
	waitJS("the three devices to report the release, awaiting a decision", 60*time.Second,
		`document.querySelector('.release[data-release="`+id+`"] .fleet-count[data-state="in-internal-test"]')?.textContent === "3"`,
		`document.querySelector('.release[data-release="`+id+`"] .release-fleet')?.innerText || "no rollout card"`)
	waitJS("the devices to be counted in the overview", 10*time.Second,
		`document.querySelector('#ov-devices').textContent === "3"`, `document.querySelector('#ov-devices').textContent`)
	state, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`tr.advisory[data-release="`+id+`"] .c-local`)))
	if err != nil || !strings.Contains(state, "in-internal-test") {
		t.Fatalf("the advisory row shows %q (%v), want the device waiting in internal test", state, err)
	}
	shot("dashboard-awaiting-decision.png")

	// Enter the token, then authorise with an SIA reference.
	authorise := chromedp.CSS(`button.authorise[data-release="` + id + `"]`)
	step("enter the API token", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#token-save")))
	waitJS("the Authorise button to be enabled", 10*time.Second,
		`!document.querySelector('button.authorise[data-release="`+id+`"]').disabled`,
		`document.querySelector('button.authorise[data-release="`+id+`"]').title`)
	group, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS(`input.group[data-release="`+id+`"]`)))
	if err != nil || group != "line" {
		t.Fatalf("the group field holds %q (%v), want this device's group", group, err)
	}
	step("fill in the SIA reference and click Authorise", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS(`input.sia[data-release="`+id+`"]`), "SIA-2026-042"),
		chromedp.SendKeys(chromedp.CSS(`input.reason[data-release="`+id+`"]`), "bench-tested on line 3"),
		chromedp.Click(authorise))
	waitJS("the dashboard to confirm the decision", 15*time.Second,
		`[...document.querySelectorAll('#messages .msg-ok')].some(m => m.textContent.includes('Authorised `+id+`'))`,
		`document.querySelector('#messages').innerText`)
	waitJS("three devices installed in the rollout card", 90*time.Second,
		`document.querySelector('.release[data-release="`+id+`"] .fleet-count[data-state="installed"]')?.textContent === "3"`,
		`document.querySelector('.release[data-release="`+id+`"] .release-fleet')?.innerText || "no rollout card"`)
	step("the advisory row shows this device installed", 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`tr.advisory[data-release="`+id+`"] .c-local .state-installed`)))
	// Per-device detail: a click on another device's row.
	other, err := node.ReadStatus(devDirs[1])
	if err != nil {
		t.Fatal(err)
	}
	step("open another device's detail", 10*time.Second,
		chromedp.Click(chromedp.CSS(`tr.device[data-device="`+other.PeerID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.device-detail`)))
	detail, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`tr.device-detail`)))
	if err != nil || !strings.Contains(detail, other.PeerID) || !strings.Contains(detail, "installed") {
		t.Fatalf("device detail %q (%v)", detail, err)
	}
	shot("dashboard-installed.png")

	// What the dashboard showed is what the devices did.
	for i, d := range devDirs {
		st := waitStatus(t, d, "installed", 10*time.Second, func(s node.Status) bool {
			r := s.Releases[id]
			return r != nil && r.Lifecycle.State == policy.StateInstalled
		})
		var sia bool
		for _, h := range st.Releases[id].Lifecycle.History {
			sia = sia || (h.Event == policy.EvAuthorise && h.Ref == "SIA-2026-042" && strings.HasPrefix(h.Actor, "operator "))
		}
		if !sia {
			t.Fatalf("device %d: no authorisation with the SIA reference in its history: %+v", i, st.Releases[id].Lifecycle.History)
		}
	}
	// The fleet view over the API (status.json is written on local changes
	// only, so its fleet view may lag).
	var fleet node.FleetDetail
	resp, err := http.Get(url + "api/v1/fleet")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&fleet)
	resp.Body.Close()
	if err != nil || fleet.Releases[id] == nil || fleet.Releases[id].States["installed"] != 3 || len(fleet.Devices) != 3 {
		t.Fatalf("device 0's fleet view over the API: %+v (%v)", fleet, err)
	}
	if bad := con.problems(); len(bad) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(bad, "\n"))
	}
}

// findChromium returns the Chromium (or Chrome) binary to drive, or "".
func findChromium() string {
	if p := os.Getenv("CHROME_BIN"); p != "" {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

var reAPIURL = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`)

// apiURL waits for the device to log (or print) its API address.
func apiURL(t *testing.T, logPath string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if u := reAPIURL.Find(b); u != nil {
			return string(u)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device never printed its API address (http://127.0.0.1:PORT/):\n%s", tail(string(b), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// artifactsDir is $TEST_ARTIFACTS, or a directory under the system's
// temporary directory that outlives the test (for the screenshots).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tocsin-test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func logTail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "out.log"))
	return tail(string(b), 3000)
}

// consoleLog collects what the page logs.
type consoleLog struct {
	mu    sync.Mutex
	lines []string
	bad   []string
}

// watchConsole records the page's console messages, exceptions and browser
// log entries. Exceptions and Content-Security-Policy violations are
// problems: the dashboard must run clean under its own policy.
func watchConsole(ctx context.Context) *consoleLog {
	c := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			line := fmt.Sprintf("[%s] %s (%s:%d)", m.Type, m.Text, m.URL, m.Line)
			c.mu.Lock()
			c.lines = append(c.lines, line)
			if m.Type == chromedp.ConsoleException || strings.Contains(m.Text, "Content Security Policy") {
				c.bad = append(c.bad, line)
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

func (c *consoleLog) problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}
