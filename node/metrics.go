package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics exposes the node's counters to Prometheus. They are read from the
// node's own state at scrape time (a collector), so there is no second set
// of counters to keep in step.
type metrics struct{ n *Node }

var (
	mDocs = prometheus.NewDesc("tocsin_documents_total",
		"Signed documents by outcome: accepted (verified and stored), rejected (failed verification), ignored (already held), refused (validly signed but older, expired or conflicting).",
		[]string{"outcome"}, nil)
	mHeld = prometheus.NewDesc("tocsin_documents_held",
		"Documents held, by kind.", []string{"kind"}, nil)
	mBytesFetched = prometheus.NewDesc("tocsin_fetch_bytes_total",
		"Bytes of release blocks fetched, by source peer (this process).", []string{"peer"}, nil)
	mBitswap = prometheus.NewDesc("tocsin_bitswap_bytes_total",
		"Bitswap block bytes, by direction (sent = served to peers, received, duplicate).", []string{"direction"}, nil)
	mSwarm = prometheus.NewDesc("tocsin_swarm_bytes_total",
		"Swarm-protocol block bytes, by direction (sent = served to peers, received, duplicate, rejected = did not match its CID).", []string{"direction"}, nil)
	mLifecycle = prometheus.NewDesc("tocsin_lifecycle_releases",
		"Releases on this device by IEC 62443-2-3 lifecycle state.", []string{"state"}, nil)
	mFleet = prometheus.NewDesc("tocsin_fleet_devices",
		"Devices of the fleet (from their status reports) by release and lifecycle state.", []string{"release", "state"}, nil)
	mPeers   = prometheus.NewDesc("tocsin_peers", "Connected peers.", nil, nil)
	mRefused = prometheus.NewDesc("tocsin_connections_refused_total",
		"Connections and dials the admission gater refused.", nil, nil)
	mCorrupt = prometheus.NewDesc("tocsin_store_corrupt_blocks_total",
		"Blocks found rotten in the store, deleted and fetched again.", nil, nil)
	mFresh = prometheus.NewDesc("tocsin_trust_fresh",
		"1 if an unexpired heartbeat confirms the node holds the latest documents.", nil, nil)
)

func (m metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mDocs, mHeld, mBytesFetched, mBitswap, mSwarm, mLifecycle, mFleet, mPeers, mRefused, mCorrupt, mFresh} {
		ch <- d
	}
}

func (m metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.n.Status()
	c := st.Counters
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(mDocs, float64(c.DocsAccepted), "accepted")
	counter(mDocs, float64(c.DocsRejected), "rejected")
	counter(mDocs, float64(c.DocsIgnored), "ignored")
	counter(mDocs, float64(c.DocsRefused), "refused")
	kinds := map[string]int{}
	for _, k := range st.Documents {
		kind := k
		for i := range k {
			if k[i] == '/' {
				kind = k[:i]
				break
			}
		}
		kinds[kind]++
	}
	for k, v := range kinds {
		gauge(mHeld, float64(v), k)
	}
	byPeer := map[string]int64{}
	states := map[string]int{}
	for _, r := range st.Releases {
		for p, b := range r.Fetch.BytesByPeer {
			byPeer[p] += b
		}
		if r.Lifecycle.State != 0 {
			states[r.Lifecycle.State.String()]++
		}
	}
	for p, b := range byPeer {
		counter(mBytesFetched, float64(b), p)
	}
	for s, v := range states {
		gauge(mLifecycle, float64(v), s)
	}
	for id, fr := range st.Fleet {
		for s, v := range fr.States {
			gauge(mFleet, float64(v), id, s)
		}
	}
	counter(mBitswap, float64(st.Bitswap.DataSent), "sent")
	counter(mBitswap, float64(st.Bitswap.DataReceived), "received")
	counter(mBitswap, float64(st.Bitswap.DupData), "duplicate")
	counter(mSwarm, float64(st.Swarm.Sent), "sent")
	counter(mSwarm, float64(st.Swarm.Received), "received")
	counter(mSwarm, float64(st.Swarm.Duplicate), "duplicate")
	counter(mSwarm, float64(st.Swarm.Rejected), "rejected")
	gauge(mPeers, float64(st.Peers))
	counter(mRefused, float64(m.n.GaterRefused()))
	counter(mCorrupt, float64(c.CorruptBlocks))
	fresh := 0.0
	if st.Trust.Freshness.State == "fresh" {
		fresh = 1
	}
	gauge(mFresh, fresh)
}

// MetricsHandler serves the node's Prometheus metrics (plus the Go runtime's).
func (n *Node) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics{n}, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
