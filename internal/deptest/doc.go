// Package deptest holds only a test: it fails when a package imports what its
// layer must not (see the rules table in deptest_test.go).
package deptest
