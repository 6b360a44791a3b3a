package watcher

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 17, "operations that hang": a folder whose every look hangs (a
// share whose server is gone) must not hold up the files of another.
func TestFolderThatHangsDoesNotHoldUpTheOthers(t *testing.T) {
	t.Parallel()
	stuck, fine := t.TempDir(), t.TempDir()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) }) // runs after the watcher has stopped
	h := start(t, Options{Folders: []string{stuck, fine}, Settle: 20 * time.Millisecond, Rescan: 50 * time.Millisecond},
		func(w *Watcher) {
			w.ignoreEvents = true
			w.lookTimeout = 20 * time.Millisecond
			w.lookFolder = func(path string) {
				if path == filepath.Clean(stuck) {
					<-hang
				}
			}
		})
	path := filepath.Join(fine, "a.csv")
	if err := os.WriteFile(path, []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.expect(path)
	if h.logs.count(slog.LevelWarn, "", stuck) == 0 {
		t.Error("the log does not say the folder does not answer")
	}
}
