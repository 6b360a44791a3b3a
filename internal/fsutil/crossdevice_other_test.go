//go:build !windows

package fsutil

import "syscall"

var errCrossDevice error = syscall.EXDEV
