//go:build unix

package stack

import (
	"syscall"
	"time"
)

// RealNow reads the wall clock even inside a synctest bubble, where
// time.Now is virtual.
func RealNow() time.Time {
	var tv syscall.Timeval
	if syscall.Gettimeofday(&tv) != nil {
		return time.Now()
	}
	return time.Unix(int64(tv.Sec), int64(tv.Usec)*1000)
}
