package node

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRateCaps: with max_upload_rate 1MiB/s a seed's measured upload over a
// 16 MiB transfer stays within 10% of the cap; with max_download_rate a
// device's download does too.
func TestRateCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("transfers 24 MiB at capped rates (about 20 s); skipped in -short mode")
	}
	for _, c := range []struct {
		name       string
		size       int
		up, down   string
		capBytesPS float64
	}{
		{"upload 1MiB/s over 16 MiB", 16 << 20, "1MiB/s", "", 1 << 20},
		{"download 2MiB/s over 8 MiB", 8 << 20, "", "2MiB/s", 2 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFleet(t, 0)
			off := time.Duration(0)
			f.seed.Close()
			f.seed = f.start(&Config{Role: RoleSeed, DataDir: filepath.Join(t.TempDir(), "seed"), TrustRoot: f.rootPath,
				MaxUploadRate: c.up, SuperSeedInterval: &off})
			cfg := f.deviceConfig(filepath.Join(t.TempDir(), "dev"))
			cfg.MaxDownloadRate = c.down
			dev := f.start(cfg)
			f.connect(f.seed.Host(), dev.Host())
			rel, _, _ := f.publish(randomBytes(t, c.size), "2.0.0")
			start := time.Now()
			var sent0 uint64
			waitFor(t, "first bytes", 10*time.Second, func() bool {
				st := f.seed.Status()
				sent0 = st.Bitswap.DataSent + uint64(st.Swarm.Sent)
				return sent0 > 0
			})
			start = time.Now()
			waitInstalled(t, dev, rel.ID())
			elapsed := time.Since(start).Seconds()
			st := f.seed.Status()
			sent := float64(st.Bitswap.DataSent + uint64(st.Swarm.Sent) - sent0)
			got := sent / elapsed
			ratio := got / c.capBytesPS
			t.Logf("%.0f bytes in %.2f s: %.3f MiB/s, %.3f x the cap", sent, elapsed, got/(1<<20), ratio)
			if ratio < 0.9 || ratio > 1.1 {
				t.Fatalf("measured rate is %.3f x the cap, want within 10%%", ratio)
			}
		})
	}
}
