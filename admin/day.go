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
	entries []state.Entry // oldest first
	loaded  bool
}

// defaultVerdictWindow covers verify_timeout's default (10 minutes) with
// room to spare.
const defaultVerdictWindow = 15 * time.Minute

// read calls fn with the entries of the 24 hours before now, oldest first,
// while it holds the day: fn must not keep or change the slice.
func (d *day) read(store Store, now time.Time, fn func([]state.Entry)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	since := now.Add(-24 * time.Hour)
	from := since
	if w := now.Add(-d.window); d.loaded && w.After(since) {
		from = w
	}
	fresh, err := store.History(from)
	if err != nil {
		return err
	}
	keep := sort.Search(len(d.entries), func(i int) bool { return !d.entries[i].At.Before(from) })
	d.entries = append(d.entries[:keep], fresh...)
	old := sort.Search(len(d.entries), func(i int) bool { return !d.entries[i].At.Before(since) })
	clear(d.entries[:old]) // let the strings of what left the day go
	d.entries, d.loaded = d.entries[old:], true
	fn(d.entries)
	return nil
}
