// Package cli is the tocsin command line: cobra commands that parse flags and
// call into the packages that do the work (seed, node, content, policy, sim).
//
// Commands hold no logic of their own beyond flag parsing, output formatting
// and turning errors into one clear line. Each command lives in its own
// cmd_*.go file and registers itself from init.
package cli
