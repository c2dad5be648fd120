// Package cvss scores CVSS 3.0, 3.1 and 4.0 vectors.
//
// It is a thin, panic-free wrapper around github.com/pandatix/go-cvss: the
// scoring maths is the library's; this package only picks the version from the
// vector prefix, bounds the input and maps errors to ErrInvalidVector.
//
// Pure: no I/O, no clock, no global state. It may import only the standard
// library and go-cvss.
package cvss
