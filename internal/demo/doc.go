// Package demo runs the README's `make demo`: one seed and N device nodes as
// separate processes on loopback, a published release, and a report of who
// installed it, how long it took and where the bytes came from.
//
// It drives the real binary (os.Executable) exactly as an operator would:
// keygen, seed, node with a config file, publish. Nothing here is used by the
// product itself.
package demo
