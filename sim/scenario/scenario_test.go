package scenario

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseUnitsAndDefaults(t *testing.T) {
	s, err := Parse([]byte(`
name: t
fleet: {devices: 200, sites: 4, gateways_per_site: 2}
links:
  controller: {up: 10Mbit, down: 2.5MB/s, latency: 50ms, jitter: 5ms}
patch: {size: 1MiB, chunk: 64KiB}
churn: {offline_fraction: 0.1, rejoin_mean: 30s}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Fleet.Degree != DefaultDegree || s.Fleet.Seeds != 1 || s.Engine != "model" || s.Horizon.D() != DefaultHorizon {
		t.Errorf("defaults not applied: %+v", s)
	}
	c := s.Links.Controller
	if c.Up != 10e6/8 || c.Down != 2.5e6 || c.Latency.D() != 50*time.Millisecond || c.Jitter.D() != 5*time.Millisecond {
		t.Errorf("controller link %+v", c)
	}
	if s.Links.Gateway.Up != DefaultRate || s.PatchBytes() != 1<<20 || s.Patch.Chunk != 64<<10 {
		t.Errorf("gateway %v patch %d chunk %d", s.Links.Gateway.Up, s.PatchBytes(), s.Patch.Chunk)
	}
	zero, err := Parse([]byte("patch: {size: 0}\n"))
	if err != nil || zero.PatchBytes() != 0 {
		t.Errorf("advisory-only: %d %v", zero.PatchBytes(), err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"fleet: {devcies: 10}\n",           // misspelt field
		"engine: quantum\n",                // unknown engine
		"links: {seed: {up: fast}}\n",      // bad rate
		"patch: {chunk: 4MiB}\n",           // over bitswap's block limit
		"churn: {offline_fraction: 1.5}\n", // not a share
		"adversaries: {sybils: {connections_factor: 4, victim: 5000}}\n",
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %v, want ErrInvalid", in, err)
		}
	}
	_, err := Parse([]byte("fleet:\n  devcies: 10\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error should name the line: %v", err)
	}
}

func TestBuildDeterministicAndConnected(t *testing.T) {
	s := Default()
	s.Fleet.Devices = 2000
	s.Adversaries.SilentFraction = 0.2
	s.Adversaries.Sybils = Sybils{Factor: 4, Victim: 7}
	s.Churn.OfflineFraction = 0.1
	a, b := Build(&s), Build(&s)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same scenario and seed gave different graphs")
	}
	s2 := s
	s2.Seed = 2
	if reflect.DeepEqual(a.Adj, Build(&s2).Adj) {
		t.Error("another seed gave the same graph")
	}
	// Connected.
	seen := make([]bool, len(a.Nodes))
	stack := []int32{0}
	seen[0] = true
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range a.Adj[v] {
			if !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	for n, ok := range seen {
		if !ok {
			t.Fatalf("node %d unreachable", n)
		}
	}
	victim := a.Device(7)
	var sybils, honest, silent int
	for _, w := range a.Adj[victim] {
		if a.Nodes[w].Role == RoleSybil {
			sybils++
		} else {
			honest++
		}
	}
	if a.Nodes[victim].Behaviour != Honest || sybils < 4*honest-0 || sybils == 0 {
		t.Errorf("victim: %d sybil links, %d others, behaviour %v", sybils, honest, a.Nodes[victim].Behaviour)
	}
	for n := range a.Nodes {
		if a.IsDevice(n) && a.Nodes[n].Behaviour == Silent {
			silent++
		}
	}
	if silent != 400 {
		t.Errorf("%d silent devices, want 400", silent)
	}
}

func TestGatewayTopology(t *testing.T) {
	s := Default()
	s.Fleet = Fleet{Devices: 300, Seeds: 2, Sites: 3, GatewaysPerSite: 2, Degree: 4}
	s.Defaults()
	g := Build(&s)
	for n := range g.Nodes {
		for _, w := range g.Adj[n] {
			a, b := g.Nodes[n], g.Nodes[w]
			if a.Role == RoleSeed && b.Role == RoleController {
				t.Errorf("seed %d linked to controller %d", n, w)
			}
			if a.Role == RoleController && b.Role == RoleController && a.Site != b.Site {
				t.Errorf("controllers %d and %d linked across sites", n, w)
			}
		}
	}
	for sd := range 2 {
		if len(g.Adj[sd]) < 4 {
			t.Errorf("seed %d has %d links", sd, len(g.Adj[sd]))
		}
	}
}

func TestSummariseAndBounds(t *testing.T) {
	times := []float64{1, 2, 3, -1}
	f, p50, p99, mx, cdf := Summarise(times, 4)
	if f != 0.75 || p50 != 2 || p99 != 3 || mx != 3 || cdf[len(cdf)-1].F != 0.75 {
		t.Errorf("got %v %v %v %v %v", f, p50, p99, mx, cdf)
	}
	s := Default()
	g := Build(&s)
	kr, chunk, cs, err := Bounds(&s, g)
	if err != nil {
		t.Fatal(err)
	}
	// 4 MiB at 20 Mbit/s is 1.677722 s; 16 chunks, ⌊log₂1000⌋ = 9.
	if kr != 1.677722 || chunk != Round(4*1<<20/DefaultRate*(1+9.0/16)) || cs != Round(1000*4*(1<<20)/DefaultRate) {
		t.Errorf("bounds %v %v %v", kr, chunk, cs)
	}
}

func TestPartitioned(t *testing.T) {
	s := Default()
	s.Fleet.Devices = 10
	s.Partitions = []Outage{{Start: Duration(time.Second), Duration: Duration(2 * time.Second)}}
	g := Build(&s)
	seed, even, odd := 0, g.Device(0), g.Device(1)
	if _, held := s.Partitioned(g, even, odd, 0.5); held {
		t.Error("held before the partition starts")
	}
	if until, held := s.Partitioned(g, even, odd, 1.5); !held || until != 3 {
		t.Errorf("across the cut at 1.5 s: held %v until %v, want true until 3", held, until)
	}
	if _, held := s.Partitioned(g, seed, even, 1.5); held {
		t.Error("the seed and even devices are on the same side")
	}
	if _, held := s.Partitioned(g, odd, seed, 3); held {
		t.Error("held after the partition healed")
	}
}
