// Package csaf reads and writes CSAF 2.0 security advisories (OASIS Common
// Security Advisory Framework, https://docs.oasis-open.org/csaf/csaf/v2.0/).
//
// What lives here:
//
//   - Inspect: a lenient reader that summarises any real CSAF 2.0 document
//     (id, title, publisher, CVEs, products, CVSS scores with the score we
//     recompute through internal/cvss, remediations, and the Tocsin release
//     ids that vendor_fix remediations point at). Real advisories from
//     Siemens, Rockwell, Mitsubishi and others republished by CISA are
//     messier than the specification's examples, so it decodes into its own
//     tolerant structs: a field of the wrong JSON type is ignored rather than
//     failing the whole document, numbers written as strings are accepted, and
//     unknown fields are skipped. What it reports is exact: the score written
//     in the file and the score we compute are kept apart, never merged.
//   - New: a writer that produces a schema-valid CSAF 2.0
//     csaf_security_advisory for one product, one fixed version and one CVSS
//     vector, with a vendor_fix remediation that links to the Tocsin release
//     id "tocsin:release:<product>@<version>".
//
// We read with our own structs rather than the github.com/gocsaf/csaf/v3
// types: those parse all the shared test advisories too, but their enum types
// reject any value outside the specification's lists, so one odd category in
// a vendor's document would fail the whole read. gocsaf is used in the tests
// only, to validate New's output against the CSAF 2.0 JSON schema.
//
// What may not live here: network access, file system access (callers pass
// bytes in and get bytes out), reading the clock (New takes the time in its
// Params), global mutable state, and panics on input. The package may import
// only the standard library and internal/cvss.
package csaf
