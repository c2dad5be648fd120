// Package e2e tests the tocsin binary as operators run it: real processes on
// loopback, real badger stores, SIGKILL. TestMain builds the binary once.
package e2e
