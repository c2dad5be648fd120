package demo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/units"
	"github.com/tocsin-iiot/tocsin/node"
	"github.com/tocsin-iiot/tocsin/policy"
	"github.com/tocsin-iiot/tocsin/seed"
)

// Options configure a demo run.
type Options struct {
	Nodes     int           // device nodes; default 8
	Size      int64         // release size in bytes; default 16 MiB
	ChunkSize int64         // DAG leaf size; default 256 KiB
	Timeout   time.Duration // for every node to install; default 2m
	Dir       string        // working dir; default a temp dir, removed after
	Keep      bool          // keep Dir
	Bin       string        // tocsin binary; default os.Executable()
	Out       io.Writer
}

// Summary is the outcome.
type Summary struct {
	Nodes      int
	Installed  int
	SeedRatio  float64 // seed bytes sent (swarm and bitswap) / file size
	Slowest    time.Duration
	PerNode    []NodeResult
	FileSize   int64
	SeedPeerID string
	WorkingDir string
}

// NodeResult is one device's figures.
type NodeResult struct {
	Name      string
	Installed bool
	Elapsed   time.Duration
	FromSeed  int64
	FromPeers int64
	Duplicate int64
	Verified  bool
	Error     string
}

// Line is the one-line summary the README promises.
func (s Summary) Line() string {
	return fmt.Sprintf("demo: %d/%d nodes installed, seed uploaded %.2fx the file size, slowest %.1fs",
		s.Installed, s.Nodes, s.SeedRatio, s.Slowest.Seconds())
}

type proc struct {
	name string
	cmd  *exec.Cmd
	dir  string
}

// Run runs the demo. It returns an error if any node failed to install.
func Run(ctx context.Context, o Options) (sum Summary, err error) {
	if o.Nodes <= 0 {
		o.Nodes = 8
	}
	if o.Size <= 0 {
		o.Size = 16 << 20
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 256 << 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return sum, err
		}
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "tocsin-demo-"); err != nil {
			return sum, err
		}
		if !o.Keep {
			defer os.RemoveAll(o.Dir)
		}
	} else if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return sum, err
	}
	sum.Nodes, sum.FileSize, sum.WorkingDir = o.Nodes, o.Size, o.Dir
	var procs []*proc
	defer func() { stopAll(procs) }()
	say := func(format string, a ...any) { fmt.Fprintf(o.Out, format+"\n", a...) }

	// Supplier key, its trust root (one key for every role, as in a lab),
	// and the release file.
	key := filepath.Join(o.Dir, "supplier.key")
	if err := run(ctx, o.Bin, "keygen", "--type", "supplier", "-o", key); err != nil {
		return sum, err
	}
	rootFile := filepath.Join(o.Dir, "root.json")
	if err := run(ctx, o.Bin, "root", "init", "--root-key", key, "-o", rootFile); err != nil {
		return sum, err
	}
	file := filepath.Join(o.Dir, "demo-plc-fw-2.0.0.bin")
	want, err := writeRandomFile(file, o.Size)
	if err != nil {
		return sum, err
	}
	say("release file: %s (%s, sha256 %s)", file, units.Bytes(o.Size), want[:16])

	// Seed.
	seedDir := filepath.Join(o.Dir, "seed")
	sp, err := start(o.Bin, seedDir, "seed", "--data", seedDir, "--trust-root", rootFile, "--heartbeat-key", key,
		"--heartbeat-interval", "5s", "--heartbeat-ttl", "1m", "--listen", "/ip4/127.0.0.1/tcp/0", "--log-level", "warn")
	if err != nil {
		return sum, err
	}
	procs = append(procs, sp)
	seedSt, err := waitStatus(ctx, seedDir, 30*time.Second)
	if err != nil {
		return sum, fmt.Errorf("seed did not start: %w (log: %s)", err, filepath.Join(seedDir, "out.log"))
	}
	sum.SeedPeerID = seedSt.PeerID
	say("seed %s on %s", short(seedSt.PeerID), strings.Join(seedSt.Addrs, " "))

	// Devices: each bootstraps to the seed and to every device before it.
	boot := append([]string(nil), seedSt.Addrs...)
	names := make([]string, o.Nodes)
	dirs := make([]string, o.Nodes)
	for i := 0; i < o.Nodes; i++ {
		names[i] = fmt.Sprintf("node-%d", i+1)
		dirs[i] = filepath.Join(o.Dir, names[i])
		cfgPath, err := writeNodeConfig(dirs[i], rootFile, boot)
		if err != nil {
			return sum, err
		}
		p, err := start(o.Bin, dirs[i], "node", "--config", cfgPath)
		if err != nil {
			return sum, err
		}
		procs = append(procs, p)
		st, err := waitStatus(ctx, dirs[i], 30*time.Second)
		if err != nil {
			return sum, fmt.Errorf("%s did not start: %w (log: %s)", names[i], err, filepath.Join(dirs[i], "out.log"))
		}
		boot = append(boot, st.Addrs...)
	}
	say("started %d device nodes; waiting for the overlay to settle", o.Nodes)
	time.Sleep(1500 * time.Millisecond)

	// Publish.
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, o.Bin, "publish", "--key", key, "--seed-dir", seedDir,
		"--product", "demo-plc-fw", "--version", "2.0.0", "--file", file,
		"--chunk-size", fmt.Sprint(o.ChunkSize), "--cvss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "--json").CombinedOutput()
	if err != nil {
		return sum, fmt.Errorf("publish: %w: %s", err, strings.TrimSpace(string(out)))
	}
	var pub seed.Result
	if err := json.Unmarshal(out, &pub); err != nil {
		return sum, fmt.Errorf("publish output %q: %w", out, err)
	}
	say("published %s root %s", pub.ReleaseID, pub.RootCID)

	// Wait for every device to install.
	deadline := time.Now().Add(o.Timeout)
	results := make([]NodeResult, o.Nodes)
	for {
		done := 0
		for i := range results {
			if results[i].Installed || results[i].Error != "" {
				done++
				continue
			}
			st, err := node.ReadStatus(dirs[i])
			if err != nil {
				continue
			}
			r := st.Releases[pub.ReleaseID]
			if r == nil {
				continue
			}
			if r.Phase == policy.PhaseInstalled {
				results[i] = NodeResult{Name: names[i], Installed: true, Elapsed: r.InstalledAt.Sub(t0), Duplicate: int64(r.Fetch.DupBytes)}
				for p, b := range r.Fetch.BytesByPeer {
					if p == seedSt.PeerID {
						results[i].FromSeed += b
					} else {
						results[i].FromPeers += b
					}
				}
				got, _ := fsutil.SHA256File(filepath.Join(dirs[i], "installed-demo-plc-fw.bin"))
				results[i].Verified = got == want
				done++
			}
		}
		if done == o.Nodes || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	seedFinal, err := seed.NewClient(seedDir).Status(ctx)
	if err != nil {
		return sum, fmt.Errorf("seed status: %w", err)
	}
	sum.SeedRatio = float64(seedFinal.Bitswap.DataSent+uint64(seedFinal.Swarm.Sent)) / float64(o.Size)

	say("%-8s %9s %12s %12s %12s %s", "node", "time", "from seed", "from peers", "duplicates", "file")
	for i, r := range results {
		if r.Name == "" {
			r.Name = names[i]
			st, _ := node.ReadStatus(dirs[i])
			if rs := st.Releases[pub.ReleaseID]; rs != nil && rs.Error != "" {
				r.Error = rs.Error
			} else {
				r.Error = "not installed before the timeout"
			}
			results[i] = r
		}
		if r.Installed && r.Verified {
			sum.Installed++
			if r.Elapsed > sum.Slowest {
				sum.Slowest = r.Elapsed
			}
			say("%-8s %8.2fs %12s %12s %12s sha256 ok", r.Name, r.Elapsed.Seconds(), units.Bytes(r.FromSeed), units.Bytes(r.FromPeers), units.Bytes(r.Duplicate))
		} else {
			msg := r.Error
			if r.Installed {
				msg = "installed file does not match"
			}
			say("%-8s FAILED: %s (log: %s)", r.Name, msg, filepath.Join(dirs[i], "out.log"))
		}
	}
	sum.PerNode = results
	var served float64
	var accepted float64
	for i := range dirs {
		m, err := scrapeMetrics(ctx, dirs[i])
		if err != nil {
			say("metrics of %s: %v", names[i], err)
			continue
		}
		served += m[`tocsin_bitswap_bytes_total{direction="sent"}`] + m[`tocsin_swarm_bytes_total{direction="sent"}`]
		if i == 0 {
			accepted = m[`tocsin_documents_total{outcome="accepted"}`]
		}
	}
	say("metrics (curl --unix-socket %s http://node/metrics): %s accepted %.0f documents; devices served %s to peers",
		filepath.Join(dirs[0], node.SocketName), names[0], accepted, units.Bytes(int64(served)))
	if sum.Installed != o.Nodes {
		return sum, fmt.Errorf("%d of %d nodes did not install", o.Nodes-sum.Installed, o.Nodes)
	}
	return sum, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[len(id)-12:]
	}
	return id
}

func run(ctx context.Context, bin string, args ...string) error {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args[:1], " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func start(bin, dir string, args ...string) (*proc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	logf.Close()
	return &proc{name: args[0], cmd: cmd, dir: dir}, nil
}

// stopAll sends SIGTERM to every process, then SIGKILL to those still
// running after 5s.
func stopAll(ps []*proc) {
	for _, p := range ps {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		for _, p := range ps {
			_ = p.cmd.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		for _, p := range ps {
			_ = p.cmd.Process.Kill()
		}
		<-done
	}
}

func waitStatus(ctx context.Context, dir string, timeout time.Duration) (node.Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := node.ReadStatus(dir)
		if err == nil && len(st.Addrs) > 0 {
			return st, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("no listen addresses")
			}
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func writeNodeConfig(dir, trustRoot string, boot []string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# written by tocsin demo\n")
	fmt.Fprintf(&b, "data_dir: %q\nlisten: [\"/ip4/127.0.0.1/tcp/0\"]\ntrust_root: %q\n", dir, trustRoot)
	b.WriteString("bootstrap:\n")
	for _, a := range boot {
		fmt.Fprintf(&b, "  - %q\n", a)
	}
	b.WriteString("products:\n  - id: demo-plc-fw\n    version: 1.0.0\n")
	b.WriteString("installer:\n  command: [\"sh\", \"-c\", \"cp \\\"$TOCSIN_FILE\\\" \\\"$TOCSIN_DATA_DIR/installed-$TOCSIN_PRODUCT.bin\\\"\"]\n  timeout: 1m\n")
	b.WriteString("log_level: warn\n")
	path := filepath.Join(dir, "node.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// writeRandomFile writes size pseudo-random bytes (seeded, so runs are
// comparable) and returns their hex SHA-256.
func writeRandomFile(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{'t', 'o', 'c', 's', 'i', 'n'})
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

// scrapeMetrics reads a running node's Prometheus metrics over its control
// socket, as curl --unix-socket would.
func scrapeMetrics(ctx context.Context, dataDir string) (map[string]float64, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(dataDir, node.SocketName))
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://node/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}
