package csaf

import (
	"regexp"
	"strings"

	"github.com/tocsin-iiot/tocsin/internal/trust"
)

// ReleasePrefix starts every Tocsin release id written into an advisory.
const ReleasePrefix = "tocsin:release:"

// reReleaseToken finds candidate release ids in free text; ParseReleaseID
// then checks them against the release grammar of internal/trust.
var reReleaseToken = regexp.MustCompile(`tocsin:release:[A-Za-z0-9._+~@-]+`)

// ReleaseID returns the release id an advisory uses to point at the Tocsin
// release fixing it: "tocsin:release:<product>@<version>".
func ReleaseID(product, version string) string {
	return ReleasePrefix + trust.ReleaseID(product, version)
}

// ParseReleaseID splits "tocsin:release:<product>@<version>" and checks both
// parts against the release grammar.
func ParseReleaseID(id string) (product, version string, ok bool) {
	rest, found := strings.CutPrefix(id, ReleasePrefix)
	if !found {
		return "", "", false
	}
	product, version, found = strings.Cut(rest, "@")
	if !found || trust.CheckProduct(product) != nil || trust.CheckVersion(version) != nil {
		return "", "", false
	}
	return product, version, true
}

// releaseIDsIn returns the well-formed release ids found in a remediation's
// url and details. A url that is exactly a release id is taken as is; in
// free text, dots ending a sentence right after the id are dropped.
func releaseIDsIn(url, details string) []string {
	var out []string
	if _, _, ok := ParseReleaseID(url); ok {
		out = append(out, url)
	}
	for _, s := range []string{url, details} {
		for _, tok := range reReleaseToken.FindAllString(s, -1) {
			tok = strings.TrimRight(tok, ".")
			if _, _, ok := ParseReleaseID(tok); ok {
				out = append(out, tok)
			}
		}
	}
	return out
}
