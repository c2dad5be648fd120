package cvss

import (
	"errors"
	"fmt"
	"strings"

	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"
)

// ErrInvalidVector is wrapped by every error Score returns for input it
// cannot parse, so callers can tell bad input from other failures.
var ErrInvalidVector = errors.New("invalid CVSS vector")

// Result is the scored form of one vector.
type Result struct {
	Version   string  // "3.0", "3.1" or "4.0"
	Vector    string  // the vector as given, trimmed
	BaseScore float64 // 0.0–10.0 (for 4.0: the CVSS-B/BT/BE/BTE score of the vector)
	Severity  string  // NONE, LOW, MEDIUM, HIGH or CRITICAL
}

// MaxVectorLen bounds the input; no valid vector comes near it.
const MaxVectorLen = 1024

// Score parses a CVSS 3.0, 3.1 or 4.0 vector and returns its base score and
// qualitative severity. It never panics on input.
func Score(vector string) (res Result, err error) {
	v := strings.TrimSpace(vector)
	if v == "" {
		return Result{}, fmt.Errorf("%w: empty", ErrInvalidVector)
	}
	if len(v) > MaxVectorLen {
		return Result{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidVector, MaxVectorLen)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, fmt.Errorf("%w: %v", ErrInvalidVector, r)
		}
	}()
	var score float64
	var rating string
	var version string
	switch {
	case strings.HasPrefix(v, "CVSS:3.0/"):
		c, perr := cvss30.ParseVector(v)
		if perr != nil {
			return Result{}, fmt.Errorf("%w %q: %v", ErrInvalidVector, v, perr)
		}
		version, score = "3.0", c.BaseScore()
		rating, err = cvss30.Rating(score)
	case strings.HasPrefix(v, "CVSS:3.1/"):
		c, perr := cvss31.ParseVector(v)
		if perr != nil {
			return Result{}, fmt.Errorf("%w %q: %v", ErrInvalidVector, v, perr)
		}
		version, score = "3.1", c.BaseScore()
		rating, err = cvss31.Rating(score)
	case strings.HasPrefix(v, "CVSS:4.0/"):
		c, perr := cvss40.ParseVector(v)
		if perr != nil {
			return Result{}, fmt.Errorf("%w %q: %v", ErrInvalidVector, v, perr)
		}
		version, score = "4.0", c.Score()
		rating, err = cvss40.Rating(score)
	default:
		return Result{}, fmt.Errorf("%w %q: must start with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/", ErrInvalidVector, v)
	}
	if err != nil {
		return Result{}, fmt.Errorf("%w %q: %v", ErrInvalidVector, v, err)
	}
	return Result{Version: version, Vector: v, BaseScore: score, Severity: strings.ToUpper(rating)}, nil
}
