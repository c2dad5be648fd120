package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A netLab is a small IP network made of Linux network namespaces that the
// test creates and removes: one namespace per host, each with a veth whose
// other end sits on a bridge (br0) in a "hub" namespace, addresses
// 10.77.0.x/24. Nothing is added to the machine's own namespace, so two runs
// at once do not collide. Every host's nft table "inet loss" drops a random
// share of the packets it receives on eth0 (on the receiver's input hook:
// dropping on output makes the sender's write fail with EPERM instead of
// losing the packet), so every packet crossing any link is exposed to it.
type netLab struct {
	t      *testing.T
	prefix string // tcsn-<pid>-<n>
	hub    string
	hosts  []*netHost
	ip     string // path of ip(8)
	nft    string // path of nft(8)
}

// A netHost is one namespace on the lab's bridge.
type netHost struct {
	Name string // role in the test: "seed", "d0", ...
	NS   string // namespace name
	Addr string // IPv4 address on eth0
}

// netnsPrefix starts every namespace this file creates; the second field of
// the name is the pid of the test process that made it.
const netnsPrefix = "tcsn-"

var (
	netnsLabSeq    int
	netnsLabSeqMu  sync.Mutex
	netnsStaleOnce sync.Once
)

// netnsFindTool looks for an admin tool on PATH and in the sbin directories,
// which a root shell usually has on PATH but a sudo'ed or CI one may not.
func netnsFindTool(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// needNetns skips the test, with the reason, where the lab cannot be built.
func needNetns(t *testing.T) (ipPath, nftPath string) {
	t.Helper()
	if testing.Short() {
		t.Skip("netns: creates network namespaces and starts real processes; skipped in -short mode")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("netns: network namespaces are Linux only (GOOS=%s)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skipf("netns: needs root to create network namespaces, veth pairs and nft rules (euid %d); run the test as root", os.Geteuid())
	}
	ipPath, ok := netnsFindTool("ip")
	if !ok {
		t.Skip("netns: the `ip` command (iproute2) is not installed; apt-get install iproute2")
	}
	nftPath, ok = netnsFindTool("nft")
	if !ok {
		t.Skip("netns: the `nft` command is not installed; apt-get install nftables")
	}
	return ipPath, nftPath
}

// netnsRun runs a command and returns its combined output.
func netnsRun(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// netnsRemoveStale deletes namespaces left by earlier test processes
// that died before their cleanup ran (their pid is no longer alive, or is
// ours before we made any).
func netnsRemoveStale(ip string) {
	out, err := netnsRun(ip, "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], netnsPrefix) {
			continue
		}
		parts := strings.SplitN(strings.TrimPrefix(f[0], netnsPrefix), "-", 2)
		pid, err := strconv.Atoi(parts[0])
		if err != nil {
			continue
		}
		if pid != os.Getpid() && syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // another live test run owns it
		}
		_, _ = netnsRun(ip, "netns", "del", f[0])
	}
}

// newNetLab builds the namespaces, the bridge and the loss rules, or skips
// the test if the kernel or the sandbox will not let it. lossPercent is the
// share of received packets every host drops. Everything is removed in
// t.Cleanup, after the processes started with startProc are stopped.
func newNetLab(t *testing.T, names []string, lossPercent int) *netLab {
	t.Helper()
	ip, nft := needNetns(t)
	netnsStaleOnce.Do(func() { netnsRemoveStale(ip) })
	netnsLabSeqMu.Lock()
	netnsLabSeq++
	l := &netLab{t: t, prefix: fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), netnsLabSeq), ip: ip, nft: nft}
	netnsLabSeqMu.Unlock()
	l.hub = l.prefix + "-hub"

	var created []string
	t.Cleanup(func() {
		// Hosts first, then the hub (deleting it removes the bridge and
		// the veth ends on it).
		for i := len(created) - 1; i >= 0; i-- {
			if _, err := netnsRun(ip, "netns", "del", created[i]); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
		if out, err := netnsRun(ip, "netns", "list"); err == nil && strings.Contains(out, l.prefix+"-") {
			t.Errorf("cleanup: namespaces left behind:\n%s", out)
		}
	})

	if _, err := netnsRun(ip, "netns", "add", l.hub); err != nil {
		t.Skipf("netns: cannot create a network namespace here (no CAP_SYS_ADMIN, or a sandbox without netns): %v", err)
	}
	created = append(created, l.hub)
	setup := func(args ...string) {
		t.Helper()
		if _, err := netnsRun(ip, args...); err != nil {
			t.Skipf("netns: cannot build the test network (kernel without veth/bridge support?): %v", err)
		}
	}
	setup("-n", l.hub, "link", "add", "br0", "type", "bridge")
	setup("-n", l.hub, "link", "set", "br0", "up")
	setup("-n", l.hub, "link", "set", "lo", "up")
	for i, name := range names {
		h := &netHost{Name: name, NS: l.prefix + "-" + name, Addr: fmt.Sprintf("10.77.0.%d", i+1)}
		if _, err := netnsRun(ip, "netns", "add", h.NS); err != nil {
			t.Skipf("netns: cannot create a network namespace: %v", err)
		}
		created = append(created, h.NS)
		// Both veth ends are created in their namespaces directly; the
		// machine's own namespace never sees them.
		veth := fmt.Sprintf("v%d", i)
		setup("-n", l.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
		setup("-n", l.hub, "link", "set", veth, "master", "br0", "up")
		setup("-n", h.NS, "link", "set", "lo", "up")
		setup("-n", h.NS, "addr", "add", h.Addr+"/24", "dev", "eth0")
		setup("-n", h.NS, "link", "set", "eth0", "up")
		// One wire-sized packet per skb: without this, TCP hands veth
		// 64 KiB GSO packets and the rule would drop 45 segments at once.
		for _, dev := range [][2]string{{h.NS, "eth0"}, {l.hub, veth}} {
			if _, err := netnsRun(ip, "-n", dev[0], "link", "set", "dev", dev[1], "gso_max_segs", "1"); err != nil {
				t.Logf("netns: cannot turn off segmentation offload, losses will come in bursts: %v", err)
			}
		}
		rules := fmt.Sprintf(`table inet loss {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "eth0" numgen random mod 100 < %d counter drop
	}
}
`, lossPercent)
		if err := l.nftScript(h, rules); err != nil {
			t.Skipf("netns: cannot install the nft loss rule (kernel without nf_tables/numgen?): %v", err)
		}
		l.hosts = append(l.hosts, h)
	}
	return l
}

// host returns the host called name.
func (l *netLab) host(name string) *netHost {
	for _, h := range l.hosts {
		if h.Name == name {
			return h
		}
	}
	l.t.Fatalf("no host %q in the lab", name)
	return nil
}

// nftScript loads an nft script (nft -f -) in the host's namespace.
func (l *netLab) nftScript(h *netHost, script string) error {
	cmd := exec.Command(l.ip, "netns", "exec", h.NS, l.nft, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft -f in %s: %v: %s\nscript:\n%s", h.NS, err, strings.TrimSpace(string(out)), script)
	}
	return nil
}

// nftRun runs nft with args in the host's namespace.
func (l *netLab) nftRun(h *netHost, args ...string) (string, error) {
	return netnsRun(l.ip, append([]string{"netns", "exec", h.NS, l.nft}, args...)...)
}

var netnsCounterRE = regexp.MustCompile(`counter packets (\d+) bytes (\d+)`)

// dropped reads the packets and bytes the host's loss rule has dropped.
func (l *netLab) dropped(h *netHost) (packets, nbytes uint64) {
	l.t.Helper()
	out, err := l.nftRun(h, "list", "table", "inet", "loss")
	if err != nil {
		l.t.Fatalf("read drop counter: %v", err)
	}
	m := netnsCounterRE.FindStringSubmatch(out)
	if m == nil {
		l.t.Fatalf("no counter in the loss table of %s:\n%s", h.NS, out)
	}
	packets, _ = strconv.ParseUint(m[1], 10, 64)
	nbytes, _ = strconv.ParseUint(m[2], 10, 64)
	return packets, nbytes
}

// blockFrom makes the host drop every packet from the given addresses (a
// table of its own, "inet partition"); unblock removes it.
func (l *netLab) blockFrom(h *netHost, addrs []string) {
	l.t.Helper()
	script := fmt.Sprintf(`table inet partition {
	chain in {
		type filter hook input priority -10; policy accept;
		ip saddr { %s } counter drop
	}
}
`, strings.Join(addrs, ", "))
	if err := l.nftScript(h, script); err != nil {
		l.t.Fatal(err)
	}
}

func (l *netLab) unblock(h *netHost) {
	l.t.Helper()
	if _, err := l.nftRun(h, "delete", "table", "inet", "partition"); err != nil {
		l.t.Fatal(err)
	}
}

// startProc starts the tocsin binary inside the host's namespace (ip netns
// exec execs it, so the pid is tocsin's own) with output to logPath; it is
// stopped in t.Cleanup (SIGTERM, SIGKILL after 5 s), before the namespaces
// are deleted.
func (l *netLab) startProc(h *netHost, logPath string, args ...string) *exec.Cmd {
	t := l.t
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(l.ip, append([]string{"netns", "exec", h.NS, bin}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test process dies without its cleanup, the node dies too
	// (the next run deletes the namespaces it leaves).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

// netnsIdentity writes a device identity key into dir (where the node looks
// for it by default) and returns its peer ID, so that every config can name
// its bootstrap peers before any process runs.
func netnsIdentity(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	o, e, code := tocsin(t, "keygen", "--type", "device", "-o", filepath.Join(dir, "identity.key"))
	if code != 0 {
		t.Fatalf("keygen --type device: %s", e)
	}
	f := strings.Fields(o + " " + e)
	for i := range f {
		if f[i] == "id" && i+1 < len(f) && strings.HasPrefix(f[i+1], "12D3Koo") {
			return f[i+1]
		}
	}
	t.Fatalf("no peer id in keygen output %q %q", o, e)
	return ""
}

// p2pAddrs are a host's TCP and QUIC multiaddrs on port 4001 for peer id.
func (h *netHost) p2pAddrs(id string) []string {
	return []string{
		fmt.Sprintf("/ip4/%s/tcp/4001/p2p/%s", h.Addr, id),
		fmt.Sprintf("/ip4/%s/udp/4001/quic-v1/p2p/%s", h.Addr, id),
	}
}

// listenAddrs are the TCP and QUIC listen multiaddrs of a host.
func (h *netHost) listenAddrs() []string {
	return []string{
		fmt.Sprintf("/ip4/%s/tcp/4001", h.Addr),
		fmt.Sprintf("/ip4/%s/udp/4001/quic-v1", h.Addr),
	}
}

// writeNetnsConfig writes a device config like writeConfig's, listening on
// the given addresses.
func writeNetnsConfig(t *testing.T, dir, root string, listen, boot []string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	q := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return `"` + strings.Join(s, `", "`) + `"`
	}
	cfg := fmt.Sprintf(`data_dir: %q
listen: [%s]
trust_root: %q
bootstrap: [%s]
products:
  - id: plc-fw
    version: 1.0.0
installer:
  command: ["sh", "-c", "cp \"$TOCSIN_FILE\" \"$TOCSIN_DATA_DIR/installed.bin\" && echo \"$TOCSIN_RELEASE_ID\" >> \"$TOCSIN_DATA_DIR/installs.log\""]
  timeout: 1m
`, dir, q(listen), root, q(boot))
	p := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
