package bound

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const (
	mib = 1 << 20
	kib = 1 << 10
)

// near reports whether got is within a relative 1e-9 of want.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// must returns a function that fails t on an error and otherwise passes the
// bound through: must(t)(s.KumarRoss()).
func must(t *testing.T) func(float64, error) float64 {
	return func(v float64, err error) float64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestProbeSetting checks the figures of Tocsin's probe: symmetric 20 Mbit/s
// links (2.5e6 B/s), a 4 MiB file (4,194,304 B) in 256 KiB blocks.
func TestProbeSetting(t *testing.T) {
	rate := MbitPerSecond(20)
	if rate != 2.5e6 {
		t.Fatalf("20 Mbit/s = %g B/s, want 2.5e6", rate)
	}
	k, err := Chunks(4*mib, 256*kib)
	if err != nil || k != 16 {
		t.Fatalf("Chunks(4 MiB, 256 KiB) = %d, %v; want 16", k, err)
	}
	const fOverU = 4 * mib / 2.5e6 // 1.6777216 s: one file time at one link's rate
	for _, c := range []struct {
		n                  int
		kr, chunked, cs    float64
		krApprox, csApprox float64
	}{
		// T_KR: max(F/u, F/u, N·F/((N+1)·u)) = F/u.
		// T_chunk: F/u·(1 + ⌊log₂ 100⌋/16) = F/u·(1 + 6/16).
		// Client–server: N·F/u.
		{n: 100, kr: fOverU, chunked: fOverU * (1 + 6.0/16), cs: 100 * fOverU, krApprox: 1.68, csApprox: 168},
		// ⌊log₂ 1000⌋ = 9.
		{n: 1000, kr: fOverU, chunked: fOverU * (1 + 9.0/16), cs: 1000 * fOverU, krApprox: 1.68, csApprox: 1678},
	} {
		s := Symmetric(c.n, 4*mib, rate)
		kr := must(t)(s.KumarRoss())
		ch := must(t)(s.Chunked(k))
		cs := must(t)(s.ClientServer())
		if !near(kr, c.kr) || !near(ch, c.chunked) || !near(cs, c.cs) {
			t.Errorf("N=%d: T_KR %v, T_chunk %v, client-server %v; want %v, %v, %v", c.n, kr, ch, cs, c.kr, c.chunked, c.cs)
		}
		if math.Abs(kr-c.krApprox) > 0.005 || math.Abs(cs-c.csApprox) > 0.5 {
			t.Errorf("N=%d: T_KR %.3f s, client-server %.1f s; want ≈%v and ≈%v", c.n, kr, cs, c.krApprox, c.csApprox)
		}
	}
	// Written out for the record.
	if got := must(t)(Symmetric(100, 4*mib, rate).Chunked(16)); !near(got, 2.3068672) {
		t.Errorf("T_chunk(100, k=16) = %v, want 2.3068672", got)
	}
}

func TestKumarRossHandComputed(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Swarm
		want float64
	}{
		// F/u_s = 100, F/d = 10, N·F/(u_s+Σu) = 3000/30 = 100.
		{"seed-limited", Swarm{Downloaders: 3, FileBytes: 1000, SeedUpload: 10, PeerUploads: []float64{5, 0, 15}, MinDownload: 100}, 100},
		// F/u_s = 10, F/d = 20, 3000/(100+20) = 25.
		{"swarm-limited", Swarm{Downloaders: 3, FileBytes: 1000, SeedUpload: 100, PeerUploads: []float64{0, 0, 20}, MinDownload: 50}, 25},
		// F/d = 100 dominates 1 and 3000/4000.
		{"download-limited", Swarm{Downloaders: 3, FileBytes: 1000, SeedUpload: 1000, PeerUpload: 1000, MinDownload: 10}, 100},
		// Free riders: u_i = 0 gives N·F/u_s = 4000/10.
		{"no device uploads", Swarm{Downloaders: 4, FileBytes: 1000, SeedUpload: 10, MinDownload: math.Inf(1)}, 400},
		// One device: the seed's upload or the device's download.
		{"one device", Swarm{Downloaders: 1, FileBytes: 1000, SeedUpload: 50, PeerUpload: 7, MinDownload: 40}, 25},
	} {
		if got := must(t)(c.s.KumarRoss()); !near(got, c.want) {
			t.Errorf("%s: T_KR = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestChunkedHandComputed(t *testing.T) {
	// F/u = 10 s throughout.
	for _, c := range []struct {
		n, k int
		want float64
	}{
		{1, 1, 10},       // ⌊log₂ 1⌋ = 0: one transfer
		{2, 1, 20},       // the file must arrive whole before it is passed on
		{2, 4, 12.5},     // 1 + 1/4
		{7, 2, 20},       // ⌊log₂ 7⌋ = 2
		{8, 2, 25},       // ⌊log₂ 8⌋ = 3
		{1023, 9, 20},    // ⌊log₂ 1023⌋ = 9
		{1024, 10, 20},   // ⌊log₂ 1024⌋ = 10
		{1 << 20, 5, 50}, // 1 + 20/5
	} {
		s := Swarm{Downloaders: c.n, FileBytes: 1000, SeedUpload: 100, PeerUpload: 100, MinDownload: 100}
		if got := must(t)(s.Chunked(c.k)); !near(got, c.want) {
			t.Errorf("N=%d k=%d: T_chunk = %v, want %v", c.n, c.k, got, c.want)
		}
	}
	// Per-device uploads that are all equal to the seed's are accepted.
	s := Swarm{Downloaders: 3, FileBytes: 1000, SeedUpload: 100, PeerUploads: []float64{100, 100, 100}, MinDownload: 1}
	if got := must(t)(s.Chunked(1)); !near(got, 20) {
		t.Errorf("explicit equal uploads: %v, want 20", got)
	}
}

func TestClientServerHandComputed(t *testing.T) {
	for _, c := range []struct {
		s    Swarm
		want float64
	}{
		{Swarm{Downloaders: 10, FileBytes: 1000, SeedUpload: 100, MinDownload: 1000}, 100}, // N·F/u_s
		{Swarm{Downloaders: 10, FileBytes: 1000, SeedUpload: 1e6, MinDownload: 10}, 100},   // F/d_min
	} {
		if got := must(t)(c.s.ClientServer()); !near(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.s, got, c.want)
		}
	}
}

// TestChunkedAtLeastKumarRoss: with equal capacities (downloads no slower
// than uploads) T_KR = F/u and T_chunk = F/u·(1 + ⌊log₂ N⌋/k) ≥ T_KR, with
// equality for N = 1 and convergence as k grows.
func TestChunkedAtLeastKumarRoss(t *testing.T) {
	for n := 1; n <= 3000; n += 1 + n/10 {
		for _, k := range []int{1, 2, 3, 16, 100, 4096} {
			for _, down := range []float64{2.5e6, 1e7, math.Inf(1)} {
				s := Swarm{Downloaders: n, FileBytes: 4 * mib, SeedUpload: 2.5e6, PeerUpload: 2.5e6, MinDownload: down}
				kr, ch := must(t)(s.KumarRoss()), must(t)(s.Chunked(k))
				if ch < kr*(1-1e-12) {
					t.Fatalf("N=%d k=%d d=%g: T_chunk %v < T_KR %v", n, k, down, ch, kr)
				}
				if n == 1 && !near(ch, kr) {
					t.Fatalf("N=1 k=%d: T_chunk %v != T_KR %v", k, ch, kr)
				}
			}
		}
	}
	s := Symmetric(1000, 4*mib, 2.5e6)
	kr, ch := must(t)(s.KumarRoss()), must(t)(s.Chunked(1<<20))
	if (ch-kr)/kr > 1e-5 {
		t.Errorf("k=2^20: T_chunk %v does not approach T_KR %v", ch, kr)
	}
}

func TestMonotoneInN(t *testing.T) {
	prevKR, prevCh, prevCS := 0.0, 0.0, 0.0
	for n := 1; n <= 5000; n++ {
		s := Symmetric(n, 4*mib, MbitPerSecond(20))
		s.MinDownload = MbitPerSecond(100)
		kr, ch, cs := must(t)(s.KumarRoss()), must(t)(s.Chunked(16)), must(t)(s.ClientServer())
		if kr < prevKR || ch < prevCh || cs <= prevCS {
			t.Fatalf("N=%d: T_KR %v (was %v), T_chunk %v (was %v), client-server %v (was %v): not monotone", n, kr, prevKR, ch, prevCh, cs, prevCS)
		}
		prevKR, prevCh, prevCS = kr, ch, cs
	}
}

func TestBiggerChunksNeverLower(t *testing.T) {
	for _, n := range []int{1, 2, 5, 100, 1000, 65536} {
		s := Symmetric(n, 4*mib+12345, 2.5e6)
		prev := 0.0
		for chunk := int64(1 * kib); chunk <= 8*mib; chunk *= 2 {
			k, err := Chunks(int64(s.FileBytes), chunk)
			if err != nil {
				t.Fatal(err)
			}
			got := must(t)(s.Chunked(k))
			if got < prev {
				t.Fatalf("N=%d: %d-byte chunks (k=%d) give %v, below %v for smaller chunks", n, chunk, k, got, prev)
			}
			prev = got
		}
	}
}

// TestPeerAssistNeverSlower: random heterogeneous swarms; T_KR is never
// above the client–server time and never below F/u_s or F/d_min.
func TestPeerAssistNeverSlower(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		n := 1 + r.IntN(300)
		ups := make([]float64, n)
		for i := range ups {
			ups[i] = r.Float64() * 1e7
		}
		s := Swarm{Downloaders: n, FileBytes: 1 + r.Float64()*1e9, SeedUpload: 1 + r.Float64()*1e7, PeerUploads: ups, MinDownload: 1 + r.Float64()*1e8}
		kr, cs := must(t)(s.KumarRoss()), must(t)(s.ClientServer())
		if kr > cs*(1+1e-12) || kr < s.FileBytes/s.SeedUpload || kr < s.FileBytes/s.MinDownload {
			t.Fatalf("%+v: T_KR %v, client-server %v", s, kr, cs)
		}
	}
}

func TestInvalidInputs(t *testing.T) {
	good := Symmetric(10, 1000, 100)
	for _, c := range []struct {
		name string
		edit func(*Swarm)
	}{
		{"N=0", func(s *Swarm) { s.Downloaders = 0 }},
		{"N<0", func(s *Swarm) { s.Downloaders = -5 }},
		{"F=0", func(s *Swarm) { s.FileBytes = 0 }},
		{"F<0", func(s *Swarm) { s.FileBytes = -1 }},
		{"F NaN", func(s *Swarm) { s.FileBytes = math.NaN() }},
		{"F Inf", func(s *Swarm) { s.FileBytes = math.Inf(1) }},
		{"u_s=0", func(s *Swarm) { s.SeedUpload = 0 }},
		{"u_s<0", func(s *Swarm) { s.SeedUpload = -100 }},
		{"u_s NaN", func(s *Swarm) { s.SeedUpload = math.NaN() }},
		{"d_min=0", func(s *Swarm) { s.MinDownload = 0 }},
		{"d_min<0", func(s *Swarm) { s.MinDownload = -1 }},
		{"d_min NaN", func(s *Swarm) { s.MinDownload = math.NaN() }},
	} {
		s := good
		c.edit(&s)
		for name, f := range map[string]func() (float64, error){"KumarRoss": s.KumarRoss, "ClientServer": s.ClientServer, "Chunked": func() (float64, error) { return s.Chunked(4) }} {
			if v, err := f(); !errors.Is(err, ErrInvalid) || v != 0 {
				t.Errorf("%s: %s = %v, %v; want ErrInvalid", c.name, name, v, err)
			}
		}
	}
	// Device uploads: checked by the peer-assisted bounds only.
	for _, c := range []struct {
		name string
		edit func(*Swarm)
	}{
		{"u<0", func(s *Swarm) { s.PeerUpload = -1 }},
		{"u NaN", func(s *Swarm) { s.PeerUpload = math.NaN() }},
		{"too few u_i", func(s *Swarm) { s.PeerUploads = []float64{100, 100} }},
		{"too many u_i", func(s *Swarm) { s.PeerUploads = make([]float64, 11) }},
		{"negative u_i", func(s *Swarm) { s.PeerUploads = []float64{100, 100, 100, 100, 100, -1, 100, 100, 100, 100} }},
		{"Inf u_i", func(s *Swarm) { s.PeerUploads = []float64{100, 100, 100, 100, 100, math.Inf(1), 100, 100, 100, 100} }},
	} {
		s := good
		c.edit(&s)
		if _, err := s.KumarRoss(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: KumarRoss err %v, want ErrInvalid", c.name, err)
		}
		if _, err := s.Chunked(4); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Chunked err %v, want ErrInvalid", c.name, err)
		}
		if _, err := s.ClientServer(); err != nil {
			t.Errorf("%s: ClientServer does not use device uploads, got %v", c.name, err)
		}
	}
	// The chunked bound's own domain.
	for _, k := range []int{0, -1} {
		if _, err := good.Chunked(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("k=%d: err %v, want ErrInvalid", k, err)
		}
	}
	unequal := good
	unequal.PeerUpload = 50
	if _, err := unequal.Chunked(4); !errors.Is(err, ErrInvalid) {
		t.Errorf("device upload below the seed's: err %v, want ErrInvalid", err)
	}
	unequal = good
	unequal.PeerUploads = []float64{100, 100, 100, 100, 100, 100, 100, 100, 100, 0}
	if _, err := unequal.Chunked(4); !errors.Is(err, ErrInvalid) {
		t.Errorf("one silent device: err %v, want ErrInvalid", err)
	}
	if _, err := unequal.KumarRoss(); err != nil {
		t.Errorf("KumarRoss takes unequal uploads: %v", err)
	}
	for _, c := range [][2]int64{{0, 1}, {1, 0}, {-1, 1}, {1, -1}} {
		if _, err := Chunks(c[0], c[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("Chunks(%d, %d): err %v, want ErrInvalid", c[0], c[1], err)
		}
	}
}

func TestChunksAndSeconds(t *testing.T) {
	for _, c := range []struct {
		f, c int64
		want int
	}{{4 * mib, 256 * kib, 16}, {4*mib + 1, 256 * kib, 17}, {1, 256 * kib, 1}, {256 * kib, 256 * kib, 1}, {3, 1, 3}} {
		if k, err := Chunks(c.f, c.c); err != nil || k != c.want {
			t.Errorf("Chunks(%d, %d) = %d, %v; want %d", c.f, c.c, k, err, c.want)
		}
	}
	if got := Seconds(1.6777216); got != 1677721600*time.Nanosecond {
		t.Errorf("Seconds(1.6777216) = %v", got)
	}
	if got := Seconds(1e300); got != math.MaxInt64 {
		t.Errorf("Seconds(1e300) = %v, want the largest Duration", got)
	}
}
