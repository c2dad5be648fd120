package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/fsutil"
	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// BenchmarkSingleLink: a 256 MiB release from a seed to one device over
// loopback TCP (file on disk to verified file on disk, real libp2p, the
// swarm protocol, badger), against Go's net/http over TLS 1.3 serving the
// same file to a Go client that writes it to disk and hashes it, in the
// same run. It reports both throughputs and their ratio (issue 6 asks for
// at least 0.8).
//
// Rounds alternate, http then tocsin, five times (TOCSIN_BENCH_ROUNDS),
// each with fresh output (a new device node and data dir for tocsin)
// deleted after the round; the best round of each side is compared. On
// these virtual machines the first write to memory the guest has never
// used costs several times a write to recycled pages, so the first round
// of either side measures the host more than the code, and the cost of
// the page-cache writes swings from round to round (0.04-0.8 CPU seconds
// for tocsin's 256 MiB, in profiles). With three rounds, one run in eight
// on 2026-12-06 had no tocsin round clear of both.
// Run with: make bench (or go test -run '^$' -bench SingleLink -benchtime 1x ./node).
func BenchmarkSingleLink(b *testing.B) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("TOCSIN_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	profRound := rounds - 1 // TOCSIN_BENCH_CPUPROFILE and TOCSIN_BENCH_TRACE record this round (0-based)
	if v, err := strconv.Atoi(os.Getenv("TOCSIN_BENCH_PROFILE_ROUND")); err == nil && v >= 0 && v < rounds {
		profRound = v
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "release.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()

	// Baseline: net/http over TLS 1.3.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	defer srv.Close()
	httpRound := func() (sec, cpu float64) {
		cpu0 := cpuSeconds()
		start := time.Now()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		outPath := filepath.Join(dir, "http.bin")
		out, _ := os.Create(outPath)
		defer os.Remove(outPath)
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, h), resp.Body)
		resp.Body.Close()
		out.Sync()
		out.Close()
		if err != nil || n != size {
			b.Fatalf("http: %d bytes, %v", n, err)
		}
		return time.Since(start).Seconds(), cpuSeconds() - cpu0
	}

	// Tocsin: a seed and, per round, a new device on loopback TCP.
	sup := newSupplier(b)
	rootPath := filepath.Join(dir, "root.json")
	os.WriteFile(rootPath, sup.rootEnv, 0o644)
	startNode := func(cfg *Config) *Node {
		cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		opts := Options{}
		if os.Getenv("TOCSIN_BENCH_DEBUG") != "" {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		n, err := New(context.Background(), cfg, opts)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	seed := startNode(&Config{Role: RoleSeed, DataDir: filepath.Join(dir, "seed"), TrustRoot: rootPath})
	defer seed.Close()
	imp, err := seed.ImportFile(context.Background(), path, 256<<10)
	if err != nil {
		b.Fatal(err)
	}
	tocsinRound := func(r int) (sec, cpu float64) {
		devDir := filepath.Join(dir, "dev"+strconv.Itoa(r))
		defer os.RemoveAll(devDir)
		// A product per round, so the device ignores earlier rounds'
		// releases (the seed tells a new neighbour what it holds).
		product := "plc-fw-" + strconv.Itoa(r)
		dev := startNode(&Config{DataDir: devDir, TrustRoot: rootPath, MaxReleaseSize: "1GiB",
			Products:  []Product{{ID: product, Version: "1.0.0"}},
			Installer: Installer{Command: []string{"true"}}})
		defer dev.Close()
		now := time.Now().UTC()
		version := "2.0.0"
		rel := trust.Release{Product: product, Version: version, RootCID: imp.Root.String(), Size: imp.Size, SHA256: imp.SHA256,
			ChunkSize: 256 << 10, Published: now, Seq: uint64(r + 1), Expires: now.AddDate(1, 0, 0)}
		relEnv, err := trust.SignRelease(rel, sup.rel)
		if err != nil {
			b.Fatal(err)
		}
		doc, err := csaf.New(csaf.Params{ID: "TSA-bench-" + strconv.Itoa(r), Title: "bench", Product: product, FixedVersion: version,
			CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Time: now})
		if err != nil {
			b.Fatal(err)
		}
		advEnv := trust.SignWith(trust.TypeCSAF, doc, sup.adv)
		if err := dev.Host().Connect(context.Background(), addrInfo(seed)); err != nil {
			b.Fatal(err)
		}
		// The clock starts once the seed's GossipSub knows the device is
		// on the topic: an announcement made before that reaches the
		// device only by its next catch-up pull (30 s later, seen once in
		// six rounds), which measures gossip joining, not the transfer.
		for deadline := time.Now().Add(10 * time.Second); !slices.Contains(seed.gossip.Topic.ListPeers(), dev.ID()); {
			if time.Now().After(deadline) {
				b.Fatal("the seed never saw the device on the gossip topic")
			}
			time.Sleep(time.Millisecond)
		}
		// A CPU profile or execution trace of one transfer alone, without
		// the setup.
		for _, rec := range []struct {
			env   string
			start func(io.Writer) error
		}{{"TOCSIN_BENCH_CPUPROFILE", pprof.StartCPUProfile}, {"TOCSIN_BENCH_TRACE", trace.Start}} {
			if path := os.Getenv(rec.env); path != "" && r == profRound {
				w, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				if err := rec.start(w); err != nil {
					b.Fatal(err)
				}
			}
		}
		cpu0 := cpuSeconds()
		start := time.Now()
		for _, e := range [][]byte{relEnv.Marshal(), advEnv.Marshal()} {
			if _, err := seed.Announce(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
		for {
			st := dev.Status().Releases[rel.ID()]
			if st != nil && st.Fetched {
				break
			}
			if st != nil && st.Error != "" && st.Attempts > 2 {
				b.Fatalf("fetch failed: %s", st.Error)
			}
			time.Sleep(time.Millisecond)
		}
		sec, cpu = time.Since(start).Seconds(), cpuSeconds()-cpu0
		pprof.StopCPUProfile()
		trace.Stop()
		// Hashed as a stream: reading the whole file into memory would
		// leave a 256 MiB live heap behind, and Go's next GC goal at
		// twice that would have the following rounds touch hundreds of
		// MiB of memory they never touched before.
		if sum, err := fsutil.SHA256File(dev.Status().Releases[rel.ID()].File); err != nil || sum != rel.SHA256 {
			b.Fatalf("fetched file differs (%v)", err)
		}
		if sw := dev.SwarmStats().Received; sw < size*9/10 {
			b.Logf("round %d: only %d of %d bytes came by the swarm protocol", r+1, sw, size)
		}
		return sec, cpu
	}

	b.ResetTimer()
	mb := float64(size) / 1e6
	httpSec, tocsinSec := math.Inf(1), math.Inf(1)
	var httpCPU, tocsinCPU float64
	for r := range rounds {
		hs, hc := httpRound()
		ts, tc := tocsinRound(r)
		b.Logf("round %d: net/http TLS 1.3 %.0f MB/s (%.2f CPU s), tocsin %.0f MB/s (%.2f CPU s)", r+1, mb/hs, hc, mb/ts, tc)
		if hs < httpSec {
			httpSec, httpCPU = hs, hc
		}
		if ts < tocsinSec {
			tocsinSec, tocsinCPU = ts, tc
		}
	}
	b.StopTimer()
	b.ReportMetric(mb/httpSec, "http_tls_MB/s")
	b.ReportMetric(mb/tocsinSec, "tocsin_MB/s")
	b.ReportMetric(httpSec/tocsinSec, "ratio_to_http")
	b.ReportMetric(tocsinCPU/httpCPU, "cpu_ratio_to_http")
	b.Logf("%d MiB, best of %d rounds each: net/http TLS 1.3 %.0f MB/s, tocsin %.0f MB/s, ratio %.2f (target 0.8); CPU seconds (user+system, both ends) http %.2f, tocsin %.2f",
		size>>20, rounds, mb/httpSec, mb/tocsinSec, httpSec/tocsinSec, httpCPU, tocsinCPU)
}

// cpuSeconds is the process's user and system CPU time so far: both ends
// of a transfer run in this process, so the difference across a transfer
// is what it cost, whichever core ran it.
func cpuSeconds() float64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return 0
	}
	return float64(r.Utime.Nano()+r.Stime.Nano()) / 1e9
}
