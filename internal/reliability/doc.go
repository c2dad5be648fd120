// Command reliability is the reliability and security suite of issue 9:
// faults, attacks and bad input mounted against real node code, with
// figures. `make reliability` runs it (`go run ./internal/reliability`).
//
// Each check in checks.go names a package and a `go test -run` pattern (or
// a fuzz target, run with -fuzz for a fixed budget), what the tests inject,
// how many times, and what must hold. The runner runs every check with
// `go test -json -count=1`, one `go test` per check, in the order of the
// issue's list, and reads the JSON events: a check passes when every test
// it matched passed; it fails when one failed, when go test failed outside
// a test (a build error, a panic, a timeout), or when its pattern matched
// no test at all (a renamed test must not pass silently); it is skipped
// when all its tests skipped (no root for mounts and network namespaces,
// say). Rows marked GAP are requirements no test covers yet; they name the
// product change a test needs and are not counted.
//
// Figures: a test logs one line per run of the form
//
//	t.Logf("reliability: injected=%d key=value ...", ...)
//
// (values without spaces). The runner collects them per test and subtest
// and prints them below the table; the "injected" values, summed, replace
// the check's own "times" text in the TIMES column.
//
// The runner sets TOCSIN_RELIABILITY=1 for its tests. The tests in the
// reliability_*_test.go files skip without it (reliabilitySuite): they
// mount file systems or take tens of seconds, and some document defects
// not yet fixed, so plain `go test ./...` leaves them out. The tests they
// sit beside (TestForgedAdvisoriesRejected, the netns tests, ...) also run
// in `make test`.
//
// Output: the date, `go version` and the machine at the top; an aligned
// table, one row per check (id, check, package, injected, times, must
// hold, outcome, time); the figures; the messages of failed and skipped
// checks and the GAP rows; and last the line
//
//	reliability: N checks, F failed
//
// N counts the checks run (not the GAP rows). The exit status is 1 if any
// check failed.
//
// Flags:
//
//	-quick       only the checks marked Quick (about a minute on 2 cores):
//	             1a 1b 1c 2c 2d 6a 8b — forgeries, the attack bed, the
//	             graylisted forger, endless data, wrong hardware, bad blocks,
//	             installer crashes; fit for make test
//	-only REGEX  only the checks whose id, name or package matches
//	-list        print the table of checks without running them
//	-fuzztime D  fuzz budget per target (default 20s)
//	-v           copy every test's output to stderr
//
// The full suite needs root for the network-namespace checks (9) and the
// mounts (11); without root those checks are skipped with the reason. It
// takes about 15 minutes on 2 cores (the issue allows 30).
package main
