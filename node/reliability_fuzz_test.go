package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/tocsin-iiot/tocsin/internal/csaf"
	"github.com/tocsin-iiot/tocsin/internal/trust"
	"github.com/tocsin-iiot/tocsin/policy"
)

// Reliability check 10 (issue 9): fuzz targets for the node's parsers of
// network and file input that had none: the catch-up summary a peer sends,
// the status reports devices gossip, and the config file.
// internal/reliability runs each with -fuzz for a fixed budget; without
// -fuzz only the seeds run.

// FuzzReliabilitySyncSummary: a peer's sync summary (what it holds) decides
// which envelopes the node sends back; any bytes are safe.
func FuzzReliabilitySyncSummary(f *testing.F) {
	s := newSupplier(f)
	rel := trust.Release{Product: "plc-fw", Version: "2.0.0", RootCID: "bafkqaaa", Size: 1, SHA256: "aa00000000000000000000000000000000000000000000000000000000000000",
		ChunkSize: 1, Seq: 7, Published: testEpoch, Expires: testEpoch.AddDate(1, 0, 0)}
	env, err := trust.SignRelease(rel, s.rel)
	if err != nil {
		f.Fatal(err)
	}
	doc, err := trust.Open(env.Marshal(), s.root, csaf.Advisory)
	if err != nil {
		f.Fatal(err)
	}
	hb, _ := trust.SignHeartbeat(trust.Heartbeat{Seq: 3, Issued: testEpoch, Expires: testEpoch.Add(time.Hour)}, s.hb)
	hdoc, err := trust.Open(hb.Marshal(), s.root, csaf.Advisory)
	if err != nil {
		f.Fatal(err)
	}
	n := &Node{docs: map[string]trust.Document{doc.Key(): doc, hdoc.Key(): hdoc}}
	f.Add([]byte(`{"release/plc-fw":3,"heartbeat":9}`))
	f.Add([]byte(`{"release/plc-fw":18446744073709551615}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := n.Envelopes(data)
		if len(out) > len(n.docs) {
			t.Fatalf("%d envelopes for %d documents", len(out), len(n.docs))
		}
	})
}

// FuzzReliabilityStatusReport: any status report gossiped by any device is
// judged without a panic, and one accepted names its author.
func FuzzReliabilityStatusReport(f *testing.F) {
	mn := mocknet.New()
	f.Cleanup(func() { mn.Close() })
	self, err := mn.GenPeer()
	if err != nil {
		f.Fatal(err)
	}
	author, err := mn.GenPeer()
	if err != nil {
		f.Fatal(err)
	}
	n := &Node{host: self, fleet: map[string]Report{}}
	good, _ := json.Marshal(Report{Device: author.ID().String(), Group: "g", Seq: 1, Time: testEpoch, Products: map[string]string{"plc-fw": "1.0.0"},
		Releases: map[string]ReleaseReport{"plc-fw@2.0.0": {State: policy.StateInstalled, Wave: 1}}})
	f.Add(good)
	f.Add([]byte(`{"device":"x","releases":{"a":{"state":99}}}`))
	f.Add([]byte(`{"device":"` + author.ID().String() + `","releases":{"a":{"state":"installed"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, v := n.validateReport(context.Background(), author.ID(), data)
		if res == pubsub.ValidationAccept {
			r, ok := v.(Report)
			if !ok || r.Device != author.ID().String() {
				t.Fatalf("accepted a report not by its author: %+v", v)
			}
		}
	})
}

// FuzzReliabilityConfig: any config file is refused with an error or
// loaded into a config that checks.
func FuzzReliabilityConfig(f *testing.F) {
	f.Add([]byte("data_dir: /var/lib/tocsin\ntrust_root: root.json\ninstaller:\n  command: [true]\n"))
	f.Add([]byte("role: seed\ndata_dir: d\ntrust_root: r\nseed: {heartbeat_interval: 1m, heartbeat_ttl: 30s}\n"))
	f.Add([]byte("data_dir: x\ntrust_root: r\ninstaller: {command: [true]}\npeers: {low: 1, high: 2}\nmax_memory: 9EiB\n"))
	f.Add([]byte("a: &x [*x, *x]\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "node.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		if err != nil {
			return
		}
		if c.DataDir == "" || c.TrustRoot == "" || c.Check() != nil {
			t.Fatalf("loaded a config that does not check: %+v", c)
		}
	})
}
