package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/fsutil"
)

// gatedAPI holds every PUT until the test opens the gate, so that a
// folder can be taken away while its file is being uploaded.
type gatedAPI struct {
	API
	started chan struct{} // gets a value when a PUT is waiting
	gate    chan struct{} // closed to let PUTs go
}

func (g *gatedAPI) Put(ctx context.Context, signedURL string, body []byte, md5sum [16]byte) error {
	select {
	case g.started <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.API.Put(ctx, signedURL, body, md5sum)
}

// renameFolder renames a drop folder as a person would. Windows refuses to
// rename a folder while any handle in it is open, and listdrop opens one
// for a moment at each heartbeat and look at the folder (every 10ms here):
// like a person whose rename was refused, it tries again, for a while.
func renameFolder(t *testing.T, from, to string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.Rename(from, to)
		if err == nil {
			return
		}
		if runtime.GOOS != "windows" || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) logHas(part string) bool { return strings.Contains(h.logBuf.String(), part) }

// Issue 17 finding 2 and issue 13 case 5: a drop folder renamed away in
// the middle of an upload. The file was said to be "removed while it was
// uploaded" and stayed stranded until a restart. Now nothing is written
// at the folder's path while it is away (finding 3: no heartbeat there),
// the health check says it is not available, and once the folder is back
// its file is committed, once, without a restart.
func TestFolderRenamedAwayMidUploadResumesWhenBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	g := &gatedAPI{API: h.client(), started: make(chan struct{}, 1), gate: make(chan struct{})}
	h.api = g
	var looks atomic.Int64
	h.tweak = func(p *Pipeline) {
		p.beat, p.checkEvery = 10*time.Millisecond, 10*time.Millisecond
		p.identify = func(path string) (fsutil.FileID, error) {
			looks.Add(1)
			return fsutil.Identify(path)
		}
	}
	h.start()
	dir := h.folder(0).Path
	h.drop(0, "a.csv", csvBody("a", 2))
	<-g.started

	away := dir + "-away"
	renameFolder(t, dir, away)
	eventually(t, "the folder to be reported unavailable", func() bool {
		st := h.pipeline.Status()
		return !st.Healthy && len(st.Problems) > 0 && strings.Contains(strings.Join(st.Problems, "\n"), "is not available since")
	})
	close(g.gate) // the upload goes on while the folder is away
	eventually(t, "the upload to wait for the folder", func() bool {
		return h.logHas("file waits for its drop folder to be available again")
	})
	// Heartbeats and checks go on meanwhile; none may make the folder
	// again at its old path.
	n := looks.Load()
	eventually(t, "more checks of the folder", func() bool { return looks.Load() > n+20 })
	if fileExists(dir) {
		t.Fatalf("something was written at the folder's path while it was away: %v", dirNames(t, dir))
	}
	if len(h.fake.Commits()) != 0 {
		t.Fatal("committed while the folder was away")
	}

	renameFolder(t, away, dir)
	h.waitDone(0, "a.csv")
	if n := len(h.fake.Commits()); n != 1 {
		t.Fatalf("commits = %d, want 1", n)
	}
	if h.logHas("removed while it was uploaded") {
		t.Fatal("the log says the file was removed")
	}
	for _, want := range []string{"drop folder is not available", "drop folder is available again", "unavailable_for="} {
		if !h.logHas(want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	eventually(t, "the health check to be ok again", func() bool { return len(h.pipeline.Status().Problems) == 0 })
}

// Issue 17 finding 3: an unmounted share leaves its mount point, an empty
// folder on another device, at the path. listdrop must not take that for
// the drop folder. Played by an identity whose device changes.
func TestMountPointWithoutItsShareIsNotTheDropFolder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	var unmounted atomic.Bool
	var beats atomic.Int64
	h.tweak = func(p *Pipeline) {
		p.beat, p.checkEvery = 10*time.Millisecond, 10*time.Millisecond
		p.identify = func(path string) (fsutil.FileID, error) {
			if unmounted.Load() {
				if strings.Contains(path, claimDirName) {
					return fsutil.FileID{}, os.ErrNotExist // the mount point has no claim folder
				}
				beats.Add(1)
				return fsutil.FileID{Volume: 999, Index: 1}, nil
			}
			return fsutil.Identify(path)
		}
	}
	h.start()
	hb := filepath.Join(h.claimDir(0), heartbeatName)
	unmounted.Store(true)
	eventually(t, "the folder to be reported unavailable", func() bool {
		return strings.Contains(strings.Join(h.pipeline.Status().Problems, "\n"), "another file system")
	})
	// The heartbeat removed only now: one begun while the folder was
	// still there may have written it after the switch.
	n := beats.Load()
	eventually(t, "more checks of the folder", func() bool { return beats.Load() > n+5 })
	os.Remove(hb)
	n = beats.Load()
	eventually(t, "more checks of the folder", func() bool { return beats.Load() > n+20 })
	if fileExists(hb) {
		t.Fatal("a heartbeat was written into what is not the drop folder")
	}
	h.drop(0, "b.csv", csvBody("b", 1))
	n = beats.Load()
	eventually(t, "more checks of the folder", func() bool { return beats.Load() > n+50 })
	if len(h.held(0)) != 0 || len(h.fake.Commits()) != 0 {
		t.Fatal("a file was claimed from what is not the drop folder")
	}
	unmounted.Store(false)
	h.waitDone(0, "b.csv")
	eventually(t, "the heartbeat", func() bool { return fileExists(hb) })
}

// Issue 17 findings 2 and 4: a folder whose every look hangs (a share
// whose server went away) must stall neither other folders nor the retry
// schedule, and must be reported while it lasts.
func TestFolderThatHangsStallsNothingElse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L0", "L1"}, "workers: 1\n")
	hang := make(chan struct{})
	var hanging atomic.Bool
	// Closed before the pipeline stops (cleanups run last first): the
	// looks that hang return then.
	t.Cleanup(func() { close(hang) })
	h.tweak = func(p *Pipeline) {
		p.checkEvery, p.checkTimeout = 10*time.Millisecond, 50*time.Millisecond
		hung := p.folders[h.cfg.Folders[0].Path].cfg.Path
		p.identify = func(path string) (fsutil.FileID, error) {
			if hanging.Load() && strings.HasPrefix(path, hung) {
				<-hang
				return fsutil.FileID{}, errors.New("gone")
			}
			return fsutil.Identify(path)
		}
	}
	h.start()
	hanging.Store(true)
	eventually(t, "the hanging folder to be reported", func() bool {
		return strings.Contains(strings.Join(h.pipeline.Status().Problems, "\n"), "does not answer")
	})
	// A file in the hanging folder waits; one in the other folder, whose
	// first try fails, is retried on time and committed.
	h.drop(0, "stuck.csv", csvBody("s", 1))
	h.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 503})
	h.drop(1, "ok.csv", csvBody("o", 1))
	h.waitDone(1, "ok.csv")
	if fileExists(filepath.Join(h.folder(0).Done, "stuck.csv")) {
		t.Fatal("a file was moved in a folder that does not answer")
	}
}
