package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// Errors Compatible returns.
var (
	ErrWrongHardware = errors.New("release is not for this hardware")
	ErrNotApplicable = errors.New("release may not be applied to the running version")
)

// Compatible checks a release manifest against the device before anything
// is fetched or installed: the manifest has not expired, it lists the
// device's hardware id (or none), and the running version satisfies one of
// its AppliesTo constraints (or there are none).
func Compatible(dev Device, rel trust.Release, now time.Time) error {
	if !rel.Expires.IsZero() && !now.Before(rel.Expires) {
		return fmt.Errorf("%w: manifest of %s expired at %s", trust.ErrExpired, rel.ID(), rel.Expires.Format(time.RFC3339))
	}
	if len(rel.Hardware) > 0 {
		ok := false
		for _, hw := range rel.Hardware {
			ok = ok || hw == dev.Hardware
		}
		if !ok {
			hw := dev.Hardware
			if hw == "" {
				hw = "(none configured)"
			}
			return fmt.Errorf("%w: %s is for %s, this device is %s", ErrWrongHardware, rel.ID(), strings.Join(rel.Hardware, ", "), hw)
		}
	}
	if len(rel.AppliesTo) > 0 {
		running := dev.Products[rel.Product]
		for _, c := range rel.AppliesTo {
			if Satisfies(running, c) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s applies to %s %q, the device runs %s", ErrNotApplicable, rel.ID(), rel.Product, rel.AppliesTo, running)
	}
	return nil
}

// Satisfies reports whether version v meets constraint c: space-separated
// comparisons (">=2.0", "<2.1", "=2.0.3", or a bare version meaning "=")
// that must all hold. An empty constraint holds for every version.
func Satisfies(v, c string) bool {
	for _, term := range strings.Fields(c) {
		op, want := "=", term
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(term, o); ok {
				op, want = o, rest
				break
			}
		}
		cmp := CompareVersions(v, want)
		var ok bool
		switch op {
		case ">=":
			ok = cmp >= 0
		case "<=":
			ok = cmp <= 0
		case ">":
			ok = cmp > 0
		case "<":
			ok = cmp < 0
		default:
			ok = cmp == 0
		}
		if !ok {
			return false
		}
	}
	return true
}
