//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package watcher

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
)

// makeSpecialFiles creates files with eligible names that are not regular
// files: a FIFO and a Unix socket.
func makeSpecialFiles(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "socket.csv"))
	if err != nil {
		// Socket paths have a short length limit on some systems.
		t.Logf("socket case skipped: %v", err)
		return
	}
	t.Cleanup(func() { l.Close() })
}
