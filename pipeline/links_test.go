//go:build !windows

package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// secretFile is a root-only file outside the drop folders, standing for
// /etc/shadow.
func secretFile(t *testing.T, h *harness) (string, []byte) {
	t.Helper()
	body := []byte("first_name,last_name,mobile_phone\nroot,only,+12025550000\n")
	p := filepath.Join(h.dir, "shadow.csv")
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, body
}

func (h *harness) committedBody(body []byte) bool {
	for _, c := range h.fake.Commits() {
		if bytes.Equal(c.Body, body) {
			return true
		}
	}
	return false
}

// Finding: a symlink swapped in between the check and the read made the
// service upload the link's target. The swap is made by a seam between the
// check and the claim, so it lands in the window every run.
func TestSymlinkSwappedInAfterTheCheckIsNotRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	secret, secretBody := secretFile(t, h)
	swapped := make(chan struct{})
	h.tweak = func(p *Pipeline) {
		p.beforeClaim = func(path string) {
			if filepath.Base(path) != "swap.csv" {
				return
			}
			if err := os.Remove(path); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(secret, path); err != nil {
				t.Error(err)
			}
			select {
			case <-swapped:
			default:
				close(swapped)
			}
		}
	}
	h.start()
	h.drop(0, "swap.csv", csvBody("swap", 2))
	<-swapped
	eventually(t, "the warning about the link", func() bool {
		return strings.Contains(h.logBuf.String(), "file left alone: it is a link")
	})
	// A good file after it goes through: the pipeline went on.
	h.drop(0, "after.csv", csvBody("after", 2))
	h.waitDone(0, "after.csv")
	h.stop()
	if h.committedBody(secretBody) {
		t.Fatal("the link's target was uploaded")
	}
	if fi, err := os.Lstat(filepath.Join(h.folder(0).Path, "swap.csv")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was not left where it was dropped: %v", err)
	}
	if n := strings.Count(h.logBuf.String(), "file left alone"); n != 1 {
		t.Fatalf("the link was warned about %d times; once is enough", n)
	}
}

// Finding: a hard link to a root-only file dropped into the folder was
// uploaded.
func TestHardLinkIsLeftAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	secret, secretBody := secretFile(t, h)
	if err := os.MkdirAll(h.folder(0).Path, 0o755); err != nil {
		t.Fatal(err)
	}
	h.start()
	if err := os.Link(secret, filepath.Join(h.folder(0).Path, "hard.csv")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the warning about the hard link", func() bool {
		return strings.Contains(h.logBuf.String(), "more than one hard link")
	})
	h.drop(0, "after.csv", csvBody("after", 2))
	h.waitDone(0, "after.csv")
	h.stop()
	if h.committedBody(secretBody) {
		t.Fatal("the hard link's content was uploaded")
	}
	if !fileExists(filepath.Join(h.folder(0).Path, "hard.csv")) {
		t.Fatal("the hard link was not left where it was dropped")
	}
}

// Finding: a writer that extended the file to 4 GiB after the size check
// made the service read all of it. Extended (sparse) between the check and
// the claim, the file is refused by its size without being read.
func TestFileGrownAfterTheCheckIsNotReadWhole(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	const huge = 4 << 30
	h.tweak = func(p *Pipeline) {
		p.beforeClaim = func(path string) {
			if filepath.Base(path) == "grow.csv" {
				if err := os.Truncate(path, huge); err != nil {
					t.Error(err)
				}
			}
		}
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h.start()
	h.drop(0, "grow.csv", csvBody("grow", 2))
	s := h.waitFailed(0, "grow.csv")
	h.stop()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if !strings.Contains(s, "This file is 4294967296 bytes") {
		t.Fatalf("explanation:\n%s", s)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
		t.Fatalf("the process allocated %d MiB while refusing the file: it was read", grew>>20)
	}
}
