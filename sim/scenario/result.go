package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/tocsin-iiot/tocsin/sim/bound"
)

// Result is what an engine reports for one run; `tocsin sim run --json`
// writes it. Times are seconds of simulated time since the first advisory
// was published. Percentiles are over the honest devices that got there;
// DeliveredFraction and CompletedFraction say how many did.
type Result struct {
	Engine string `json:"engine"`
	// Nodes is the number of devices (honest or not); HonestDevices the
	// ones every figure is about. Seeds and Sybils are not counted.
	Nodes         int `json:"nodes"`
	HonestDevices int `json:"honest_devices"`
	// WallSeconds is the real time the run took. It is the one field two
	// runs of the same scenario do not share; --reproducible writes 0.
	WallSeconds float64 `json:"wall_seconds"`
	// VirtualSeconds is how much simulated time the run covered.
	VirtualSeconds float64 `json:"virtual_seconds"`

	Advisory Delivery     `json:"advisory"`
	Patch    *PatchResult `json:"patch,omitempty"`
	// ClientServerS is the time one server (the seeds alone) would need
	// to send the patch to every device: max(N·F/u_s, F/d_min).
	ClientServerS float64 `json:"client_server_s"`

	// Attacks counts what the adversaries tried and what got through.
	Attacks Attacks `json:"attacks"`
	// Upload is seed and peer upload over time, for the report.
	Upload Series `json:"upload"`
	// BytesBySource splits the patch bytes devices received: "seed",
	// "peer", "duplicate" (received twice) and "rejected" (failed
	// verification).
	BytesBySource map[string]int64 `json:"bytes_by_source"`

	Scenario Scenario `json:"scenario"`
}

// Delivery is how the first advisory spread.
type Delivery struct {
	DeliveredFraction float64 `json:"delivered_fraction"`
	P50S              float64 `json:"p50_s"`
	P99S              float64 `json:"p99_s"`
	MaxS              float64 `json:"max_s"`
	// CDF is the share of honest devices delivered by each time, at most
	// 101 points.
	CDF []Point `json:"cdf"`
}

// PatchResult is how the patch spread, against the bounds.
type PatchResult struct {
	CompletedFraction float64 `json:"completed_fraction"`
	P50S              float64 `json:"p50_s"`
	P99S              float64 `json:"p99_s"`
	MaxS              float64 `json:"max_s"`
	// BoundS is the Kumar–Ross minimum T_KR for the scenario's honest
	// devices; ChunkBoundS the chunked bound T_chunk for the chunk size.
	BoundS      float64 `json:"bound_s"`
	ChunkBoundS float64 `json:"chunk_bound_s"`
	// RatioToBound is MaxS / BoundS.
	RatioToBound float64 `json:"ratio_to_bound"`
	// SeedEgressRatio is the seeds' patch bytes sent over the file size.
	SeedEgressRatio float64 `json:"seed_egress_ratio"`
	// DuplicateRatio is the share of patch bytes received that a device
	// already had.
	DuplicateRatio float64 `json:"duplicate_ratio"`
	CDF            []Point `json:"cdf"`
	// Waits: of the honest devices' fetching time, summed, the shares
	// their schedulers spent with the window full, starved and blocked
	// (content/swarm.Waits: the links or neighbours' uploads set the pace;
	// the neighbours held nothing more yet; they did but could not be
	// asked). Nil for bitswap transfers.
	Waits *WaitShares `json:"waits,omitempty"`
}

// WaitShares: see PatchResult.Waits. The three add up to 1.
type WaitShares struct {
	Full    float64 `json:"full"`
	Starved float64 `json:"starved"`
	Blocked float64 `json:"blocked"`
}

// NewWaitShares returns full, starved and blocked as shares of their sum,
// or nil if it is zero.
func NewWaitShares(full, starved, blocked time.Duration) *WaitShares {
	sum := float64(full + starved + blocked)
	if sum <= 0 {
		return nil
	}
	return &WaitShares{Full: Round(float64(full) / sum), Starved: Round(float64(starved) / sum), Blocked: Round(float64(blocked) / sum)}
}

// Point is one point of a CDF: by time T (seconds), a share F of the honest
// devices.
type Point struct {
	T float64 `json:"t"`
	F float64 `json:"f"`
}

// Attacks counts adversary actions and their effect.
type Attacks struct {
	ForgedSent      int64 `json:"forged_sent"`
	ForgedAccepted  int64 `json:"forged_accepted"`
	BadBlocksServed int64 `json:"bad_blocks_served"`
	BadBlocksStored int64 `json:"bad_blocks_stored"`
}

// Series is upload rate over time in fixed steps, bytes per second.
type Series struct {
	StepS float64   `json:"step_s"`
	Seed  []float64 `json:"seed"`
	Peers []float64 `json:"peers"`
}

// Summarise turns per-device times (seconds; negative or NaN for a device
// that never got there) into percentiles and a CDF over n devices.
func Summarise(times []float64, n int) (fraction, p50, p99, maxS float64, cdf []Point) {
	got := make([]float64, 0, len(times))
	for _, t := range times {
		if t >= 0 && !math.IsNaN(t) {
			got = append(got, t)
		}
	}
	if n == 0 || len(got) == 0 {
		return 0, 0, 0, 0, nil
	}
	slices.Sort(got)
	q := func(p float64) float64 { return got[int(math.Ceil(p*float64(len(got))))-1] }
	fraction = float64(len(got)) / float64(n)
	steps := min(100, len(got))
	for i := 0; i <= steps; i++ {
		k := max(0, int(math.Ceil(float64(i)/float64(steps)*float64(len(got))))-1)
		cdf = append(cdf, Point{T: Round(got[k]), F: Round(float64(k+1) / float64(n))})
	}
	return Round(fraction), Round(q(0.5)), Round(q(0.99)), Round(got[len(got)-1]), cdf
}

// Round rounds to microseconds (six decimals), which keeps the JSON
// readable and identical across runs of a deterministic engine.
func Round(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// Bounds returns T_KR, T_chunk and the client–server time in seconds for
// the scenario's honest devices on graph g. T_chunk (Mundinger et al.) is
// defined for equal uploads; when the classes differ it is given in the same
// form, T_KR·(1 + ⌊log₂N⌋/k).
func Bounds(s *Scenario, g *Graph) (kr, chunk, cs float64, err error) {
	f := float64(s.PatchBytes())
	if f <= 0 {
		return 0, 0, 0, nil
	}
	var ups []float64
	dmin := math.Inf(1)
	for n := range g.Nodes {
		if !g.HonestDevice(n) {
			continue
		}
		l := s.Link(g.Nodes[n].Role)
		ups = append(ups, float64(l.Up))
		dmin = min(dmin, float64(l.Down))
	}
	if len(ups) == 0 {
		return 0, 0, 0, nil
	}
	sw := bound.Swarm{Downloaders: len(ups), FileBytes: f, SeedUpload: float64(g.Seeds) * float64(s.Links.Seed.Up), PeerUploads: ups, MinDownload: dmin}
	if kr, err = sw.KumarRoss(); err != nil {
		return 0, 0, 0, fmt.Errorf("bound: %w", err)
	}
	if cs, err = sw.ClientServer(); err != nil {
		return 0, 0, 0, fmt.Errorf("bound: %w", err)
	}
	k, err := bound.Chunks(s.PatchBytes(), int64(s.Patch.Chunk))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("bound: %w", err)
	}
	if chunk, err = sw.Chunked(k); err != nil {
		log2n := math.Floor(math.Log2(float64(len(ups))))
		chunk, err = kr*(1+log2n/float64(k)), nil
	}
	return Round(kr), Round(chunk), Round(cs), nil
}

// Finish fills in the derived fields: bounds, the ratio to the bound, and
// client–server time. Engines call it once their figures are in.
func (r *Result) Finish(s *Scenario, g *Graph) error {
	kr, chunk, cs, err := Bounds(s, g)
	if err != nil {
		return err
	}
	r.ClientServerS = cs
	if r.Patch != nil {
		r.Patch.BoundS, r.Patch.ChunkBoundS = kr, chunk
		if kr > 0 {
			r.Patch.RatioToBound = Round(r.Patch.MaxS / kr)
		}
	}
	r.Scenario = *s
	return nil
}

// WriteJSON writes the result, indented, with a final newline.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
