package admin

import (
	"sort"
	"sync"
	"time"

	"github.com/listdrop/listdrop/state"
)

// day keeps the last 24 hours of the history in memory for the status
// page, so that a page open on an admin's screen costs the service the
// files of the last few minutes per refresh, not a day's history: it reads
// the whole day once, then at each request only the entries of the last
// window again, which holds every entry whose verdict may still come.
type day struct {
	window time.Duration

	mu      sync.Mutex
	entries []state.Entry // oldest first; never changed in place
	loaded  bool
}

// defaultVerdictWindow covers verify_timeout's default (10 minutes) with
// room to spare.
const defaultVerdictWindow = 15 * time.Minute

// get returns the entries of the 24 hours before now, oldest first. The
// slice is the caller's to read, not to change.
func (d *day) get(store Store, now time.Time) ([]state.Entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	since := now.Add(-24 * time.Hour)
	from := since
	if w := now.Add(-d.window); d.loaded && w.After(since) {
		from = w
	}
	fresh, err := store.History(from)
	if err != nil {
		return nil, err
	}
	keep := sort.Search(len(d.entries), func(i int) bool { return !d.entries[i].At.Before(from) })
	// A new array each time: slices handed out before stay as they were.
	entries := append(append(make([]state.Entry, 0, keep+len(fresh)), d.entries[:keep]...), fresh...)
	old := sort.Search(len(entries), func(i int) bool { return !entries[i].At.Before(since) })
	d.entries, d.loaded = entries[old:], true
	return d.entries, nil
}
