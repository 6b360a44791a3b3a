package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/listdrop/listdrop/state"
)

// memStore answers History from memory (entries oldest first), as the
// state does: the entries since the time asked.
type memStore struct{ entries []state.Entry }

func (m memStore) History(since time.Time) ([]state.Entry, error) {
	i := sort.Search(len(m.entries), func(i int) bool { return !m.entries[i].At.Before(since) })
	return m.entries[i:], nil
}
func (m memStore) AllowOnce(listID, md5 string) error { return nil }

var _ Store = memStore{}

// BenchmarkPage100000 renders the page over 100,000 files finished in the
// last 24 hours, as a page left open does: the day is read once, then each
// refresh asks the state only for the verdict window (the state's own
// reading is not counted: its benchmarks measure that).
func BenchmarkPage100000(b *testing.B) {
	now := time.Now()
	entries := make([]state.Entry, 100000)
	for i := range entries {
		e := state.Entry{At: now.Add(-time.Duration(i) * 800 * time.Millisecond), Folder: "/drop", Source: fmt.Sprintf("/drop/file-%06d.csv", i), ListID: "L1", Size: 1234, Result: state.Done, Outcome: "ACCEPTED"}
		if i%7 == 0 {
			e.Result, e.Reason = state.Failed, "Line 2 does not have as many fields as the header line."
		}
		entries[len(entries)-1-i] = e
	}
	s := New(Options{Pipeline: fakePipeline{healthy}, Store: memStore{entries}, Version: "1", Token: testToken, Listen: "127.0.0.1:0"})
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("/: %d", w.Code)
		}
	}
}
