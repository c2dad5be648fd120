//go:build !unix

package node

import "os/exec"

// killGroupOnCancel kills only the process itself where process groups do
// not exist; WaitDelay still bounds how long its children can hold output.
func killGroupOnCancel(cmd *exec.Cmd) {}
