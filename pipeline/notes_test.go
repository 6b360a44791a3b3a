package pipeline

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/fsutil"
)

// A file the service cannot read makes it unhealthy, and the status says
// which file and why; once it can be read, both clear.
func TestUnreadableFileIsAHealthProblemWithItsReason(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	var locked atomic.Bool
	locked.Store(true)
	h.tweak = func(p *Pipeline) {
		p.readDropped = func(path string, limit int64) ([]byte, fsutil.Info, error) {
			if filepath.Base(path) == "locked.csv" && locked.Load() {
				return nil, fsutil.Info{}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
			}
			return fsutil.ReadDropped(path, limit)
		}
	}
	h.start()
	h.drop(0, "locked.csv", csvBody("locked", 1))
	want := "file locked.csv in folder " + h.folder(0).Path + " cannot be read: permission denied (the account listdrop runs as may not read it)"
	eventually(t, "the health problem", func() bool {
		st := h.pipeline.Status()
		return !st.Healthy && len(st.Problems) == 1 && st.Problems[0] == want
	})
	st := h.pipeline.Status()
	if n := st.Folders[0].Notes; len(n) != 1 || n[0].File != "locked.csv" || !strings.HasPrefix(n[0].Reason, "cannot be read: permission denied") {
		t.Fatalf("notes: %+v", n)
	}
	locked.Store(false)
	h.waitDone(0, "locked.csv")
	eventually(t, "health back", func() bool { st := h.pipeline.Status(); return st.Healthy && len(st.Folders[0].Notes) == 0 })
}

// A file that was empty when it was read but has content by the time its
// note would be written (its writer started late) is given back, not
// failed as empty, and imported whole.
func TestNoteIsNotWrittenForAFileThatChangedSinceItWasRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	var first atomic.Bool
	first.Store(true)
	h.tweak = func(p *Pipeline) {
		p.readDropped = func(path string, limit int64) ([]byte, fsutil.Info, error) {
			data, info, err := fsutil.ReadDropped(path, limit)
			if filepath.Base(path) == "late.csv" && first.CompareAndSwap(true, false) {
				// As read an instant before the writer's first bytes.
				return nil, fsutil.Info{Size: 0, ModTime: info.ModTime}, err
			}
			return data, info, err
		}
	}
	h.start()
	body := csvBody("late", 2)
	h.drop(0, "late.csv", body)
	h.waitDone(0, "late.csv")
	if first.Load() {
		t.Fatal("the empty read never happened: the test proves nothing")
	}
	if fileExists(filepath.Join(h.folder(0).Failed, "late.csv.error.txt")) {
		t.Fatal("a note was written for a file that had changed")
	}
	if c := h.fake.Commits(); len(c) != 1 || string(c[0].Body) != string(body) {
		t.Fatalf("commits: %d, want the whole file once", len(c))
	}
}
