package csaf

import (
	"errors"
	"fmt"
	"time"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// ErrNotTocsin is wrapped when a valid CSAF document cannot drive a Tocsin
// fleet: it must name exactly one Tocsin release in its vendor_fix
// remediations and carry a current_release_date.
var ErrNotTocsin = errors.New("CSAF advisory is not usable by Tocsin")

// Advisory reads the view a device acts on out of a CSAF 2.0 advisory: the
// release its vendor_fix remediation points at ("tocsin:release:p@v"), the
// highest CVSS score, the CVEs, the delivery deadline note, and the revision
// (tracking.version, ordered by current_release_date). It is the
// trust.AdvisoryDecoder the node uses for signed CSAF payloads.
func Advisory(data []byte) (trust.Advisory, error) {
	s, err := Inspect(data)
	if err != nil {
		return trust.Advisory{}, err
	}
	if len(s.FixedReleases) != 1 {
		return trust.Advisory{}, fmt.Errorf("%w: %d Tocsin releases named in vendor_fix remediations, want 1", ErrNotTocsin, len(s.FixedReleases))
	}
	product, version, _ := ParseReleaseID(s.FixedReleases[0])
	t, err := time.Parse(time.RFC3339, s.CurrentReleaseDate)
	if err != nil || t.Year() < 1970 {
		return trust.Advisory{}, fmt.Errorf("%w: current_release_date %q is not an RFC 3339 time after 1970", ErrNotTocsin, s.CurrentReleaseDate)
	}
	a := trust.Advisory{
		ID: s.ID, Title: s.Title, Product: product, FixedVersion: version,
		ReleaseID: trust.ReleaseID(product, version), CVEs: s.CVEs,
		Published: t.UTC(), Revision: s.Version, Seq: uint64(t.UnixMilli()),
	}
	for _, e := range s.Scores {
		if e.BaseScore != nil && *e.BaseScore >= a.BaseScore && e.Error == "" {
			a.BaseScore, a.CVSS, a.Severity = *e.BaseScore, e.Vector, e.Severity
		}
	}
	if s.Deadline != "" {
		d, err := time.Parse(time.RFC3339, s.Deadline)
		if err != nil {
			return trust.Advisory{}, fmt.Errorf("%w: deadline note %q is not an RFC 3339 time", ErrNotTocsin, s.Deadline)
		}
		a.Deadline = d.UTC()
	}
	return a, nil
}
