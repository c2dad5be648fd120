//go:build !unix

package stack

import "time"

// RealNow is time.Now where the wall clock cannot be read around synctest.
func RealNow() time.Time { return time.Now() }
