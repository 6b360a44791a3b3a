package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRunClosesItsInotifyInstance counts this process's inotify descriptors
// before, during and after Run. It counts those of the whole process, so
// it runs alone: not in parallel with the other watchers' tests.
func TestRunClosesItsInotifyInstance(t *testing.T) {
	before := countInotify(t)
	h := startReady(t, Options{Folders: []string{t.TempDir()}, Settle: settle, Rescan: time.Hour})
	if n := countInotify(t); n != before+2 {
		t.Errorf("%d inotify descriptors while running, want %d (file notifications and writers)", n, before+2)
	}
	h.stop()
	if n := countInotify(t); n != before {
		t.Errorf("%d inotify descriptors after Run returned, want %d", n, before)
	}
}

func countInotify(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list descriptors: %v", err)
	}
	n := 0
	for _, fd := range fds {
		// Descriptors closed between ReadDir and Readlink just fail.
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == "anon_inode:inotify" {
			n++
		}
	}
	return n
}
