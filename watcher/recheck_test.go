package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 17 finding 5: a file the consumer found changing after it was
// reported waited for the next rescan on a share, where no notification
// comes. Recheck makes it be reported again once it has settled anew.
// Without events and with the rescan off, nothing else would report it.
func TestRecheckReportsAChangedFileAgainAfterSettle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "share.csv")
	if err := os.WriteFile(path, []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := start(t, Options{Folders: []string{dir}, Settle: 50 * time.Millisecond},
		func(w *Watcher) { w.ignoreEvents = true })
	first := h.expect(path)
	if err := os.WriteFile(path, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.w.Recheck(path)
	again := h.expect(path)
	if again.Size == first.Size {
		t.Fatalf("reported again with the old size %d", again.Size)
	}
	// A path outside the folders, or not eligible, is ignored.
	h.w.Recheck(filepath.Join(t.TempDir(), "x.csv"))
	h.w.Recheck(filepath.Join(dir, "x.txt"))
	h.expectNothingQueued()
}
