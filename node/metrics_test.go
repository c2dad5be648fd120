package node

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
)

// TestMetrics: after a release spread along seed — d0 — d1, d0's metrics
// show accepted documents and bytes it served to d1.
func TestMetrics(t *testing.T) {
	f := newFleet(t, 2)
	f.connect(f.seed.Host(), f.devs[0].Host())
	f.connect(f.devs[0].Host(), f.devs[1].Host())
	waitMesh(t, f.devs[1])
	rel, _, _ := f.publish(randomBytes(t, 300<<10), "2.0.0")
	waitInstalled(t, f.devs[1], rel.ID())
	// d1 can install before d0 has finished its own install (d0 serves
	// pieces as soon as it stores them): the metric read below is d0's.
	waitInstalled(t, f.devs[0], rel.ID())
	rec := httptest.NewRecorder()
	f.devs[0].MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	value := func(re string) float64 {
		m := regexp.MustCompile(re + ` ([0-9.e+]+)`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("metric %s missing:\n%s", re, body)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	if v := value(`tocsin_documents_total\{outcome="accepted"\}`); v < 2 {
		t.Fatalf("accepted documents %v", v)
	}
	if v := value(`tocsin_bitswap_bytes_total\{direction="sent"\}`) + value(`tocsin_swarm_bytes_total\{direction="sent"\}`); v == 0 {
		t.Fatal("no bytes served to peers")
	}
	if v := value(`tocsin_lifecycle_releases\{state="installed"\}`); v != 1 {
		t.Fatalf("installed releases %v", v)
	}
}
