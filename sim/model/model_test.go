package model

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/content/swarm"
	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

// simulate runs s and returns the engine (for per-device checks) and the
// result.
func simulate(t testing.TB, s scenario.Scenario) (*engine, *scenario.Result) {
	t.Helper()
	s.Defaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	g := scenario.Build(&s)
	e, err := newEngine(&s, g, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r, err := e.result()
	if err != nil {
		t.Fatal(err)
	}
	return e, r
}

func small(devices int) scenario.Scenario {
	s := scenario.Default()
	s.Fleet.Devices = devices
	return s
}

func jsonOf(t *testing.T, r *scenario.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkHonest asserts the invariants every run keeps, for every honest
// device: the advisory before the patch, no patch faster than F/Down after
// it, nothing forged accepted, nothing corrupt stored.
func checkHonest(t *testing.T, e *engine, r *scenario.Result) {
	t.Helper()
	if r.Attacks.ForgedAccepted != 0 || r.Attacks.BadBlocksStored != 0 {
		t.Errorf("attacks got through: %+v", r.Attacks)
	}
	if r.Engine != "model" || r.Nodes != e.g.Devices || r.WallSeconds != 0 {
		t.Errorf("header: %s %d %v", r.Engine, r.Nodes, r.WallSeconds)
	}
	if e.k == 0 {
		return
	}
	f := float64(e.file)
	for n := range e.n {
		if !e.g.HonestDevice(n) || e.patchAt[n] < 0 {
			continue
		}
		down := e.down[e.cls[n]]
		if e.advAt[n] < 0 || e.patchAt[n] < e.advAt[n]+f/down-1e-9 {
			t.Fatalf("device %d: advisory at %v, patch at %v, faster than F/Down = %v", n, e.advAt[n], e.patchAt[n], f/down)
		}
	}
	if r.Patch.SeedEgressRatio < 1 && r.Patch.CompletedFraction > 0 {
		t.Errorf("seed sent %v × the file, less than once", r.Patch.SeedEgressRatio)
	}
	var sum int64
	for _, v := range r.BytesBySource {
		sum += v
	}
	if sum < int64(r.Patch.CompletedFraction*float64(r.HonestDevices))*e.file {
		t.Errorf("bytes by source %v: less than the completed devices hold", r.BytesBySource)
	}
	if len(r.Upload.Seed) == 0 || len(r.Upload.Seed) > maxSteps || len(r.Upload.Peers) != len(r.Upload.Seed) {
		t.Errorf("upload series: %d seed, %d peer steps", len(r.Upload.Seed), len(r.Upload.Peers))
	}
	var seedUp float64
	for _, v := range r.Upload.Seed {
		seedUp += v * r.Upload.StepS
	}
	if seedUp < 0.999*float64(e.seedSent) {
		t.Errorf("upload series: seed sent %v bytes, series integrates to %v", e.seedSent, seedUp)
	}
}

func TestDefaultScenario(t *testing.T) {
	e, r := simulate(t, scenario.Default())
	checkHonest(t, e, r)
	if r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Fatalf("delivered %v, completed %v", r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
	// The schedulers' waits cover each device's fetch: at least F/Down
	// (nobody fetches faster), at most the time to its last piece.
	var w swarm.Waits
	var upper, lower float64
	floor := float64(e.file) / float64(scenario.DefaultRate) // F / min(Down)
	for n, sch := range e.sw {
		if sch != nil && e.g.HonestDevice(n) {
			w = w.Add(sch.Waits())
			upper += e.patchAt[n]
			lower += floor
		}
	}
	if got := w.Total().Seconds(); got < lower || got > upper {
		t.Errorf("waits cover %.1f s of fetching, want between %.1f and %.1f", got, lower, upper)
	}
	if ws := r.Patch.Waits; ws == nil || math.Abs(ws.Full+ws.Starved+ws.Blocked-1) > 1e-5 || ws.Full <= 0 || ws.Starved <= 0 {
		t.Errorf("wait shares %+v", r.Patch.Waits)
	}
	if r.Patch.BoundS != 1.677722 || r.Patch.MaxS < r.Patch.BoundS || r.Patch.RatioToBound < 1 {
		t.Errorf("patch max %v vs bound %v (ratio %v)", r.Patch.MaxS, r.Patch.BoundS, r.Patch.RatioToBound)
	}
	if r.Patch.MaxS > 60 || r.Advisory.MaxS > 1 {
		t.Errorf("implausibly slow: advisory max %v, patch max %v", r.Advisory.MaxS, r.Patch.MaxS)
	}
	if first := r.Patch.CDF[0].T; first < floor {
		t.Errorf("first device done at %v, before F/min(Down) = %v", first, floor)
	}
	if r.VirtualSeconds != r.Patch.MaxS {
		t.Errorf("run covered %v s, last device finished at %v", r.VirtualSeconds, r.Patch.MaxS)
	}
	if r.BytesBySource["rejected"] != 0 || r.Attacks.ForgedSent != 0 {
		t.Errorf("adversaries without adversaries: %v %+v", r.BytesBySource, r.Attacks)
	}
	t.Logf("advisory p50 %v p99 %v max %v; patch p50 %v p99 %v max %v (%.2f× T_KR %v); seed egress %v×F; duplicates %v",
		r.Advisory.P50S, r.Advisory.P99S, r.Advisory.MaxS, r.Patch.P50S, r.Patch.P99S, r.Patch.MaxS, r.Patch.RatioToBound,
		r.Patch.BoundS, r.Patch.SeedEgressRatio, r.Patch.DuplicateRatio)
}

func TestDeterministic(t *testing.T) {
	s := small(600)
	s.Links.Controller.Jitter = scenario.Duration(3 * time.Millisecond)
	s.Links.Controller.Loss = 0.02
	s.Adversaries.SilentFraction = 0.1
	s.Adversaries.Forgers = 3
	s.Adversaries.BadBlocks = 3
	s.Churn = scenario.Churn{OfflineFraction: 0.1, LeaveFraction: 0.1, LeaveMean: scenario.Duration(2 * time.Second), RejoinMean: scenario.Duration(5 * time.Second)}
	s.Advisories = scenario.Advisories{Count: 3, Interval: scenario.Duration(time.Second)}
	s.Defaults()
	run := func() *scenario.Result {
		r, err := Run(context.Background(), &s, scenario.Build(&s), nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(), run()
	ja, jb := jsonOf(t, a), jsonOf(t, b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("same scenario and seed gave different results")
	}
	s.Seed = 2
	if bytes.Equal(ja, jsonOf(t, run())) {
		t.Error("another seed gave the same result")
	}
}

func TestSilentNodes(t *testing.T) {
	s := small(1000)
	s.Adversaries.SilentFraction = 0.2
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	if r.HonestDevices != 800 || r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Fatalf("%d honest: delivered %v, completed %v", r.HonestDevices, r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
}

func TestSybilsAroundVictim(t *testing.T) {
	s := small(1000)
	s.Adversaries.Sybils = scenario.Sybils{Factor: 4, Victim: 7}
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	v := e.g.Device(7)
	var sybils int
	for _, w := range e.g.Adj[v] {
		if e.g.Nodes[w].Role == scenario.RoleSybil {
			sybils++
		}
	}
	if sybils == 0 || e.advAt[v] < 0 || e.patchAt[v] < 0 {
		t.Fatalf("victim with %d Sybils: advisory at %v, patch at %v", sybils, e.advAt[v], e.patchAt[v])
	}
	if r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Errorf("delivered %v, completed %v", r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
}

func TestSeedOutageDelaysButCompletes(t *testing.T) {
	_, base := simulate(t, small(500))
	s := small(500)
	s.SeedOutages = []scenario.Outage{{Start: scenario.Duration(500 * time.Millisecond), Duration: scenario.Duration(20 * time.Second)}}
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	if r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Fatalf("delivered %v, completed %v", r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
	// In half a second the seed cannot have sent every chunk: the rest
	// waits for it.
	if r.Patch.MaxS < 20.5 || r.Patch.MaxS <= base.Patch.MaxS {
		t.Errorf("outage did not delay: max %v (without outage %v)", r.Patch.MaxS, base.Patch.MaxS)
	}
	// An outage from the start: the advisory itself waits.
	s.SeedOutages = []scenario.Outage{{Start: 0, Duration: scenario.Duration(5 * time.Second)}}
	e, r = simulate(t, s)
	checkHonest(t, e, r)
	if r.Advisory.DeliveredFraction != 1 || r.Advisory.P50S < 5 || r.Patch.CompletedFraction != 1 {
		t.Errorf("late publication: %+v, completed %v", r.Advisory, r.Patch.CompletedFraction)
	}
}

func TestChurn(t *testing.T) {
	s := small(1000)
	s.Churn = scenario.Churn{OfflineFraction: 0.3, RejoinMean: scenario.Duration(30 * time.Second)}
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	var back, late int
	for n := range e.n {
		if !e.g.HonestDevice(n) {
			continue
		}
		on := e.nextOnline(int32(n), 0)
		if on >= e.horizon {
			continue
		}
		back++
		if e.advAt[n] < on || e.patchAt[n] < on {
			late++
			t.Errorf("device %d back at %v: advisory at %v, patch at %v", n, on, e.advAt[n], e.patchAt[n])
			if late > 5 {
				t.FailNow()
			}
		}
	}
	if back < 990 {
		t.Errorf("only %d devices back before the horizon", back)
	}
	if r.Patch.MaxS < 30 {
		t.Errorf("patch max %v: the late devices should set it", r.Patch.MaxS)
	}

	// Devices leaving mid-fetch and coming back.
	s.Churn = scenario.Churn{LeaveFraction: 0.3, LeaveMean: scenario.Duration(2 * time.Second), RejoinMean: scenario.Duration(5 * time.Second)}
	e, r = simulate(t, s)
	checkHonest(t, e, r)
	if r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Errorf("leave and rejoin: delivered %v, completed %v", r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}

	// Devices that never come back do not hold the run to the horizon.
	s.Churn = scenario.Churn{OfflineFraction: 0.2}
	e, r = simulate(t, s)
	checkHonest(t, e, r)
	if r.Patch.CompletedFraction != 0.8 || r.VirtualSeconds >= e.horizon {
		t.Errorf("permanently offline: completed %v, ran %v s", r.Patch.CompletedFraction, r.VirtualSeconds)
	}
}

func TestForgersAndBadBlocks(t *testing.T) {
	s := small(1000)
	s.Adversaries.Forgers = 10
	s.Adversaries.BadBlocks = 10
	// The bad-block nodes speak bitswap (as internal/hostile's do): a swarm
	// transfer never asks them, so it finishes without a rejected byte.
	_, sw := simulate(t, s)
	if sw.Attacks.BadBlocksServed != 0 || sw.Patch.CompletedFraction != 1 {
		t.Errorf("swarm with bad-block nodes: served %d, completed %v", sw.Attacks.BadBlocksServed, sw.Patch.CompletedFraction)
	}
	s.Patch.Transfer = scenario.TransferBitswap
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	a := r.Attacks
	if a.ForgedSent == 0 || a.BadBlocksServed == 0 || r.BytesBySource["rejected"] != a.BadBlocksServed*int64(s.Patch.Chunk) {
		t.Errorf("attacks not exercised: %+v, bytes %v", a, r.BytesBySource)
	}
	if r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Errorf("delivered %v, completed %v", r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
	// A requester stops asking a bad-block peer after the first corrupt
	// block: at most the wants it had sent by then reach it.
	var links int
	for n := range e.n {
		if e.kind[n] == kBad {
			links += len(e.g.Adj[n])
		}
	}
	if a.BadBlocksServed > int64(links*e.opt.Window) {
		t.Errorf("%d corrupt blocks over %d links to bad-block peers", a.BadBlocksServed, links)
	}
}

func TestAdvisoryOnlyAndSeveralAdvisories(t *testing.T) {
	s := small(1000)
	zero := scenario.Bytes(0)
	s.Patch.Size = &zero
	s.Advisories = scenario.Advisories{Count: 5, Interval: scenario.Duration(10 * time.Millisecond)}
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	if r.Patch != nil || r.Advisory.DeliveredFraction != 1 || r.VirtualSeconds != r.Advisory.MaxS {
		t.Fatalf("patch %v, advisory %+v, ran %v", r.Patch, r.Advisory, r.VirtualSeconds)
	}
	if r.Advisory.MaxS > 0.5 {
		t.Errorf("advisory max %v s", r.Advisory.MaxS)
	}
	// Later advisories are published and spread too (they load the
	// network; the figures are about the first).
	if e.pubMask != 0b11111 {
		t.Errorf("published %05b", e.pubMask)
	}
	var second int
	for n := range e.n {
		if e.st[n].seen&2 != 0 {
			second++
		}
	}
	if second < e.g.Devices/2 {
		t.Errorf("advisory 2 reached %d devices by the end", second)
	}
}

func TestManyChunksAndClasses(t *testing.T) {
	s := scenario.Default()
	s.Fleet = scenario.Fleet{Devices: 600, Seeds: 2, Sites: 6, GatewaysPerSite: 2, Degree: 4}
	s.Patch.Chunk = 16 << 10 // 256 chunks: multi-word bitsets
	s.Links.Gateway = scenario.Link{Up: 100e6 / 8, Down: 100e6 / 8, Latency: scenario.Duration(20 * time.Millisecond), Jitter: scenario.Duration(5 * time.Millisecond), Loss: 0.05}
	s.Links.Controller = scenario.Link{Up: 5e6 / 8, Down: 10e6 / 8, Latency: scenario.Duration(2 * time.Millisecond), Loss: 0.01}
	e, r := simulate(t, s)
	checkHonest(t, e, r)
	if e.words != 4 || r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Fatalf("%d words: delivered %v, completed %v", e.words, r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
}

func TestGateOnlySource(t *testing.T) {
	// A seed and three devices on a star: two silent free riders, which
	// hear the advisory first and take the first grant of every chunk, and
	// one honest device. Its only source is the seed, which refuses it
	// until the gate's quota grows; then it finishes.
	s := scenario.Default()
	s.Fleet.Devices = 3
	g := &scenario.Graph{Seeds: 1, Devices: 3,
		Nodes: []scenario.Node{{Role: scenario.RoleSeed, Site: -1}, {Role: scenario.RoleController, Behaviour: scenario.Silent}, {Role: scenario.RoleController, Behaviour: scenario.Silent}, {Role: scenario.RoleController}},
		Adj:   [][]int32{{1, 2, 3}, {0}, {0}, {0}},
	}
	r, err := Run(context.Background(), &s, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.HonestDevices != 1 || r.Patch.CompletedFraction != 1 || r.Patch.SeedEgressRatio < 1 {
		t.Fatalf("completed %v, seed egress %v", r.Patch.CompletedFraction, r.Patch.SeedEgressRatio)
	}
	if r.Patch.MaxS < DefaultOptions().GateIntervalSeconds || r.Patch.MaxS > 60 {
		t.Errorf("honest device done at %v", r.Patch.MaxS)
	}
	t.Logf("honest device done at %v s, seed egress %v×F", r.Patch.MaxS, r.Patch.SeedEgressRatio)

	opt := DefaultOptions()
	opt.GateOnWantHave = false
	r, err = RunOptions(context.Background(), &s, g, opt, nil)
	if err != nil || r.Patch.CompletedFraction != 1 {
		t.Fatalf("gate on want-blocks only: completed %v, %v", r.Patch.CompletedFraction, err)
	}
}

func TestGateOnWantBlocksOnly(t *testing.T) {
	s := small(1000)
	s.Defaults()
	g := scenario.Build(&s)
	opt := DefaultOptions()
	opt.GateOnWantHave = false
	r, err := RunOptions(context.Background(), &s, g, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Patch.CompletedFraction != 1 || r.Patch.SeedEgressRatio < 1 || r.Patch.MaxS < r.Patch.BoundS {
		t.Fatalf("completed %v, seed egress %v, max %v", r.Patch.CompletedFraction, r.Patch.SeedEgressRatio, r.Patch.MaxS)
	}
	t.Logf("gate on want-blocks only: patch p50 %v p99 %v max %v (%.2f× T_KR); seed egress %v×F; duplicates %v",
		r.Patch.P50S, r.Patch.P99S, r.Patch.MaxS, r.Patch.RatioToBound, r.Patch.SeedEgressRatio, r.Patch.DuplicateRatio)
}

func TestGateMatchesContentGate(t *testing.T) {
	g := newGate(2)
	steps := []struct {
		p, c int32
		t    float64
		want bool
	}{
		{1, 0, 0, true}, {2, 0, 0.1, false}, {1, 0, 0.5, true}, {2, 0, 2.0, true}, {3, 0, 3.9, false},
		{3, 0, 4.0, true}, {3, 1, 4.0, true}, {4, 1, 4.1, false}, {2, 0, 9, true},
	}
	for i, st := range steps {
		if got := g.allow(st.p, st.c, st.t, 2); got != st.want {
			t.Errorf("step %d: allow(%d, %d, %v) = %v", i, st.p, st.c, st.t, got)
		}
	}
}

func TestHeapAndWheelOrder(t *testing.T) {
	var q eventHeap
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		q.push(math.Floor(r.Float64()*100), evWake, int32(i), 0, 0)
	}
	last := event{t: -1}
	for q.len() > 0 {
		ev := q.pop()
		if ev.before(&last) {
			t.Fatalf("%v after %v", ev, last)
		}
		last = ev
	}
	var w timerWheel
	w.init(7, 0.001)
	w.add(0, 0.0105, timer{id: 1})
	w.add(0, 0.002, timer{id: 2})
	w.add(0, 0.0104, timer{id: 3})
	if tn := w.next(); math.Abs(tn-0.002) > 1e-12 {
		t.Fatalf("next %v", tn)
	}
	if b := w.take(); len(b) != 1 || b[0].id != 2 {
		t.Fatalf("take %v", b)
	}
	if tn := w.next(); math.Abs(tn-0.011) > 1e-12 {
		t.Fatalf("next %v", tn)
	}
	if b := w.take(); len(b) != 2 || b[0].id != 1 || b[1].id != 3 {
		t.Fatalf("take %v", b)
	}
	if !math.IsInf(w.next(), 1) {
		t.Fatal("wheel not empty")
	}
}

func TestCancelAndErrors(t *testing.T) {
	s := small(2000)
	g := scenario.Build(&s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, &s, g, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
	big := scenario.Bytes(1 << 40)
	s2 := small(10)
	s2.Patch.Size = &big
	s2.Patch.Chunk = 1 << 10
	if _, err := Run(context.Background(), &s2, scenario.Build(&s2), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2^30 chunks: %v", err)
	}
	if _, err := Run(context.Background(), &s, nil, nil); err == nil {
		t.Error("nil graph accepted")
	}
	var calls int
	var lastDone float64
	if _, err := Run(context.Background(), &s, g, func(done, total float64) {
		calls++
		lastDone = done
		if total != s.Horizon.Seconds() || done > total {
			t.Errorf("progress %v of %v", done, total)
		}
	}); err != nil || calls == 0 || lastDone == 0 {
		t.Errorf("progress: %d calls, last %v, err %v", calls, lastDone, err)
	}
}

// TestMillion is the acceptance run: the default scenario at 1,000,000
// devices. Set TOCSIN_SIM_MILLION=1 to run it (a minute or two, about 2 GB).
func TestMillion(t *testing.T) {
	if os.Getenv("TOCSIN_SIM_MILLION") == "" {
		t.Skip("set TOCSIN_SIM_MILLION=1")
	}
	runMillion(t)
}

// BenchmarkMillion runs the same; use -benchtime 1x.
func BenchmarkMillion(b *testing.B) {
	for range b.N {
		runMillion(b)
	}
}

func runMillion(t testing.TB) {
	s := scenario.Default()
	s.Fleet.Devices = 1_000_000
	start := time.Now()
	g := scenario.Build(&s)
	built := time.Since(start)
	e, err := newEngine(&s, g, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r, err := e.result()
	if err != nil {
		t.Fatal(err)
	}
	r.WallSeconds = scenario.Round(time.Since(start).Seconds())
	t.Logf("1,000,000 devices: %d events, %d request records; build %.1fs, total %.1fs wall; advisory delivered %v p50 %v p99 %v max %v; patch completed %v p50 %v p99 %v max %v (%.2f× T_KR %v); seed egress %v×F; duplicates %v; virtual %v s",
		e.events, len(e.reqs), built.Seconds(), r.WallSeconds, r.Advisory.DeliveredFraction, r.Advisory.P50S, r.Advisory.P99S, r.Advisory.MaxS,
		r.Patch.CompletedFraction, r.Patch.P50S, r.Patch.P99S, r.Patch.MaxS, r.Patch.RatioToBound, r.Patch.BoundS,
		r.Patch.SeedEgressRatio, r.Patch.DuplicateRatio, r.VirtualSeconds)
	if r.Advisory.DeliveredFraction != 1 || r.Patch.CompletedFraction != 1 {
		t.Errorf("delivered %v, completed %v", r.Advisory.DeliveredFraction, r.Patch.CompletedFraction)
	}
}
