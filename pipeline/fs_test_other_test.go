//go:build !windows

package pipeline

import "syscall"

var errCrossDevice error = syscall.EXDEV
