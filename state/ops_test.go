package state

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOutcomeAllowanceAndPrune(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	old := time.Now().Add(-200 * 24 * time.Hour)
	recent := time.Now().Add(-time.Hour)
	for i, at := range []time.Time{old, recent} {
		r := Record{Key: fmt.Sprint("k", i), ListID: "L", MD5: fmt.Sprintf("%032d", i), Phase: Committed, Committed: at}
		if err := s.Commit(r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(r.Key, Entry{At: at, Source: r.Key, ListID: "L", MD5: r.MD5, Result: Done}); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := s.History(time.Time{})
	if err := s.SetOutcome(h[1].Key, "REJECTED"); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.History(time.Time{}); h[1].Outcome != "REJECTED" || h[0].Outcome != "" {
		t.Fatalf("outcomes = %q, %q", h[0].Outcome, h[1].Outcome)
	}

	if ok, _ := s.TakeAllowance("L", h[1].MD5); ok {
		t.Fatal("an allowance nobody gave")
	}
	if err := s.AllowOnce("L", h[1].MD5); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.TakeAllowance("L2", h[1].MD5); ok {
		t.Fatal("an allowance for another list")
	}
	if ok, _ := s.TakeAllowance("L", h[1].MD5); !ok {
		t.Fatal("the allowance was not taken")
	}
	if ok, _ := s.TakeAllowance("L", h[1].MD5); ok {
		t.Fatal("an allowance works once only")
	}

	n, err := s.Prune(time.Now().Add(-180 * 24 * time.Hour))
	if err != nil || n != 2 { // one history entry and one commit
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if h, _ := s.History(time.Time{}); len(h) != 1 || h[0].Outcome != "REJECTED" {
		t.Fatalf("history after prune = %+v", h)
	}
	if _, ok, _ := s.LookupCommit("L", fmt.Sprintf("%032d", 0)); ok {
		t.Fatal("an old commit is still a duplicate after pruning")
	}
	if _, ok, _ := s.LookupCommit("L", fmt.Sprintf("%032d", 1)); !ok {
		t.Fatal("a recent commit was pruned")
	}
}

func TestCompactKeepsEverything(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	at := time.Now()
	for i := range 600 {
		r := Record{Key: fmt.Sprint("k", i), ListID: "L", MD5: fmt.Sprintf("%032x", i), Phase: Committed, Committed: at.Add(-time.Duration(i) * time.Hour)}
		if err := s.Commit(r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(r.Key, Entry{At: r.Committed, ListID: "L", MD5: r.MD5, Result: Done}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(at.Add(-99*time.Hour - 30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := s.Compact(time.Second); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() >= before.Size() {
		t.Fatalf("compaction did not shrink the file: %d -> %d", before.Size(), after.Size())
	}
	if h, _ := s.History(time.Time{}); len(h) != 100 {
		t.Fatalf("history after compaction = %d entries, want 100", len(h))
	}
	if _, ok, _ := s.LookupCommit("L", fmt.Sprintf("%032x", 5)); !ok {
		t.Fatal("a commit was lost in compaction")
	}
	if runtime.GOOS == "windows" {
		t.Skip("compaction kept everything; the mode check that follows means nothing on Windows, which has no mode bits (ACLs apply)")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after compaction = %o", fi.Mode().Perm())
	}
}

func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	inst := s.Instance()
	if _, err := OpenReadOnly(path, 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open beside a writer: %v, want ErrLocked", err)
	}
	s.Close()
	ro, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Instance() != inst {
		t.Fatalf("instance %q, want %q", ro.Instance(), inst)
	}
	if err := ro.Put(Record{Key: "x"}); err == nil {
		t.Fatal("a read-only store accepted a write")
	}
	if _, err := OpenReadOnly(path+".missing", time.Second); err == nil {
		t.Fatal("opened a state file that does not exist")
	}
}

func TestCommitsNameTheirListAndContent(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	r := Record{Key: "k", Source: "/drop/x.csv", ListID: "list-9", MD5: "00112233445566778899aabbccddeeff", Phase: Committed, Committed: time.Now(), UploadID: "U"}
	if err := s.Commit(r); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Commits()
	if err != nil || len(cs) != 1 || cs[0].ListID != "list-9" || cs[0].MD5 != r.MD5 || cs[0].File != "x.csv" {
		t.Fatalf("Commits = %+v, %v", cs, err)
	}
}

// Writes made at the same time are grouped into shared transactions; each
// still lands, and a write that fails fails alone.
func TestConcurrentWritesAllLand(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Put(Record{Key: fmt.Sprint("k", i), Phase: Hashed}) }()
	}
	bad := make(chan error, 1)
	go func() { bad <- s.write(func(*bolt.Tx) error { return errors.New("refused") }) }()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-bad; err == nil || err.Error() != "refused" {
		t.Fatalf("the failing write returned %v", err)
	}
	act, err := s.Active()
	if err != nil || len(act) != n {
		t.Fatalf("records = %d, %v; want %d", len(act), err, n)
	}
}
