//go:build windows

package pipeline

// Windows behaviours of the life of a file: sharing modes, Explorer's way
// of copying, case-insensitive names and long paths. They run on Windows
// and, in CI, under Wine (test/wine/run).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// winFile is a file created through CreateFile, held open until close.
type winFile struct {
	h      windows.Handle
	closed bool
}

// winCreate creates path with the given share mode and holds it open until
// close or the end of the test. A share mode without FILE_SHARE_DELETE is
// how Excel, Explorer and most programs hold a file: nobody can rename or
// delete it until they close it.
func winCreate(t *testing.T, path string, share uint32) *winFile {
	t.Helper()
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, share, nil,
		windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatalf("CreateFile %s: %v", path, err)
	}
	f := &winFile{h: h}
	t.Cleanup(func() {
		if !f.closed {
			windows.CloseHandle(f.h)
		}
	})
	return f
}

func (f *winFile) close(t *testing.T) {
	t.Helper()
	f.closed = true
	if err := windows.CloseHandle(f.h); err != nil {
		t.Fatal(err)
	}
}

func (f *winFile) write(t *testing.T, data []byte) {
	t.Helper()
	var n uint32
	if err := windows.WriteFile(f.h, data, &n, nil); err != nil || int(n) != len(data) {
		t.Fatalf("WriteFile: %d of %d bytes: %v", n, len(data), err)
	}
}

// winMove moves a file the way Explorer and `move` do: MoveFileEx, without
// replacing an existing file.
func winMove(t *testing.T, from, to string) {
	t.Helper()
	f, _ := windows.UTF16PtrFromString(from)
	d, _ := windows.UTF16PtrFromString(to)
	if err := windows.MoveFileEx(f, d, 0); err != nil {
		t.Fatalf("MoveFileEx %s -> %s: %v", from, to, err)
	}
}

// winRead reads a file that has just arrived in done/. For a moment,
// another handle on it (an indexer or an antivirus on Windows; seen under
// Wine too) can make the open fail with a sharing violation: that is
// retried, any other error fails the test.
func winRead(t *testing.T, path string) []byte {
	t.Helper()
	var data []byte
	var err error
	eventually(t, "reading "+filepath.Base(path), func() bool {
		data, err = os.ReadFile(path)
		return !errors.Is(err, windows.ERROR_SHARING_VIOLATION)
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// logLines counts the log lines holding every one of parts.
func (h *harness) logLines(parts ...string) int {
	n := 0
	for _, line := range strings.Split(h.logBuf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// A file another program holds open without FILE_SHARE_DELETE (Excel does,
// while a workbook is open) cannot be renamed into the claim folder. It
// must stay where it is, untouched and not uploaded, while it is held, and
// be uploaded once after it is released.
func TestWindowsFileHeldWithoutShareDeleteIsTakenOnlyWhenReleased(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.start()
	body := csvBody("held", 5)
	path := filepath.Join(h.folder(0).Path, "held.csv")
	fh := winCreate(t, path, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE)
	fh.write(t, body)

	// The watcher sees that a program still has the file open for writing
	// (opening it without sharing writes fails) and leaves it there; a
	// rescan (every 500ms here) looks again, while it is held.
	eventually(t, "the watcher to wait for the held file's writer", func() bool {
		return h.logLines("still open for writing", "held.csv") >= 1
	})
	if n := h.requests("POST", "upload-requests"); n != 0 {
		t.Fatalf("%d upload requests while the file was held", n)
	}
	if !fileExists(path) {
		t.Fatal("the held file left the drop folder")
	}
	if held := h.held(0); len(held) != 0 {
		t.Fatalf("the claim folder holds %v while the file is held elsewhere", held)
	}

	fh.close(t)
	done := h.waitDone(0, "held.csv")
	if got := winRead(t, done); !bytes.Equal(got, body) {
		t.Fatal("done/held.csv does not hold the file")
	}
	commits := h.fake.Commits()
	if len(commits) != 1 || !bytes.Equal(commits[0].Body, body) {
		t.Fatalf("%d commits, want 1 with the whole file", len(commits))
	}
}

// Explorer copies a file into a folder by creating it, writing it in
// pieces, setting its modification time to the source's (an older time)
// and closing it; the copy holds the file without FILE_SHARE_DELETE
// throughout. Only the whole file is uploaded, once.
func TestWindowsExplorerStyleCopyIsUploadedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.start()
	body := csvBody("copied", 200)
	if len(body) > MaxSize {
		t.Fatalf("test file of %d bytes is over the limit", len(body))
	}
	path := filepath.Join(h.folder(0).Path, "copied.csv")
	fh := winCreate(t, path, windows.FILE_SHARE_READ)
	const pieces = 40
	step := len(body)/pieces + 1
	for off := 0; off < len(body); off += step {
		fh.write(t, body[off:min(off+step, len(body))])
		// The copy under test taking its time, longer than settle in all,
		// with pauses shorter than it; not synchronisation.
		time.Sleep(5 * time.Millisecond)
	}
	old := windows.NsecToFiletime(time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC).UnixNano())
	if err := windows.SetFileTime(fh.h, nil, nil, &old); err != nil {
		t.Fatal(err)
	}
	fh.close(t)

	done := h.waitDone(0, "copied.csv")
	if got := winRead(t, done); !bytes.Equal(got, body) {
		t.Fatal("done/copied.csv does not hold the whole file")
	}
	// A second file through the same folder: whatever was wrongly queued
	// for the first would be handled before it.
	h.drop(0, "after.csv", csvBody("after", 1))
	h.waitDone(0, "after.csv")
	commits := h.fake.Commits()
	if len(commits) != 2 || !bytes.Equal(commits[0].Body, body) {
		t.Fatalf("%d commits, want 2, the first holding the whole copied file", len(commits))
	}
}

// A file moved in from another folder on the same volume (Explorer's move,
// `move`, an export job's rename) is uploaded once; a later file moved in
// under the same name is a new file, uploaded once too, and lands beside
// the first in done/.
func TestWindowsRenameIntoFolderIsUploadedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.start()
	staging := filepath.Join(h.dir, "staging")
	if err := os.Mkdir(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	bodies := [][]byte{csvBody("first", 3), csvBody("second", 4)}
	for i, body := range bodies {
		src := filepath.Join(staging, "export.csv")
		if err := os.WriteFile(src, body, 0o644); err != nil {
			t.Fatal(err)
		}
		winMove(t, src, filepath.Join(h.folder(0).Path, "export.csv"))
		want := "export.csv"
		if i == 1 {
			want = "export-1.csv"
		}
		done := h.waitDone(0, want)
		if got := winRead(t, done); !bytes.Equal(got, body) {
			t.Fatalf("done/%s does not hold file %d", want, i)
		}
	}
	commits := h.fake.Commits()
	if len(commits) != 2 {
		t.Fatalf("%d commits, want 2", len(commits))
	}
	for i, c := range commits {
		if !bytes.Equal(c.Body, bodies[i]) || c.Filename != "export.csv" {
			t.Errorf("commit %d: %s with the wrong content", i, c.Filename)
		}
	}
}

// Windows file names are case-insensitive: a name in done/ or failed/ that
// differs only in case is taken, and is never overwritten.
func TestWindowsCollisionNamesIgnoreCase(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	f := h.folder(0)
	for _, d := range []string{f.Done, f.Failed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	older := map[string][]byte{
		filepath.Join(f.Done, "C.CSV"):                 []byte("older C\n"),
		filepath.Join(f.Done, "c-1.csv"):               []byte("older c-1\n"),
		filepath.Join(f.Failed, "EMPTY.CSV.ERROR.TXT"): []byte("an older explanation\n"),
	}
	for p, b := range older {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	body := csvBody("newer", 2)
	h.drop(0, "c.csv", body)
	h.drop(0, "empty.csv", nil)

	if got := winRead(t, h.waitDone(0, "c-2.csv")); !bytes.Equal(got, body) {
		t.Fatal("done/c-2.csv does not hold the new file")
	}
	// failed/EMPTY.CSV.ERROR.TXT is taken, so empty.csv cannot be
	// empty.csv there: its explanation would overwrite the older one.
	if s := h.waitFailed(0, "empty-1.csv"); !strings.HasPrefix(s, "This file is empty") {
		t.Fatalf("empty-1.csv explanation:\n%s", s)
	}
	for p, b := range older {
		if got := winRead(t, p); !bytes.Equal(got, b) {
			t.Errorf("%s was overwritten", p)
		}
	}
	names := dirNames(t, f.Done)
	slices.Sort(names)
	if want := []string{"C.CSV", "c-1.csv", "c-2.csv"}; !slices.Equal(names, want) {
		t.Errorf("done/ holds %v, want %v", names, want)
	}
}

// Paths longer than MAX_PATH (260 characters): a drop folder deep in a
// share's tree, and a long file name. Go's os package reaches them on any
// Windows; file notifications may not (without LongPathsEnabled), and the
// rescan then finds the file.
func TestWindowsLongPaths(t *testing.T) {
	t.Parallel()
	var rel []string
	for _, c := range "abcdef" {
		rel = append(rel, strings.Repeat(string(c), 48))
	}
	h := newHarness(t, faketalkdesk.Options{}, nil, "folders:\n  - path: '"+filepath.Join(rel...)+"'\n    record_list_id: L\n")
	name := "Contacts for the spring campaign " + strings.Repeat("x", 80) + ".csv"
	full := filepath.Join(h.folder(0).Done, name)
	if len(full) <= 260 {
		t.Fatalf("the path %s is only %d characters", full, len(full))
	}
	h.start()
	body := csvBody("long", 2)
	h.drop(0, name, body)
	if got := winRead(t, h.waitDone(0, name)); !bytes.Equal(got, body) {
		t.Fatal("done/ does not hold the file")
	}
	commits := h.fake.Commits()
	if len(commits) != 1 || len([]rune(commits[0].Filename)) > 35 {
		t.Fatalf("commits = %+v, want one with a name Talkdesk accepts", commits)
	}
}

// Names Windows users give files: spaces and punctuation, accents, emoji,
// and the longest name NTFS allows (255 characters) meeting a name already
// in done/, so the new one needs a suffix that still fits.
func TestWindowsUnusualNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.start()
	long := strings.Repeat("n", 251) + ".csv"
	names := []string{"Q1 report (final) #2 & more.csv", "Ünïcödé.csv", "emoji-😀.csv", "Case.CSV", long}
	if err := os.MkdirAll(h.folder(0).Done, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.folder(0).Done, long), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		h.drop(0, n, csvBody(fmt.Sprint("u", i), 1))
	}
	for _, n := range names[:len(names)-1] {
		h.waitDone(0, n)
	}
	eventually(t, "the long name in done/ under a suffix", func() bool { return len(dirNames(t, h.folder(0).Done)) == len(names)+1 })
	for _, n := range dirNames(t, h.folder(0).Done) {
		if len([]rune(n)) > 255 {
			t.Fatalf("a name over 255 characters: %d", len([]rune(n)))
		}
	}
	if got := winRead(t, filepath.Join(h.folder(0).Done, long)); string(got) != "old" {
		t.Fatal("the older long-named file in done/ was overwritten")
	}
	// A long name that fails gets an explanation whose name fits too.
	h.drop(0, long, nil)
	eventually(t, "the empty long-named file and its explanation in failed/", func() bool { return len(dirNames(t, h.folder(0).Failed)) == 2 })
	if n := len(h.fake.Commits()); n != len(names) {
		t.Fatalf("commits = %d, want %d", n, len(names))
	}
}
