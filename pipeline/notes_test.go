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
