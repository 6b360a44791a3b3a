package admin

import (
	"fmt"
	"testing"
	"time"

	"github.com/listdrop/listdrop/state"
)

// countingStore serves a history from memory and records what each read
// asked for.
type countingStore struct {
	entries []state.Entry // oldest first
	reads   []time.Time
}

func (c *countingStore) History(since time.Time) ([]state.Entry, error) {
	c.reads = append(c.reads, since)
	var out []state.Entry
	for _, e := range c.entries {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (c *countingStore) AllowOnce(string, string) error { return nil }

// The page reads a day of history once; after that, each refresh reads
// only the verdict window again, and still shows new files, verdicts that
// came late, and nothing older than a day.
// get is read for a test: a copy of the day.
func (d *day) get(store Store, now time.Time) (out []state.Entry, err error) {
	err = d.read(store, now, func(e []state.Entry) { out = append([]state.Entry(nil), e...) })
	return out, err
}

func TestPageReadsADayOnceThenOnlyTheLastMinutes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	cs := &countingStore{}
	for i := range 30 * 60 { // one file a minute for 30 hours
		at := now.Add(-30*time.Hour + time.Duration(i)*time.Minute)
		cs.entries = append(cs.entries, state.Entry{At: at, Source: fmt.Sprintf("/d/f%d.csv", i), Result: state.Done})
	}
	d := &day{window: 15 * time.Minute}
	got, err := d.get(cs, now)
	if err != nil {
		t.Fatal(err)
	}
	got = append([]state.Entry(nil), got...)
	if len(got) != 24*60 || !cs.reads[0].Equal(now.Add(-24*time.Hour)) {
		t.Fatalf("first read: %d entries from %s", len(got), cs.reads[0])
	}
	// A verdict arrives for a file of five minutes ago; a new file comes;
	// a minute passes.
	last := len(cs.entries) - 5
	cs.entries[last].Outcome = "ACCEPTED"
	cs.entries = append(cs.entries, state.Entry{At: now.Add(30 * time.Second), Source: "/d/new.csv", Result: state.Done})
	later := now.Add(time.Minute)
	got, err = d.get(cs, later)
	if err != nil {
		t.Fatal(err)
	}
	if r := cs.reads[1]; !r.Equal(later.Add(-15 * time.Minute)) {
		t.Fatalf("the second read asked for everything since %s: only the verdict window must be read again", r)
	}
	if got[len(got)-1].Source != "/d/new.csv" {
		t.Fatalf("the new file is not the newest: %+v", got[len(got)-1])
	}
	found := false
	for _, e := range got {
		if e.Source == cs.entries[last].Source {
			found = e.Outcome == "ACCEPTED"
		}
		if e.At.Before(later.Add(-24 * time.Hour)) {
			t.Fatalf("an entry older than a day is shown: %s", e.At)
		}
	}
	if !found {
		t.Fatal("a verdict that came within the window is not shown")
	}
	for i := 1; i < len(got); i++ {
		if got[i].At.Before(got[i-1].At) {
			t.Fatalf("entries out of order at %d", i)
		}
	}
}
