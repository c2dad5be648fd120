package csaf

import (
	"regexp"
	"strings"
)

// ReleasePrefix starts every Tocsin release id written into an advisory.
const ReleasePrefix = "tocsin:release:"

// The product and version grammar of a Tocsin release, "<product>@<version>"
// (the same as the release manifests in internal/trust use).
var (
	reProduct = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	reVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}$`)
	// reReleaseToken finds candidate release ids in free text.
	reReleaseToken = regexp.MustCompile(`tocsin:release:[A-Za-z0-9._+~@-]+`)
)

// ReleaseID returns the release id an advisory uses to point at the Tocsin
// release fixing it: "tocsin:release:<product>@<version>".
func ReleaseID(product, version string) string {
	return ReleasePrefix + product + "@" + version
}

// ParseReleaseID splits "tocsin:release:<product>@<version>" and checks both
// parts against the release grammar.
func ParseReleaseID(id string) (product, version string, ok bool) {
	rest, found := strings.CutPrefix(id, ReleasePrefix)
	if !found {
		return "", "", false
	}
	product, version, found = strings.Cut(rest, "@")
	if !found || !reProduct.MatchString(product) || !reVersion.MatchString(version) {
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
