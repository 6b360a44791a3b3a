package watcher

import "time"

// settleFor is how long a file of this size must hold still: an empty file
// gets the longer grace.
func (w *Watcher) settleFor(size int64) time.Duration {
	if size == 0 {
		return w.empty
	}
	return w.settle
}

// startWrites starts following writers where the platform allows it.
func (r *run) startWrites() {
	r.writing = map[string]bool{}
	ww, err := newWriteWatch()
	if err != nil {
		r.w.log.Debug("cannot follow writers; files are taken once they have settled", "error", err)
		return
	}
	r.writes = ww
}

func (r *run) stopWrites() {
	if r.writes == nil {
		return
	}
	if err := r.writes.close(); err != nil {
		r.w.log.Warn("close writer notifications", "error", err)
	}
}

// watchWrites follows the writers of f's files; without it f's files are
// taken once they have settled.
func (r *run) watchWrites(f *folder) {
	if r.writes == nil {
		return
	}
	if err := r.writes.add(f.path); err != nil {
		f.log.Debug("cannot follow writers in folder; its files are taken once they have settled", "error", err)
	}
}

func (r *run) handleWrite(ev writeEvent) {
	switch ev.op {
	case writeStarted:
		r.writing[ev.path] = true
	case writeGone:
		delete(r.writing, ev.path)
	case writeClosed:
		delete(r.writing, ev.path)
		if p, ok := r.pending[ev.path]; ok && p.open {
			// Settled while open: looked at again now; a change restarts
			// its clock.
			p.open = false
			p.due = time.Now()
			r.arm(p.due)
		}
	case writeOverflow:
		// Closes may have been lost: nothing is known to be open now,
		// and settle alone decides until writes are seen again.
		clear(r.writing)
		for _, p := range r.pending {
			if p.open {
				p.open = false
				p.due = time.Now()
				r.arm(p.due)
			}
		}
		r.w.log.Warn("writer notifications overflowed; files are taken once they have settled")
	}
}

// stillOpen reports whether a settled file is still open for writing in
// another process, as far as the platform can tell, and logs it once.
func (r *run) stillOpen(p *pending, path string) bool {
	if !r.writing[path] && !openForWriting(path) {
		return false
	}
	p.open = true
	if !p.told {
		p.told = true
		p.folder.log.Info("file has settled but is still open for writing; waiting for the program to close it", "file", path)
	}
	if !r.writing[path] {
		// Windows: no close event will come; look again after settle.
		p.due = time.Now().Add(r.w.settle)
		r.arm(p.due)
	}
	return true
}
