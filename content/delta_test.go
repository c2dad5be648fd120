package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const (
	libcryptoDir = "../../shared/testdata/binaries/libcrypto/"
	libcryptoOld = libcryptoDir + "libcrypto.so.3-3.0.20"
	libcryptoNew = libcryptoDir + "libcrypto.so.3-3.0.22"
	// libcryptoMaxPatch is the acceptance bound (zstd -19 --patch-from
	// gives 421,038 bytes; klauspost's best level about 503 kB).
	libcryptoMaxPatch = 526_000
)

// readPair reads a pair of test binaries, skipping the test when they are
// not on this machine.
func readPair(tb testing.TB, oldPath, newPath string) (oldData, newData []byte) {
	tb.Helper()
	oldData, err := os.ReadFile(oldPath)
	if err != nil {
		tb.Skipf("test binaries not available: %v", err)
	}
	newData, err = os.ReadFile(newPath)
	if err != nil {
		tb.Skipf("test binaries not available: %v", err)
	}
	return oldData, newData
}

func TestDeltaLibcryptoRoundTrip(t *testing.T) {
	oldData, newData := readPair(t, libcryptoOld, libcryptoNew)
	start := time.Now()
	patch, err := MakeDelta(oldData, newData)
	if err != nil {
		t.Fatal(err)
	}
	made := time.Since(start)
	if len(patch) > libcryptoMaxPatch {
		t.Errorf("patch is %d bytes, want at most %d", len(patch), libcryptoMaxPatch)
	}
	start = time.Now()
	got, err := ApplyDelta(oldData, patch)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(newData) {
		t.Fatal("rebuilt file's sha256 differs from the new file's")
	}
	t.Logf("libcrypto %d -> %d bytes: patch %d bytes (%.2f%%), made in %v, applied in %v",
		len(oldData), len(newData), len(patch), 100*float64(len(patch))/float64(len(newData)), made, time.Since(start))
}

// smallPair is a synthetic old/new pair shaped like a patched binary: mostly
// the same bytes, some edits, an insertion, a deletion and moved code.
func smallPair(size int) (oldData, newData []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	oldData = make([]byte, size)
	for i := range oldData {
		// Skewed bytes, so literals compress a little, as in code.
		oldData[i] = byte(r.IntN(40) * r.IntN(7))
	}
	newData = bytes.Clone(oldData)
	for range size / 500 {
		newData[r.IntN(len(newData))] ^= byte(1 + r.IntN(255))
	}
	ins := make([]byte, 700)
	for i := range ins {
		ins[i] = byte(r.Uint32())
	}
	mid := size / 2
	newData = append(newData[:mid:mid], append(ins, newData[mid:]...)...)
	newData = append(newData[:size/4], newData[size/4+300:]...)
	newData = append(newData, oldData[100:2100]...)
	return oldData, newData
}

var smallFixture = sync.OnceValues(func() ([]byte, []byte) { return smallPair(64 << 10) })

func smallPatch(t testing.TB) (oldData, newData, patch []byte) {
	t.Helper()
	oldData, newData = smallFixture()
	patch, err := MakeDelta(oldData, newData)
	if err != nil {
		t.Fatal(err)
	}
	return oldData, newData, patch
}

// withHeader rewrites patch's header through edit and re-seals its checksum.
func withHeader(patch []byte, edit func(h []byte)) []byte {
	p := bytes.Clone(patch)
	edit(p[:DeltaHeaderSize])
	binary.BigEndian.PutUint32(p[100:], crc32.Checksum(p[:100], castagnoli))
	return p
}

func TestDeltaRoundTripEdgeCases(t *testing.T) {
	oldData, newData := smallFixture()
	r := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	for _, c := range []struct {
		name     string
		old, new []byte
	}{
		{"synthetic", oldData, newData},
		{"identical", oldData, oldData},
		{"both empty", nil, nil},
		{"empty new", oldData, nil},
		{"empty old", nil, newData},
		{"tiny new", oldData, oldData[5000:5100]},
		{"exactly 1 KiB new", oldData, oldData[:1024]},
		{"unrelated random", random(10000), random(20000)},
	} {
		patch, err := MakeDelta(c.old, c.new)
		if err != nil {
			t.Errorf("%s: MakeDelta: %v", c.name, err)
			continue
		}
		got, err := ApplyDelta(c.old, patch)
		if err != nil {
			t.Errorf("%s: ApplyDelta: %v", c.name, err)
			continue
		}
		if !bytes.Equal(got, c.new) {
			t.Errorf("%s: rebuilt %d bytes differ from new %d bytes", c.name, len(got), len(c.new))
		}
		h, err := ParseDeltaHeader(patch)
		if err != nil || h.NewSize != uint64(len(c.new)) || h.OldSize != uint64(len(c.old)) || int(h.BodySize) != len(patch)-DeltaHeaderSize {
			t.Errorf("%s: header %+v, %v", c.name, h, err)
		}
	}
	// A delta of a mostly unchanged file is small.
	patch, _ := MakeDelta(oldData, newData)
	if len(patch) > len(newData)/8 {
		t.Errorf("synthetic patch %d bytes for a %d-byte file with few edits", len(patch), len(newData))
	}
}

func TestApplyDeltaWrongOld(t *testing.T) {
	oldData, _, patch := smallPatch(t)
	sameSize := bytes.Clone(oldData)
	sameSize[len(sameSize)/3] ^= 1
	for name, o := range map[string][]byte{
		"one byte differs": sameSize,
		"shorter":          oldData[:len(oldData)-1],
		"longer":           append(bytes.Clone(oldData), 0),
		"empty":            nil,
	} {
		if _, err := ApplyDelta(o, patch); !errors.Is(err, ErrWrongOld) {
			t.Errorf("%s: err %v, want ErrWrongOld", name, err)
		}
	}
}

func TestApplyDeltaTruncated(t *testing.T) {
	oldData, _, patch := smallPatch(t)
	for _, n := range []int{0, 2, 4, 5, 50, DeltaHeaderSize - 1, DeltaHeaderSize, DeltaHeaderSize + 1, len(patch) / 2, len(patch) - 1} {
		_, err := ApplyDelta(oldData, patch[:n])
		if !errors.Is(err, ErrTruncatedDelta) {
			t.Errorf("patch cut to %d of %d bytes: err %v, want ErrTruncatedDelta", n, len(patch), err)
		}
	}
	// Bytes after the declared body are corruption, not truncation.
	if _, err := ApplyDelta(oldData, append(bytes.Clone(patch), 0)); !errors.Is(err, ErrCorruptDelta) {
		t.Errorf("trailing byte: err %v, want ErrCorruptDelta", err)
	}
}

func TestApplyDeltaFlippedByte(t *testing.T) {
	oldData, newData, patch := smallPatch(t)
	for i := range patch {
		p := bytes.Clone(patch)
		p[i] ^= 0x20
		got, err := ApplyDelta(oldData, p)
		var want error
		switch {
		case i < 4:
			want = ErrNotDelta
		case i == 4:
			want = ErrUnsupportedVersion
		default:
			want = ErrCorruptDelta // header or body checksum
		}
		if !errors.Is(err, want) {
			t.Errorf("byte %d of %d flipped: err %v, want %v", i, len(patch), err, want)
		}
		if err == nil && !bytes.Equal(got, newData) {
			t.Fatalf("byte %d flipped: wrong output returned without error", i)
		}
		if i < DeltaHeaderSize {
			continue
		}
		// With the body checksum re-sealed the flip reaches the zstd
		// decoder: it must fail or, where the bit is insignificant (padding
		// in an entropy table), still produce exactly the new file.
		got, err = ApplyDelta(oldData, reseal(p, oldData))
		if err != nil && !errors.Is(err, ErrCorruptDelta) {
			t.Errorf("byte %d flipped, body re-sealed: err %v, want ErrCorruptDelta", i, err)
		}
		if err == nil && !bytes.Equal(got, newData) {
			t.Fatalf("byte %d flipped, body re-sealed: wrong output returned without error", i)
		}
	}
}

// reseal returns a copy of p whose header is made valid for oldData and
// whatever body p carries: magic, version, old size and hash, body size and
// both checksums. The declared new size and hash are kept.
func reseal(p, oldData []byte) []byte {
	q := bytes.Clone(p)
	copy(q, deltaMagic)
	q[4], q[5], q[6], q[7] = deltaVersion, 0, 0, 0
	oldSHA := sha256.Sum256(oldData)
	binary.BigEndian.PutUint64(q[8:], uint64(len(oldData)))
	binary.BigEndian.PutUint64(q[24:], uint64(len(q)-DeltaHeaderSize))
	copy(q[32:64], oldSHA[:])
	binary.BigEndian.PutUint32(q[96:], crc32.Checksum(q[DeltaHeaderSize:], castagnoli))
	binary.BigEndian.PutUint32(q[100:], crc32.Checksum(q[:100], castagnoli))
	return q
}

func TestApplyDeltaNewHashMismatch(t *testing.T) {
	oldData, _, patch := smallPatch(t)
	p := withHeader(patch, func(h []byte) { h[64] ^= 1 }) // declared new sha256
	_, err := ApplyDelta(oldData, p)
	if !errors.Is(err, ErrNewMismatch) || !errors.Is(err, ErrCorruptDelta) {
		t.Errorf("err %v, want ErrNewMismatch and ErrCorruptDelta", err)
	}
}

func TestApplyDeltaHeaderChecks(t *testing.T) {
	oldData, _, patch := smallPatch(t)
	for _, c := range []struct {
		name  string
		patch []byte
		want  error
	}{
		{"not a delta", []byte("\x28\xb5\x2f\xfd plain zstd frame, not a delta ........................................................................"), ErrNotDelta},
		{"version 2", withHeader(patch, func(h []byte) { h[4] = 2 }), ErrUnsupportedVersion},
		{"reserved byte", withHeader(patch, func(h []byte) { h[6] = 1 }), ErrCorruptDelta},
		{"body size too big", withHeader(patch, func(h []byte) { binary.BigEndian.PutUint64(h[24:], 1<<62) }), ErrTruncatedDelta},
		{"new size smaller", withHeader(patch, func(h []byte) { binary.BigEndian.PutUint64(h[16:], binary.BigEndian.Uint64(h[16:])-1) }), ErrCorruptDelta},
		{"new size larger", withHeader(patch, func(h []byte) { binary.BigEndian.PutUint64(h[16:], binary.BigEndian.Uint64(h[16:])+1) }), ErrCorruptDelta},
	} {
		if _, err := ApplyDelta(oldData, c.patch); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

func TestApplyDeltaOversize(t *testing.T) {
	oldData, newData, patch := smallPatch(t)
	for _, size := range []uint64{DefaultMaxDeltaSize + 1, 1 << 40, 1<<64 - 1} {
		p := withHeader(patch, func(h []byte) { binary.BigEndian.PutUint64(h[16:], size) })
		if _, err := ApplyDelta(oldData, p); !errors.Is(err, ErrDeltaTooLarge) {
			t.Errorf("declared new size %d: err %v, want ErrDeltaTooLarge", size, err)
		}
	}
	if _, err := ApplyDeltaLimit(oldData, patch, int64(len(newData))-1); !errors.Is(err, ErrDeltaTooLarge) {
		t.Errorf("cap one byte below the new size: err %v, want ErrDeltaTooLarge", err)
	}
	if _, err := ApplyDeltaLimit(oldData, patch, -1); !errors.Is(err, ErrDeltaTooLarge) {
		t.Errorf("negative cap: err %v, want ErrDeltaTooLarge", err)
	}
	if _, err := ApplyDeltaLimit(oldData, patch, int64(len(newData))); err != nil {
		t.Errorf("cap equal to the new size: %v", err)
	}
}

// TestDeltaBodyIsZstdPatchFrom checks the format claim in delta.go: the body
// is an ordinary zstd frame that "zstd -d --patch-from=OLD" applies.
func TestDeltaBodyIsZstdPatchFrom(t *testing.T) {
	zstdCLI := "/usr/bin/zstd"
	if _, err := os.Stat(zstdCLI); err != nil {
		t.Skipf("no zstd CLI: %v", err)
	}
	oldData, newData, patch := smallPatch(t)
	body, err := DeltaBody(patch)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	oldPath, bodyPath, outPath := filepath.Join(dir, "old"), filepath.Join(dir, "body.zst"), filepath.Join(dir, "out")
	if err := os.WriteFile(oldPath, oldData, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zstdCLI, "-q", "-d", "--patch-from="+oldPath, bodyPath, "-o", outPath).CombinedOutput(); err != nil {
		t.Fatalf("zstd -d --patch-from: %v: %s", err, out)
	}
	got, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, newData) {
		t.Error("zstd CLI rebuilt a different file")
	}
}

// deltaSentinels are the errors every ApplyDelta failure must wrap.
var deltaSentinels = []error{ErrNotDelta, ErrUnsupportedVersion, ErrTruncatedDelta, ErrCorruptDelta, ErrWrongOld, ErrDeltaTooLarge}

func FuzzApplyDelta(f *testing.F) {
	oldData, newData := smallPair(4 << 10)
	patch, err := MakeDelta(oldData, newData)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(patch)
	f.Add(patch[:len(patch)/2])
	f.Add([]byte{})
	f.Add([]byte(deltaMagic))
	other, _ := MakeDelta(oldData, oldData[:100])
	f.Add(other)
	const limit = 1 << 20
	check := func(t *testing.T, p []byte) {
		out, err := ApplyDeltaLimit(oldData, p, limit)
		if err != nil {
			for _, s := range deltaSentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		h, herr := ParseDeltaHeader(p)
		if herr != nil || uint64(len(out)) != h.NewSize || sha256.Sum256(out) != h.NewSHA || len(out) > limit {
			t.Fatalf("accepted output of %d bytes that does not match its header %+v (%v)", len(out), h, herr)
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		check(t, p)
		// Most mutations stop at a checksum. Re-seal the header for this
		// old file so the mutated body reaches the zstd decoder.
		if len(p) >= DeltaHeaderSize {
			check(t, reseal(p, oldData))
		}
	})
}
