// Binary deltas between two versions of a file, in the manner of
// "zstd --patch-from".
//
// Why a delta at all: a security update to an industrial device usually
// changes a few functions of a large binary (a libcrypto, a firmware image).
// Shipping the whole new file costs every device the full size; shipping the
// difference against the version the device already runs costs a fraction of
// it. On libcrypto.so.3 3.0.20 → 3.0.22 (4.7 MB) the patch made here is about
// 503 kB, a tenth of the file.
//
// Why this format: the patch body is one ordinary Zstandard frame compressed
// with the OLD file loaded as a raw-content dictionary (dictionary ID 0), with
// a window large enough to reach from the end of the new file back to the
// start of the old one. That is exactly what "zstd --patch-from=OLD" writes,
// so the body can be inspected or applied with the stock tool
// ("zstd -d --patch-from=OLD"), and no new compression format needs reviewing.
// A generic LZ77 coder over "old as history" finds moved and unchanged code
// without any knowledge of executable formats; bsdiff-style suffix sorting
// can do better on executables but needs many times the file size in memory
// and a format of its own. In front of the frame sits a fixed 104-byte header that makes
// applying a delta safe to automate:
//
//	offset size  field
//	     0    4  magic "TDZP" (Tocsin Delta, Zstd Patch)
//	     4    1  format version, 1
//	     5    3  reserved, zero
//	     8    8  old size in bytes (big-endian)
//	    16    8  new size in bytes (big-endian)
//	    24    8  body size in bytes (big-endian)
//	    32   32  SHA-256 of the old file
//	    64   32  SHA-256 of the new file
//	    96    4  CRC-32C (Castagnoli) of the body (big-endian)
//	   100    4  CRC-32C of bytes 0..99, the header itself (big-endian)
//	   104    …  body: one zstd frame, dictionary = old file
//
// ApplyDelta checks, in order: the magic and version (ErrNotDelta,
// ErrUnsupportedVersion), that the header is complete and its checksum holds
// (ErrTruncatedDelta, ErrCorruptDelta), that the declared new size is within
// the caller's cap before any output buffer is allocated (ErrDeltaTooLarge),
// that the body is complete and its checksum holds (ErrTruncatedDelta,
// ErrCorruptDelta), that the old file given is the one the delta was made
// against (ErrWrongOld), and finally that the decoded output has the declared
// size and SHA-256 (ErrCorruptDelta, and ErrNewMismatch for a hash mismatch).
// The decoder's output buffer has the declared new size and decoding stops
// at the first block that overflows it, so besides old and patch the memory
// used is the declared size (transiently up to about twice that, if a hostile
// block overflows the buffer) plus the decoder's own small tables. The CRCs only classify
// accidents (truncation, bit flips) early and precisely; the SHA-256 of the
// new file is the authority, and the zstd frame carries no checksum of its
// own. Nothing here is signed: whoever made the delta chose the header's
// hashes, so a caller must compare the rebuilt file's SHA-256 (or
// DeltaHeader.NewSHA) with the hash in signed release metadata before
// trusting it.
//
// Limits: MakeDelta and ApplyDelta work on whole files in memory, up to
// DefaultMaxDeltaSize (1 GiB) by default. The zstd window is at most 512 MiB
// (the library's limit), so for old + new above that, matches reach back only
// 512 MiB and patches grow, but stay correct.
//
// Why github.com/klauspost/compress: it is pure Go (no cgo, so the
// cross-compiled device binary stays static), it is already in the build
// through badger (the block store) and the Prometheus client, it supports raw
// dictionaries for both encoding and decoding, its decoder is fuzzed upstream
// and has a cap on output size, and it interoperates with the reference zstd.
// Its strongest level (SpeedBestCompression) compresses less than zstd -19
// (503,182 against 421,038 bytes on the libcrypto pair, 1.20x) but runs about
// ten times faster (0.3 s against 2.6-3.0 s), which suits a seed that makes
// patches for many releases. Larger windows, one encoder goroutine or two,
// WithLowerEncoderMem and WithAllLitEntropyCompression(false) all give the
// same size on that pair; a 4 MiB window, shorter than the old file, loses
// most matches (1.84 MB).

package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// Errors returned by ApplyDelta and MakeDelta, always wrapped with detail;
// test them with errors.Is.
var (
	// ErrNotDelta: the data does not start with the delta magic.
	ErrNotDelta = errors.New("not a tocsin delta")
	// ErrUnsupportedVersion: a delta format version this build cannot read.
	ErrUnsupportedVersion = errors.New("unsupported delta format version")
	// ErrTruncatedDelta: the header or the body is shorter than declared.
	ErrTruncatedDelta = errors.New("delta is truncated")
	// ErrCorruptDelta: the header checksum fails, the body does not decode,
	// or the output is not the declared new file.
	ErrCorruptDelta = errors.New("delta is corrupt")
	// ErrNewMismatch: the decoded output does not hash to the declared
	// SHA-256 of the new file. Errors carrying it also match ErrCorruptDelta.
	ErrNewMismatch = errors.New("rebuilt file does not match the delta's new sha256")
	// ErrWrongOld: the old file given is not the one the delta was made from.
	ErrWrongOld = errors.New("delta was made against a different old file")
	// ErrDeltaTooLarge: a file above the size cap.
	ErrDeltaTooLarge = errors.New("delta file size above the cap")
)

// DefaultMaxDeltaSize caps the new file ApplyDelta will build and the inputs
// MakeDelta accepts: 1 GiB.
const DefaultMaxDeltaSize = 1 << 30

// DeltaHeaderSize is the size of the fixed header in front of the zstd body.
const DeltaHeaderSize = 104

const (
	deltaMagic   = "TDZP"
	deltaVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DeltaHeader is the decoded fixed header of a delta.
type DeltaHeader struct {
	Version  uint8
	OldSize  uint64
	NewSize  uint64
	BodySize uint64
	OldSHA   [32]byte
	NewSHA   [32]byte
	BodyCRC  uint32 // CRC-32C (Castagnoli) of the body
}

func (h *DeltaHeader) marshal() []byte {
	b := make([]byte, DeltaHeaderSize)
	copy(b, deltaMagic)
	b[4] = h.Version
	binary.BigEndian.PutUint64(b[8:], h.OldSize)
	binary.BigEndian.PutUint64(b[16:], h.NewSize)
	binary.BigEndian.PutUint64(b[24:], h.BodySize)
	copy(b[32:64], h.OldSHA[:])
	copy(b[64:96], h.NewSHA[:])
	binary.BigEndian.PutUint32(b[96:], h.BodyCRC)
	binary.BigEndian.PutUint32(b[100:], crc32.Checksum(b[:100], castagnoli))
	return b
}

// ParseDeltaHeader decodes and checks the fixed header at the start of patch.
// It does not look at the body.
func ParseDeltaHeader(patch []byte) (DeltaHeader, error) {
	var h DeltaHeader
	n := min(len(patch), len(deltaMagic))
	if string(patch[:n]) != deltaMagic[:n] {
		return h, fmt.Errorf("%w: bad magic %q", ErrNotDelta, patch[:n])
	}
	if len(patch) <= 4 {
		return h, fmt.Errorf("%w: %d bytes, header is %d", ErrTruncatedDelta, len(patch), DeltaHeaderSize)
	}
	if patch[4] != deltaVersion {
		return h, fmt.Errorf("%w: %d (this build reads %d)", ErrUnsupportedVersion, patch[4], deltaVersion)
	}
	if len(patch) < DeltaHeaderSize {
		return h, fmt.Errorf("%w: %d bytes, header is %d", ErrTruncatedDelta, len(patch), DeltaHeaderSize)
	}
	if got, want := crc32.Checksum(patch[:100], castagnoli), binary.BigEndian.Uint32(patch[100:]); got != want {
		return h, fmt.Errorf("%w: header checksum %08x, want %08x", ErrCorruptDelta, got, want)
	}
	if patch[5]|patch[6]|patch[7] != 0 {
		return h, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorruptDelta)
	}
	h.Version = patch[4]
	h.OldSize = binary.BigEndian.Uint64(patch[8:])
	h.NewSize = binary.BigEndian.Uint64(patch[16:])
	h.BodySize = binary.BigEndian.Uint64(patch[24:])
	copy(h.OldSHA[:], patch[32:64])
	copy(h.NewSHA[:], patch[64:96])
	h.BodyCRC = binary.BigEndian.Uint32(patch[96:])
	return h, nil
}

// deltaWindow is the zstd window that lets a match at the end of the new
// file reach the start of the old one (the dictionary), as a power of two
// within the library's limits. Inputs beyond 512 MiB still work, with matches
// limited to the last 512 MiB.
func deltaWindow(oldLen, newLen int) int {
	need := uint64(oldLen) + uint64(newLen)
	w := uint64(1) << bits.Len64(need) // > need; a power of two
	if need&(need-1) == 0 {
		w = need
	}
	return int(min(max(w, zstd.MinWindowSize), zstd.MaxWindowSize))
}

// MakeDelta returns a delta that rebuilds newData from oldData. It uses the
// strongest klauspost/compress level with oldData as a raw dictionary. Both
// inputs must be at most DefaultMaxDeltaSize. Besides both inputs and the
// patch it allocates about 100 MB (the best level's match tables and history,
// measured on 4.7 MB files), so it is meant for the seed, not for devices.
func MakeDelta(oldData, newData []byte) ([]byte, error) {
	if len(oldData) > DefaultMaxDeltaSize || len(newData) > DefaultMaxDeltaSize {
		return nil, fmt.Errorf("%w: old %d bytes, new %d bytes, cap %d", ErrDeltaTooLarge, len(oldData), len(newData), DefaultMaxDeltaSize)
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithWindowSize(deltaWindow(len(oldData), len(newData))),
		zstd.WithEncoderDictRaw(0, oldData), // ID 0: what zstd --patch-from uses
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), // the header's SHA-256 covers the output
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		return nil, fmt.Errorf("delta encoder: %w", err)
	}
	defer enc.Close()
	h := DeltaHeader{
		Version: deltaVersion,
		OldSize: uint64(len(oldData)),
		NewSize: uint64(len(newData)),
		OldSHA:  sha256.Sum256(oldData),
		NewSHA:  sha256.Sum256(newData),
	}
	body := enc.EncodeAll(newData, make([]byte, DeltaHeaderSize, DeltaHeaderSize+len(newData)/8+1024))
	h.BodySize = uint64(len(body) - DeltaHeaderSize)
	h.BodyCRC = crc32.Checksum(body[DeltaHeaderSize:], castagnoli)
	copy(body, h.marshal())
	return body, nil
}

// ApplyDelta rebuilds the new file from oldData and patch, refusing a
// declared new size above DefaultMaxDeltaSize. See ApplyDeltaLimit.
func ApplyDelta(oldData, patch []byte) ([]byte, error) {
	return ApplyDeltaLimit(oldData, patch, DefaultMaxDeltaSize)
}

// ApplyDeltaLimit rebuilds the new file from oldData and patch. It refuses,
// before allocating, a delta whose declared new size exceeds maxNew bytes, and
// stops decoding at the first block past the declared size. The result is returned only if
// its length and SHA-256 match the header; every failure wraps one of the
// package's sentinel errors.
func ApplyDeltaLimit(oldData, patch []byte, maxNew int64) ([]byte, error) {
	h, err := ParseDeltaHeader(patch)
	if err != nil {
		return nil, err
	}
	if maxNew < 0 || h.NewSize > uint64(maxNew) || h.NewSize > math.MaxInt {
		return nil, fmt.Errorf("%w: declares a new file of %d bytes, cap %d", ErrDeltaTooLarge, h.NewSize, maxNew)
	}
	body := patch[DeltaHeaderSize:]
	if err := checkBodySize(h, body); err != nil {
		return nil, err
	}
	if uint64(len(oldData)) != h.OldSize {
		return nil, fmt.Errorf("%w: old file is %d bytes, delta wants %d", ErrWrongOld, len(oldData), h.OldSize)
	}
	if sum := sha256.Sum256(oldData); sum != h.OldSHA {
		return nil, fmt.Errorf("%w: old sha256 %x, delta wants %x", ErrWrongOld, sum, h.OldSHA)
	}

	// The output is bounded by the capacity of the buffer handed to
	// DecodeAll (WithDecodeAllCapLimit): the declared new size, already
	// checked against maxNew. The window a frame may declare is bounded too:
	// ours never declare more than the old and new sizes together need.
	window := min(max(uint64(1)<<bits.Len64(h.OldSize+h.NewSize), 1<<20), 1<<40)
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderDictRaw(0, oldData),
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(window),
		zstd.WithDecoderMaxMemory(max(window, h.NewSize)), // also caps the window
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		return nil, fmt.Errorf("delta decoder: %w", err)
	}
	defer dec.Close()
	out, err := dec.DecodeAll(body, make([]byte, 0, h.NewSize))
	if err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrCorruptDelta, err)
	}
	if uint64(len(out)) != h.NewSize {
		return nil, fmt.Errorf("%w: rebuilt %d bytes, header says %d", ErrCorruptDelta, len(out), h.NewSize)
	}
	if sum := sha256.Sum256(out); sum != h.NewSHA {
		return nil, fmt.Errorf("%w: %w: got %x, want %x", ErrCorruptDelta, ErrNewMismatch, sum, h.NewSHA)
	}
	return out, nil
}

// DeltaBody returns the zstd frame inside patch, after checking the header,
// for tools that want to hand it to "zstd -d --patch-from=OLD".
func DeltaBody(patch []byte) ([]byte, error) {
	h, err := ParseDeltaHeader(patch)
	if err != nil {
		return nil, err
	}
	body := patch[DeltaHeaderSize:]
	if err := checkBodySize(h, body); err != nil {
		return nil, err
	}
	return bytes.Clone(body), nil
}

func checkBodySize(h DeltaHeader, body []byte) error {
	switch {
	case uint64(len(body)) < h.BodySize:
		return fmt.Errorf("%w: body %d bytes, header says %d", ErrTruncatedDelta, len(body), h.BodySize)
	case uint64(len(body)) > h.BodySize:
		return fmt.Errorf("%w: %d bytes after the declared body", ErrCorruptDelta, uint64(len(body))-h.BodySize)
	}
	if got := crc32.Checksum(body, castagnoli); got != h.BodyCRC {
		return fmt.Errorf("%w: body checksum %08x, want %08x", ErrCorruptDelta, got, h.BodyCRC)
	}
	return nil
}
