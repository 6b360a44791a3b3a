//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package watcher

import "testing"

// makeSpecialFiles has nothing to create where FIFOs are not available.
func makeSpecialFiles(t *testing.T, dir string) {}
