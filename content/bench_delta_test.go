package content

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// zstdCLI is the reference implementation MakeDelta is measured against.
const zstdCLI = "/usr/bin/zstd"

// deltaPairs are the release pairs the delta codec is measured on.
var deltaPairs = []struct{ name, old, new string }{
	{"libcrypto", libcryptoOld, libcryptoNew},
	{"ovmf", "../../shared/testdata/binaries/ovmf/OVMF_CODE_4M.fd-deb12u1", "../../shared/testdata/binaries/ovmf/OVMF_CODE_4M.fd-deb12u2"},
}

// zstdPatchFrom runs "zstd -19 --patch-from=OLD NEW -o PATCH" and returns the
// patch size and the command's wall time.
func zstdPatchFrom(tb testing.TB, oldPath, newPath string) (int64, time.Duration) {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "patch.zst")
	start := time.Now()
	msg, err := exec.Command(zstdCLI, "-q", "-f", "-19", "--patch-from="+oldPath, newPath, "-o", out).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		tb.Fatalf("zstd --patch-from: %v: %s", err, msg)
	}
	fi, err := os.Stat(out)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size(), took
}

func needZstdCLI(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(zstdCLI); err != nil {
		tb.Skipf("skipping: the comparison needs the zstd CLI at %s (%v)", zstdCLI, err)
	}
}

// TestDeltaTimeVsZstdCLI is the acceptance check on time: making the
// libcrypto patch takes at most 3x the wall time of zstd -19 --patch-from,
// measured in the same run (the zstd run takes about 2.5 s).
func TestDeltaTimeVsZstdCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the zstd -19 timing comparison in -short mode")
	}
	needZstdCLI(t)
	oldData, newData := readPair(t, libcryptoOld, libcryptoNew)
	zsize, ztime := zstdPatchFrom(t, libcryptoOld, libcryptoNew)
	start := time.Now()
	patch, err := MakeDelta(oldData, newData)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(took) / float64(ztime)
	t.Logf("libcrypto: MakeDelta %d bytes in %v; zstd -19 --patch-from %d bytes in %v; size x%.3f, time x%.3f",
		len(patch), took, zsize, ztime, float64(len(patch))/float64(zsize), ratio)
	if ratio > 3 {
		t.Errorf("MakeDelta took %v, %.2fx zstd's %v; want at most 3x", took, ratio, ztime)
	}
}

// BenchmarkDeltaVsZstdCLI times MakeDelta (ns/op) and, in the same run with
// the timer stopped, the zstd CLI on the same pair, and reports:
//
//	patch-B     MakeDelta's patch size in bytes
//	zstd-B      zstd -19 --patch-from's patch size in bytes
//	size-x      patch-B / zstd-B
//	time-x      MakeDelta wall time / zstd wall time
//	new-%       patch-B as a percentage of the new file
func BenchmarkDeltaVsZstdCLI(b *testing.B) {
	needZstdCLI(b)
	for _, p := range deltaPairs {
		b.Run(p.name, func(b *testing.B) {
			oldData, newData := readPair(b, p.old, p.new)
			var zsize int64
			var ztotal, mtotal time.Duration
			var patch []byte
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				var ztime time.Duration
				zsize, ztime = zstdPatchFrom(b, p.old, p.new)
				ztotal += ztime
				b.StartTimer()
				start := time.Now()
				var err error
				patch, err = MakeDelta(oldData, newData)
				mtotal += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(patch)), "patch-B")
			b.ReportMetric(float64(zsize), "zstd-B")
			b.ReportMetric(float64(len(patch))/float64(zsize), "size-x")
			b.ReportMetric(float64(mtotal)/float64(ztotal), "time-x")
			b.ReportMetric(100*float64(len(patch))/float64(len(newData)), "new-%")
		})
	}
}

// BenchmarkApplyDelta measures what a device pays to rebuild the new file:
// time and allocations (B/op includes the rebuilt file itself).
func BenchmarkApplyDelta(b *testing.B) {
	for _, p := range deltaPairs {
		b.Run(p.name, func(b *testing.B) {
			oldData, newData := readPair(b, p.old, p.new)
			patch, err := MakeDelta(oldData, newData)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(newData)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := ApplyDelta(oldData, patch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
