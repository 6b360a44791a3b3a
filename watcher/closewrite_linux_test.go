package watcher

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileOpenForWritingWaitsForItsClose: a writer that pauses longer than
// settle with the file still open is waited for, and the file is reported
// once it is closed, whole.
func TestFileOpenForWritingWaitsForItsClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle, Rescan: time.Hour})
	path := filepath.Join(dir, "rows.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("a,b\n1,2\n"); err != nil {
		t.Fatal(err)
	}
	// The file has settled and the watcher knows it is open: it says so.
	h.eventually("the open file to be noticed", func() bool {
		return h.logs.count(slog.LevelInfo, "file has settled but is still open for writing; waiting for the program to close it", dir) == 1
	})
	// A later file settles and is reported while the first stays open.
	other := writeSentinel(t, dir, "other.csv")
	h.expect(other)
	if _, err := f.WriteString("3,4\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := h.expect(path)
	if got.Size != int64(len("a,b\n1,2\n3,4\n")) {
		t.Errorf("reported at %d bytes, want the whole file", got.Size)
	}
}

// TestEmptyFileGetsTheLongerGrace: an empty file is not reported after
// settle but after EmptyGrace; one that gets content meanwhile is reported
// with it.
func TestEmptyFileGetsTheLongerGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle, EmptyGrace: time.Hour, Rescan: time.Hour})
	empty := filepath.Join(dir, "empty.csv")
	writeFile(t, empty, "")
	filled := filepath.Join(dir, "filled.csv")
	writeFile(t, filled, "")
	// Files after them settle and are reported; the empty ones are not.
	h.expect(writeSentinel(t, dir, "later.csv"))
	writeFile(t, filled, "a,b\n")
	h.expect(filled)
	h.expectNothingQueued()
}
