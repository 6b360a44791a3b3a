package watcher

import (
	"context"
	"path/filepath"
)

// recheckQueue is how many Recheck requests wait for the watcher's loop;
// beyond it a rescan finds the files instead.
const recheckQueue = 256

// Recheck asks the running watcher to look at path again and report it
// once it has settled anew: a file the consumer found changing after it
// settled, or gave back to its folder. On a network share no notification
// says so, and without this the file would wait for the next rescan. It
// never blocks.
func (w *Watcher) Recheck(path string) {
	select {
	case w.recheckReq <- path:
	default:
		w.Rescan()
	}
}

// recheck serves a Recheck request: the file's settle clock starts again.
func (r *run) recheck(ctx context.Context, path string) {
	path = filepath.Clean(path)
	f, ok := r.byPath[filepath.Dir(path)]
	if !ok || !Eligible(filepath.Base(path)) {
		return
	}
	delete(r.pending, path)
	r.observe(ctx, f, path)
}
