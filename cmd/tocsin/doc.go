// Command tocsin is the single Tocsin binary: device daemon, supplier seed and
// publishing CLI, and simulator. See the README for the command reference.
package main
