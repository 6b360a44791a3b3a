package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/watcher"
)

// A drop folder can go away and come back: a share unmounted or its server
// stopped, the folder renamed away and back. While it is away its path may
// lead nowhere, or to something else (the bare mount point under an
// unmounted share). listdrop then writes nothing there: no heartbeat, no
// claim, no move. Files it holds wait, and are taken up again when the
// folder is back, without a restart.
//
// A folder is known by its identity (fsutil.FileID), recorded when first
// seen. It is available when its path leads to that identity, or to a
// folder holding this process's claim folder (the same share mounted
// again, with a new device number), or to a new folder on the same device
// (removed and made again). Anything else (nothing, or a folder on another
// device without listdrop's claim folder: a mount point without its share)
// is not available.

// availability is one folder's: what it is, whether it is there, since
// when not.
type availability struct {
	mu      sync.Mutex
	id      fsutil.FileID
	known   bool      // id has been recorded
	down    bool      // not available
	since   time.Time // when it became unavailable
	reason  string
	probing chan struct{} // closed when the probe in flight ends; nil when none
	parked  []item        // files waiting for the folder
	busy    bool          // an eachUsable step is still running here
}

// defaults for Options.CheckEvery and Options.CheckTimeout.
const (
	defaultCheckEvery   = time.Second
	defaultCheckTimeout = 5 * time.Second
)

// probe looks at the folder now, at most checkTimeout long: a stat that
// hangs on a share counts as "not answering" and is left to finish on its
// own, while the probes that come after it wait for it rather than pile
// up. It reports whether the folder is available.
func (p *Pipeline) probe(f *folder) bool {
	a := f.avail
	a.mu.Lock()
	done := a.probing
	if done == nil {
		done = make(chan struct{})
		a.probing = done
		go func() {
			ok, reason, id := p.lookAt(f)
			a.mu.Lock()
			a.probing = nil
			a.mu.Unlock()
			p.setAvailable(f, ok, reason, id)
			close(done)
		}()
	}
	a.mu.Unlock()
	t := time.NewTimer(p.checkTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		p.setAvailable(f, false, fmt.Sprintf("the folder does not answer (a look at it has taken more than %s)", p.checkTimeout), fsutil.FileID{})
	}
	return p.isAvailable(f)
}

// lookAt says whether the folder at f's path is f's drop folder.
func (p *Pipeline) lookAt(f *folder) (ok bool, reason string, id fsutil.FileID) {
	id, err := p.identify(f.cfg.Path)
	if err == nil {
		// A FUSE client may answer a stat from its cache while the server
		// is gone; reading the folder asks the server.
		err = listable(f.cfg.Path)
	}
	if err != nil {
		return false, plainIOError(err), id
	}
	a := f.avail
	a.mu.Lock()
	known, was := a.known, a.id
	a.mu.Unlock()
	if !known || id == was {
		return true, "", id
	}
	// Another folder at the path: the same share mounted again, the
	// folder put back, or a mount point without its share.
	if _, err := p.identify(f.claimDir); err == nil {
		return true, "", id
	}
	if id.Volume == was.Volume {
		return true, "", id // removed and made again on the same disk
	}
	return false, "the path now leads to another file system without listdrop's claim folder (a share unmounted, leaving its mount point)", id
}

// setAvailable records what a probe found and says when it changes.
func (p *Pipeline) setAvailable(f *folder, ok bool, reason string, id fsutil.FileID) {
	a := f.avail
	a.mu.Lock()
	var parked []item
	var lasted time.Duration
	was := !a.down
	switch {
	case ok:
		if !a.known || a.id != id {
			a.id, a.known = id, true
		}
		if a.down {
			a.down = false
			lasted = time.Since(a.since)
			parked, a.parked = a.parked, nil
		}
	case was:
		a.down, a.since, a.reason = true, time.Now(), reason
	default:
		a.reason = reason
	}
	a.mu.Unlock()
	switch {
	case ok && !was:
		f.log.Info("drop folder is available again", "unavailable_for", lasted.Round(time.Millisecond), "held", len(parked))
		if w := p.watcherNow(); w != nil {
			w.Rescan()
		}
		// Once stopping, parked files stay for the next start: their
		// records, or their claimed files, say what is left to do.
		for _, it := range parked {
			if p.stop != nil && p.stop.Err() == nil {
				p.submit(it)
			}
		}
	case !ok && was:
		f.log.Warn("drop folder is not available; nothing is written there and its files wait until it is back", "reason", reason)
	}
}

// isAvailable is the last probe's answer; it never touches the folder.
func (p *Pipeline) isAvailable(f *folder) bool {
	f.avail.mu.Lock()
	defer f.avail.mu.Unlock()
	return !f.avail.down
}

// usable probes the folder and reports whether it may be written to now.
// The last answer is trusted when it was "not available", so that a folder
// that hangs costs nothing more until the next periodic look.
func (p *Pipeline) usable(f *folder) bool {
	if !p.isAvailable(f) {
		return false
	}
	return p.probe(f)
}

// park keeps a file for when its folder is back. It reports false when the
// folder came back meanwhile: the caller goes on.
func (p *Pipeline) park(f *folder, it item) bool {
	a := f.avail
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.down {
		return false
	}
	a.parked = append(a.parked, it)
	f.log.Info("file waits for its drop folder to be available again", "file", filepath.Base(it.path))
	return true
}

// unavailable lists the folders that are not available, in words, for the
// health check.
func (p *Pipeline) unavailable(path string) (string, bool) {
	f := p.folders[path]
	if f == nil {
		return "", false
	}
	a := f.avail
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.down {
		return "", false
	}
	return fmt.Sprintf("folder %s is not available since %s: %s", path, display.Time(a.since), a.reason), true
}

// watchAvailability probes every folder every checkEvery, each in its own
// goroutine so that a folder that hangs delays no other, until ctx ends.
func (p *Pipeline) watchAvailability(ctx context.Context) {
	var wg sync.WaitGroup
	for _, f := range p.folders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(p.checkEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					p.probe(f)
				}
			}
		}()
	}
	wg.Wait()
}

// identifyPath is fsutil.Identify; tests replace the Pipeline field.
func identifyPath(path string) (fsutil.FileID, error) { return fsutil.Identify(path) }

// watcherNow is the running watcher, or nil.
func (p *Pipeline) watcherNow() *watcher.Watcher {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.w
}

// recheck asks the watcher to look at a file again after settle: a file
// caught changing, or given back to its folder, where a share sends no
// notification would otherwise wait for the next rescan.
func (p *Pipeline) recheck(path string) {
	if w := p.watcherNow(); w != nil {
		w.Recheck(path)
	}
}

// probeAll looks at every folder at once, for the start.
func (p *Pipeline) probeAll() {
	var wg sync.WaitGroup
	for _, f := range p.folders {
		wg.Go(func() { p.probe(f) })
	}
	wg.Wait()
}

// parkIfAway keeps a held file's record for when its folder is back, if
// the folder is not available now.
func (p *Pipeline) parkIfAway(f *folder, rec state.Record) bool {
	return !p.usable(f) && p.park(f, item{f: f, path: rec.Key, claimed: true, rec: &rec})
}

// listable reads the first names in a folder.
func listable(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// eachUsable runs step for every folder that is available, each in its own
// goroutine, and waits for them at most twice checkTimeout: a write that
// hangs on one share (the heartbeat) holds up no other folder, nor the
// caller. A folder whose last step has not returned is skipped; the
// goroutine of a step stuck in the kernel ends when the call returns.
func (p *Pipeline) eachUsable(step func(f *folder)) {
	var wg sync.WaitGroup
	for _, f := range p.folders {
		a := f.avail
		a.mu.Lock()
		if a.busy {
			a.mu.Unlock()
			continue
		}
		a.busy = true
		a.mu.Unlock()
		wg.Go(func() {
			defer func() {
				a.mu.Lock()
				a.busy = false
				a.mu.Unlock()
			}()
			if p.usable(f) { // never into a mount point without its share
				step(f)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(2 * p.checkTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
