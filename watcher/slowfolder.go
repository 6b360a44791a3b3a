package watcher

import (
	"os"
	"time"
)

// A folder on a network share can hang: a stat or a listing that does not
// return while the server is unreachable. The scan of such a folder must
// not hold up the others, nor the settle timer. Before each folder is
// scanned, it is looked at in a goroutine of its own, for at most
// lookTimeout; a folder that does not answer is skipped until it does,
// and a look still in flight is waited for, never doubled. A look stuck
// in the kernel cannot be interrupted: its goroutine ends when the call
// returns, possibly after Run has.

// defaultLookTimeout is how long a folder may take to answer a look.
const defaultLookTimeout = 5 * time.Second

// lookAtFolder is the look: the folder's attributes and its listing. What
// it finds does not matter (refresh and scan say what is wrong), only
// that it returns.
func lookAtFolder(path string) {
	if _, err := os.Stat(path); err != nil {
		return
	}
	d, err := os.Open(path)
	if err != nil {
		return
	}
	defer d.Close()
	d.Readdirnames(1)
}

// answers reports whether f answered a look in time.
func (r *run) answers(f *folder) bool {
	if r.looks == nil {
		r.looks, r.silent = map[*folder]chan struct{}{}, map[*folder]bool{}
	}
	done := r.looks[f]
	if done == nil {
		done = make(chan struct{})
		r.looks[f] = done
		look := r.w.lookFolder
		if look == nil {
			look = lookAtFolder
		}
		go func() {
			look(f.path)
			close(done)
		}()
	}
	timeout := r.w.lookTimeout
	if timeout <= 0 {
		timeout = defaultLookTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		delete(r.looks, f)
		if r.silent[f] {
			delete(r.silent, f)
			f.log.Info("folder answers again")
			r.arm(time.Now()) // its files waiting to settle were passed over
		}
		return true
	case <-t.C:
		if !r.silent[f] {
			r.silent[f] = true
			f.log.Warn("folder does not answer (a network share whose server is unreachable?); other folders go on, and it is looked at again on every rescan", "waited", timeout)
		}
		return false
	}
}
