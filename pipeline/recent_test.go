package pipeline

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// The status's last results come from memory: they follow files as they
// finish and Talkdesk's verdicts as they come, and a restart finds them
// again in the state.
func TestStatusKeepsTheLastResultsInMemoryAndAfterARestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "verify: true\n")
	h.start()
	for i := range recentResults + 3 {
		name := fmt.Sprintf("f%02d.csv", i)
		h.drop(0, name, csvBody(name, 1))
		h.waitDone(0, name)
	}
	h.drop(1, "other.csv", csvBody("other", 1))
	h.waitDone(1, "other.csv")
	want := func(st Status) {
		t.Helper()
		r0, r1 := st.Folders[0].Recent, st.Folders[1].Recent
		if len(r0) != recentResults || len(r1) != 1 {
			t.Fatalf("recent results: %d and %d, want %d and 1", len(r0), len(r1), recentResults)
		}
		for i, e := range r0 {
			if name := fmt.Sprintf("f%02d.csv", recentResults+2-i); filepath.Base(e.Source) != name {
				t.Fatalf("recent[%d] = %s, want %s (newest first)", i, e.Source, name)
			}
		}
	}
	eventually(t, "every verdict in the status", func() bool {
		st := h.pipeline.Status()
		for _, f := range st.Folders {
			for _, e := range f.Recent {
				if e.Result == state.Done && e.Outcome != "ACCEPTED" {
					return false
				}
			}
		}
		return len(st.Folders[1].Recent) == 1
	})
	want(h.pipeline.Status())
	h.stop()
	h.start()
	// The restart reads them from the state before it watches.
	eventually(t, "the results read again", func() bool { return len(h.pipeline.Status().Folders[0].Recent) > 0 })
	st := h.pipeline.Status()
	want(st)
	if st.Folders[0].Recent[0].Outcome != "ACCEPTED" {
		t.Fatalf("after a restart the verdict is lost: %+v", st.Folders[0].Recent[0])
	}
}

// While Talkdesk validates a list's upload, the status names it; once the
// validation ends, it does not.
func TestStatusNamesTheUploadTalkdeskValidates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{Validation: time.Hour}, []string{"L1"}, "verify: true\n")
	h.start()
	h.drop(0, "v.csv", csvBody("v", 1))
	h.waitDone(0, "v.csv")
	var v *Validating
	eventually(t, "the validation in the status", func() bool {
		v = h.pipeline.Status().Folders[0].Validating
		return v != nil
	})
	if c := h.fake.Commits(); len(c) != 1 || v.UploadID != c[0].UploadID || v.Since.IsZero() {
		t.Fatalf("validating %+v; commits %+v", v, c)
	}
	h.fake.EndValidation("L1")
	eventually(t, "the end of the validation in the status", func() bool { return h.pipeline.Status().Folders[0].Validating == nil })
}

// A held file that cannot be read when its upload resumes (another
// program has it open; on Windows, a process of ours just ended may still
// hold it) is read again with a growing wait, not left until the next
// start.
func TestHeldFileUnreadableAtResumeIsReadAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	body := csvBody("crash", 3)
	crashAt(t, h, state.Patching, body, true)
	var mu sync.Mutex
	refusals := 3
	h.tweak = func(p *Pipeline) {
		p.readDropped = func(path string, limit int64) ([]byte, fsutil.Info, error) {
			mu.Lock()
			defer mu.Unlock()
			if filepath.Base(path) == "crash.csv" && refusals > 0 {
				refusals--
				return nil, fsutil.Info{}, &fs.PathError{Op: "open", Path: path, Err: syscall.Errno(32)} // a sharing violation's number on Windows; any error here
			}
			return fsutil.ReadDropped(path, limit)
		}
	}
	h.start()
	h.waitDone(0, "crash.csv")
	if n := len(h.fake.Commits()); n != 1 {
		t.Fatalf("commits = %d, want exactly 1", n)
	}
	if !strings.Contains(h.logBuf.String(), "cannot read a held file yet; will keep trying") {
		t.Fatal("the log does not say the held file is tried again")
	}
}
