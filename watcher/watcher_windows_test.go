//go:build windows

package watcher

// File notifications through ReadDirectoryChangesW, as Windows programs make
// them. No periodic rescan in these tests: only an event can report a file.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// winCopyFile copies with CopyFileW, as Explorer and `copy` do: the copy
// keeps the source's modification time.
func winCopyFile(t *testing.T, from, to string) {
	t.Helper()
	f, _ := windows.UTF16PtrFromString(from)
	d, _ := windows.UTF16PtrFromString(to)
	proc := windows.NewLazySystemDLL("kernel32.dll").NewProc("CopyFileW")
	if r, _, err := proc.Call(uintptr(unsafe.Pointer(f)), uintptr(unsafe.Pointer(d)), 1); r == 0 {
		t.Fatalf("CopyFileW %s -> %s: %v", from, to, err)
	}
}

func winMoveFile(t *testing.T, from, to string, flags uint32) {
	t.Helper()
	f, _ := windows.UTF16PtrFromString(from)
	d, _ := windows.UTF16PtrFromString(to)
	if err := windows.MoveFileEx(f, d, flags); err != nil {
		t.Fatalf("MoveFileEx %s -> %s: %v", from, to, err)
	}
}

func TestWindowsCopiedFileIsReportedOnceWithItsFinalSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle})

	src := filepath.Join(t.TempDir(), "source.csv")
	content := strings.Repeat("id,name,phone\n", 2000)
	writeFile(t, src, content)
	old := time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "copied.csv")
	winCopyFile(t, src, path)

	got := h.expect(path)
	if got.Size != int64(len(content)) || !got.ModTime.Equal(old) {
		t.Errorf("reported size %d, mtime %v; want %d, %v", got.Size, got.ModTime, len(content), old)
	}
	h.expect(writeSentinel(t, dir, "sentinel.csv"))
	h.expectNothingQueued()
}

// An export job that renames its finished file over the one it wrote last
// time (MoveFileEx with MOVEFILE_REPLACE_EXISTING) makes a new file: it is
// reported again, with its own size.
func TestWindowsRenameOverExistingFileIsReportedAgain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle})
	path := filepath.Join(dir, readyName)

	staging := filepath.Join(t.TempDir(), "next.csv")
	content := strings.Repeat("a,b\n", 500)
	writeFile(t, staging, content)
	winMoveFile(t, staging, path, windows.MOVEFILE_REPLACE_EXISTING)

	got := h.expect(path)
	if got.Size != int64(len(content)) {
		t.Errorf("reported size %d, want %d", got.Size, len(content))
	}
	h.expect(writeSentinel(t, dir, "sentinel.csv"))
	h.expectNothingQueued()
}
