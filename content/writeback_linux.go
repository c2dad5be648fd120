//go:build linux

package content

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's dirty pages to disk
// and returns without waiting for them (sync_file_range with
// SYNC_FILE_RANGE_WRITE: no durability promise, that is still the final
// fsync's job). Errors are ignored: this only moves work earlier.
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}
