package stack

import (
	"fmt"
	"os"
	"testing"
	"testing/synctest"
)

// InBubble runs fn inside a testing/synctest bubble from an ordinary
// program, so that `tocsin sim run --engine stack` needs no `go test`.
// synctest bubbles exist only under testing.T, so this goes through
// testing.Main with one test — and testing.Main exits the process when it
// is done: InBubble never returns. The process exits 0 if fn returned nil;
// otherwise fn's error is printed to standard error as one line and it
// exits 1. testing's own output (its PASS line) is discarded; fn gets the
// real standard output to write to.
//
// Inside the bubble time.Now is virtual (it starts at 2000-01-01), so fn
// must take wall-clock measurements before or after the bubble, and must
// close everything it started before it returns (goroutines still blocked
// when it returns make synctest panic).
func InBubble(fn func(stdout *os.File) error) {
	stdout := os.Stdout
	if devnull, err := os.Open(os.DevNull); err == nil {
		os.Stdout = devnull
	}
	os.Args = os.Args[:1] // testing's flag parser must not see our flags
	testing.Init()
	var ferr error
	testing.Main(func(string, string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: "TocsinSimulation", F: func(t *testing.T) {
			synctest.Test(t, func(*testing.T) { ferr = fn(stdout) })
			if ferr != nil {
				fmt.Fprintf(os.Stderr, "tocsin: %v\n", ferr)
				os.Exit(1)
			}
		}}}, nil, nil)
}
