package scenarios

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-iiot/tocsin/sim/scenario"
)

var want = []string{
	"advisory-5000", "bad-blocks", "churn", "delay-50ms", "flat-1000", "forgers", "million",
	"multisite-100k", "plant-1000", "seed-outage", "silent-20", "sybil-eclipse",
}

func TestNamesSortedAndComplete(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Names() = %v, want %v", names, want)
	}
	// Every .yaml file in the directory is embedded.
	onDisk, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range onDisk {
		onDisk[i] = strings.TrimSuffix(f, ".yaml")
	}
	if !reflect.DeepEqual(names, onDisk) {
		t.Errorf("embedded %v, directory holds %v", names, onDisk)
	}
}

func TestEveryFileParses(t *testing.T) {
	for _, name := range Names() {
		data, err := files.ReadFile(name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		s, err := scenario.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if s.Name != name {
			t.Errorf("%s.yaml is named %q", name, s.Name)
		}
		if s.Description == "" || !strings.HasPrefix(string(data), "# "+name+": ") {
			t.Errorf("%s.yaml: want a description and a comment header opening with %q", name, "# "+name+": ")
		}
		for _, ext := range []string{"", ".yaml"} {
			got, err := Get(name + ext)
			if err != nil || !reflect.DeepEqual(got, s) {
				t.Errorf("Get(%q) = %v, %v; want what Parse gives", name+ext, got.Name, err)
			}
		}
		// The small fleets build (the large ones are left to the engines).
		if s.Fleet.Devices <= 5000 {
			if g := scenario.Build(&s); g.Devices != s.Fleet.Devices {
				t.Errorf("%s: built %d devices", name, g.Devices)
			}
		}
	}
}

func TestGetUnknown(t *testing.T) {
	for _, name := range []string{"", "nope", "../scenario/scenario.go", "plant-1000.yml", "sub/plant-1000"} {
		if _, err := Get(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q): %v, want fs.ErrNotExist", name, err)
		}
	}
}

// TestContents pins the figures the brief for each file asks for.
func TestContents(t *testing.T) {
	get := func(name string) scenario.Scenario {
		t.Helper()
		s, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const mbit = 1e6 / 8
	p := get("plant-1000")
	if p.Fleet.Devices != 1000 || p.Fleet.Sites != 10 || p.Fleet.GatewaysPerSite != 2 || p.Engine != "model" ||
		p.Links.Gateway.Up != 100*mbit || p.Links.Seed.Up != 100*mbit || p.Links.Controller.Up != 20*mbit ||
		p.Links.Controller.Latency.D() != 10*time.Millisecond || p.PatchBytes() != 4<<20 || p.Patch.Chunk != 256<<10 {
		t.Errorf("plant-1000: %+v", p)
	}
	f := get("flat-1000")
	d := scenario.Default()
	if f.Patch.Transfer != scenario.TransferBitswap {
		t.Errorf("flat-1000 must pin the calibrated transfer, bitswap; it has %q", f.Patch.Transfer)
	}
	f.Name, f.Description, d.Name, d.Description = "", "", "", ""
	f.Patch.Transfer = d.Patch.Transfer // otherwise the default fleet
	if !reflect.DeepEqual(f, d) {
		t.Errorf("flat-1000 is not the default fleet:\n%+v\n%+v", f, d)
	}
	if m := get("multisite-100k"); m.Fleet.Devices != 100_000 || m.Fleet.Sites != 100 || m.Fleet.GatewaysPerSite != 4 || m.Engine != "model" {
		t.Errorf("multisite-100k: %+v", m.Fleet)
	}
	if m := get("million"); m.Fleet.Devices != 1_000_000 || m.Fleet.GatewaysPerSite != 0 || m.PatchBytes() != 4<<20 || m.Engine != "model" {
		t.Errorf("million: %+v", m.Fleet)
	}
	if a := get("advisory-5000"); a.Fleet.Devices != 5000 || a.PatchBytes() != 0 || a.Engine != "stack" {
		t.Errorf("advisory-5000: %+v", a)
	}
	c := get("churn").Churn
	if c.OfflineFraction != 0.3 || c.LeaveFraction != 0.1 || c.LeaveMean.D() != 30*time.Second || c.RejoinMean.D() != time.Minute || get("churn").Horizon.D() != 15*time.Minute {
		t.Errorf("churn: %+v", c)
	}
	if o := get("seed-outage").SeedOutages; len(o) != 1 || o[0].Start.D() != 500*time.Millisecond || o[0].Duration.D() != 30*time.Second {
		t.Errorf("seed-outage: %+v", o)
	}
	if a := get("silent-20").Adversaries; a.SilentFraction != 0.2 {
		t.Errorf("silent-20: %+v", a)
	}
	if a := get("sybil-eclipse").Adversaries.Sybils; a.Factor != 4 || a.Victim != 7 {
		t.Errorf("sybil-eclipse: %+v", a)
	}
	if a := get("forgers").Adversaries; a.Forgers != 20 {
		t.Errorf("forgers: %+v", a)
	}
	if a := get("bad-blocks").Adversaries; a.BadBlocks != 20 {
		t.Errorf("bad-blocks: %+v", a)
	}
	dl := get("delay-50ms")
	if dl.Fleet.Devices != 200 || dl.Engine != "stack" {
		t.Errorf("delay-50ms: %+v", dl.Fleet)
	}
	for _, l := range []scenario.Link{dl.Links.Seed, dl.Links.Gateway, dl.Links.Controller} {
		if l.Latency.D() != 50*time.Millisecond || l.Jitter.D() != 5*time.Millisecond {
			t.Errorf("delay-50ms link %+v", l)
		}
	}
}
