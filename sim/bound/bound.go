package bound

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// ErrInvalid is wrapped by every error about an input outside a bound's
// domain.
var ErrInvalid = errors.New("invalid distribution parameters")

// Swarm describes one distribution: a seed holding a file and the devices
// that download it. Sizes are in bytes, rates in bytes per second.
type Swarm struct {
	// Downloaders is N, the number of devices that download the file, not
	// counting the seed. At least 1.
	Downloaders int
	// FileBytes is F, the size of the file. Positive.
	FileBytes float64
	// SeedUpload is u_s, the seed's upload rate. Positive.
	SeedUpload float64
	// PeerUpload is u, every device's upload rate, used when PeerUploads is
	// nil. Zero or more: zero models devices that do not upload.
	PeerUpload float64
	// PeerUploads optionally gives each device's upload rate u_i; when not
	// nil it must have Downloaders entries, each zero or more, and
	// PeerUpload is ignored.
	PeerUploads []float64
	// MinDownload is d_min, the download rate of the slowest device.
	// Positive; math.Inf(1) means downloads are unconstrained.
	MinDownload float64
}

// Symmetric returns the swarm of n devices and a seed that all have the same
// rate up and down, distributing a file of fileBytes.
func Symmetric(n int, fileBytes, rate float64) Swarm {
	return Swarm{Downloaders: n, FileBytes: fileBytes, SeedUpload: rate, PeerUpload: rate, MinDownload: rate}
}

// MbitPerSecond converts a link speed in megabits (10^6 bits) per second to
// bytes per second.
func MbitPerSecond(mbit float64) float64 { return mbit * 1e6 / 8 }

// Seconds converts a bound in seconds to a time.Duration, rounded to the
// nanosecond and saturating at the largest Duration.
func Seconds(s float64) time.Duration {
	if s >= math.MaxInt64/float64(time.Second) {
		return math.MaxInt64
	}
	return time.Duration(math.Round(s * float64(time.Second)))
}

// Chunks returns k, the number of chunks of chunkBytes needed to hold
// fileBytes: ⌈fileBytes/chunkBytes⌉.
func Chunks(fileBytes, chunkBytes int64) (int, error) {
	if fileBytes <= 0 || chunkBytes <= 0 {
		return 0, fmt.Errorf("%w: file %d bytes, chunk %d bytes: both must be positive", ErrInvalid, fileBytes, chunkBytes)
	}
	k := fileBytes / chunkBytes
	if fileBytes%chunkBytes != 0 {
		k++
	}
	if k > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d chunks", ErrInvalid, k)
	}
	return int(k), nil
}

// KumarRoss returns T_KR = max(F/u_s, F/d_min, N·F/(u_s + Σu_i)) in seconds:
// the minimum time for every device to hold the whole file when devices
// relay what they have received (Kumar & Ross, 2006). The file is treated as
// a fluid; see Chunked for the cost of whole chunks.
func (s Swarm) KumarRoss() (float64, error) {
	if err := s.validate(true); err != nil {
		return 0, err
	}
	n, f := float64(s.Downloaders), s.FileBytes
	return max(f/s.SeedUpload, f/s.MinDownload, n*f/(s.SeedUpload+s.uploadSum())), nil
}

// Chunked returns T_chunk = (F/u)·(1 + ⌊log₂ N⌋/k) in seconds: the minimum
// time to give every device all k equal chunks of the file when the seed and
// every device upload at the same rate u and a chunk can be forwarded only
// once it has fully arrived (Mundinger, Weber & Weiss, 2008). Downloads are
// unconstrained in that model, so MinDownload is checked but not used. The
// seed's and every device's upload must be equal and positive.
func (s Swarm) Chunked(k int) (float64, error) {
	if err := s.validate(true); err != nil {
		return 0, err
	}
	if k < 1 {
		return 0, fmt.Errorf("%w: k=%d chunks, must be at least 1", ErrInvalid, k)
	}
	u := s.SeedUpload
	uploads := s.PeerUploads
	if uploads == nil {
		uploads = []float64{s.PeerUpload}
	}
	for i, up := range uploads {
		if up != u {
			return 0, fmt.Errorf("%w: the chunked bound needs equal uploads; device %d uploads %g B/s, the seed %g B/s", ErrInvalid, i, up, u)
		}
	}
	log2n := bits.Len(uint(s.Downloaders)) - 1 // ⌊log₂ N⌋ for N ≥ 1
	return s.FileBytes / u * (1 + float64(log2n)/float64(k)), nil
}

// ClientServer returns max(N·F/u_s, F/d_min) in seconds: the minimum time
// for the seed alone to send the file to every device. Device uploads are
// not used and not checked.
func (s Swarm) ClientServer() (float64, error) {
	if err := s.validate(false); err != nil {
		return 0, err
	}
	n, f := float64(s.Downloaders), s.FileBytes
	return max(n*f/s.SeedUpload, f/s.MinDownload), nil
}

func (s Swarm) uploadSum() float64 {
	if s.PeerUploads == nil {
		return float64(s.Downloaders) * s.PeerUpload
	}
	var sum float64
	for _, u := range s.PeerUploads {
		sum += u
	}
	return sum
}

// validate checks the fields every bound uses and, when peers is set, the
// device uploads.
func (s Swarm) validate(peers bool) error {
	switch {
	case s.Downloaders < 1:
		return fmt.Errorf("%w: N=%d downloaders, must be at least 1", ErrInvalid, s.Downloaders)
	case !(s.FileBytes > 0) || math.IsInf(s.FileBytes, 0):
		return fmt.Errorf("%w: file size %g bytes, must be positive and finite", ErrInvalid, s.FileBytes)
	case !(s.SeedUpload > 0) || math.IsInf(s.SeedUpload, 0):
		return fmt.Errorf("%w: seed upload %g B/s, must be positive and finite", ErrInvalid, s.SeedUpload)
	case !(s.MinDownload > 0):
		return fmt.Errorf("%w: smallest download %g B/s, must be positive", ErrInvalid, s.MinDownload)
	}
	if !peers {
		return nil
	}
	if s.PeerUploads != nil && len(s.PeerUploads) != s.Downloaders {
		return fmt.Errorf("%w: %d device upload rates for N=%d downloaders", ErrInvalid, len(s.PeerUploads), s.Downloaders)
	}
	if s.PeerUploads == nil {
		if u := s.PeerUpload; !(u >= 0) || math.IsInf(u, 0) {
			return fmt.Errorf("%w: device upload %g B/s, must be zero or more and finite", ErrInvalid, u)
		}
		return nil
	}
	for i, u := range s.PeerUploads {
		if !(u >= 0) || math.IsInf(u, 0) {
			return fmt.Errorf("%w: device %d upload %g B/s, must be zero or more and finite", ErrInvalid, i, u)
		}
	}
	return nil
}
