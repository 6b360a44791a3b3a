package state

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestRecordLifecycleSurvivesReopen(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	r := Record{Key: "/drop/.listdrop/a.csv", Folder: "/drop", Source: "/drop/a.csv", ListID: "L1",
		Size: 12, MD5: "0123456789abcdef0123456789abcdef", Phase: Hashed, Claimed: at}
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	r.Phase, r.UploadID, r.PatchUnknown = Patching, "U1", true
	if err := s.Put(r); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.LookupCommit("L1", r.MD5); found {
		t.Fatal("content is in the ledger before it was committed")
	}
	r.Phase, r.Committed = Committed, at.Add(time.Minute)
	if err := s.Commit(r); err != nil {
		t.Fatal(err)
	}
	// Reopen: everything written must be there.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, ok, err := s2.Get(r.Key)
	if err != nil || !ok {
		t.Fatalf("Get after reopen: ok=%v err=%v", ok, err)
	}
	if got.Phase != Committed || got.UploadID != "U1" || !got.Committed.Equal(r.Committed) {
		t.Fatalf("record after reopen = %+v", got)
	}
	c, ok, err := s2.LookupCommit("L1", r.MD5)
	if err != nil || !ok || c.UploadID != "U1" || c.File != "a.csv" || c.ListID != "L1" || c.MD5 != r.MD5 {
		t.Fatalf("LookupCommit = %+v %v %v", c, ok, err)
	}
	if _, ok, _ := s2.LookupCommit("L2", r.MD5); ok {
		t.Fatal("the same content for another list must not count as committed")
	}
	act, err := s2.Active()
	if err != nil || len(act) != 1 {
		t.Fatalf("Active = %v, %v", act, err)
	}
	if _, err := s2.Finish(r.Key, Entry{At: at.Add(2 * time.Minute), Source: r.Source, Result: Done, UploadID: "U1"}); err != nil {
		t.Fatal(err)
	}
	if act, _ := s2.Active(); len(act) != 0 {
		t.Fatalf("record still active after Finish: %v", act)
	}
	if _, ok, _ := s2.LookupCommit("L1", r.MD5); !ok {
		t.Fatal("Finish must keep the ledger entry: it is the duplicate check")
	}
	h, err := s2.History(time.Time{})
	if err != nil || len(h) != 1 || h[0].UploadID != "U1" || h[0].Result != Done {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if h, _ := s2.History(at.Add(time.Hour)); len(h) != 0 {
		t.Fatalf("History since a later time = %+v", h)
	}
}

func TestCommitRequiresCommittedPhase(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	if err := s.Commit(Record{Key: "k", ListID: "L", MD5: "m", Phase: Patching}); err == nil {
		t.Fatal("Commit accepted a record that is not committed")
	}
	if _, ok, _ := s.LookupCommit("L", "m"); ok {
		t.Fatal("a refused commit reached the ledger")
	}
}

func TestHistoryOrderAndSameInstant(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, src := range []string{"b", "a", "c"} {
		// Two entries share an instant: neither may overwrite the other.
		if _, err := s.Finish("k"+src, Entry{At: at.Add(time.Duration(i/2) * time.Second), Source: src}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range h {
		order = append(order, e.Source)
	}
	if strings.Join(order, ",") != "b,a,c" {
		t.Fatalf("history order = %v", order)
	}
}

func TestFileModeIsPrivate(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no mode bits; ACLs apply")
	}
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("state file mode = %o, want 600", m)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	t.Parallel()
	_, path := openTemp(t)
	_, err := Open(path, 200*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

func TestDamagedFileSaysHowToRecover(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	junk := make([]byte, 64*1024)
	for i := range junk {
		junk[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, time.Second)
	if err == nil {
		t.Fatal("a damaged state file opened")
	}
	if !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "move the file aside") {
		t.Fatalf("error does not say how to recover: %v", err)
	}
	if _, statErr := os.Stat(path); statErr != nil {
		t.Fatal("the damaged file must never be deleted")
	}
}

func TestInstanceIsStableAcrossReopen(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	id := s.Instance()
	if len(id) != 16 {
		t.Fatalf("instance %q", id)
	}
	s.Close()
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Instance() != id {
		t.Fatalf("instance changed on reopen: %s -> %s", id, s2.Instance())
	}
	other, _ := openTemp(t)
	if other.Instance() == id {
		t.Fatal("two state files share an instance name")
	}
}

// A split file that failed part-way is in the ledger: dropped again, it is
// known, with how many of its parts are in; its verdict is the worst of
// its parts'.
func TestPartlyImportedSplitFileIsCommitted(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	md5 := "0123456789abcdef0123456789abcdef"
	rec := Record{Key: "/in/.listdrop/x/big.csv", Folder: "/in", Source: "/in/big.csv", ListID: "L", MD5: md5, Phase: Failing,
		Parts: 5, Part: 3, Committed: time.Now(), PartsIn: []PartUpload{{UploadID: "U1", First: 2, Last: 300, Outcome: "INCOMPLETE"}, {UploadID: "U2", First: 301, Last: 600}}}
	if err := s.Commit(Record{Key: "k", ListID: "L", MD5: md5, Phase: Failing, Committed: time.Now()}); err == nil {
		t.Fatal("Commit accepted a failing record without parts in")
	}
	rec.Remaining = "/in/failed/big.remaining.csv"
	if err := s.Commit(rec); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.LookupCommit("L", md5)
	if err != nil || !ok || c.PartsIn != 2 || c.Parts != 5 || c.File != "big.csv" || c.Remaining != rec.Remaining {
		t.Fatalf("before its entry: LookupCommit = %+v, %v, %v; want 2 of 5 parts of big.csv", c, ok, err)
	}
	key, err := s.Finish(rec.Key, Entry{At: time.Now(), Folder: rec.Folder, Source: rec.Source, ListID: "L", MD5: md5, Result: Failed,
		Reason: "part 2 rejected", Parts: rec.Parts, PartsIn: rec.PartsIn, Remaining: rec.Remaining})
	if err != nil {
		t.Fatal(err)
	}
	c, ok, err = s.LookupCommit("L", md5)
	if err != nil || !ok || c.PartsIn != 2 || c.Parts != 5 || c.At.IsZero() || c.Remaining != rec.Remaining {
		t.Fatalf("after its entry: LookupCommit = %+v, %v, %v", c, ok, err)
	}
	if err := s.SetOutcome(key, "ACCEPTED"); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(time.Time{})
	if err != nil || len(h) != 1 {
		t.Fatalf("history %v, %v", h, err)
	}
	if h[0].Outcome != "INCOMPLETE" || h[0].PartsIn[1].Outcome != "ACCEPTED" || !h[0].Partial() {
		t.Errorf("entry %+v: want the worst verdict (INCOMPLETE), the last part's verdict set, partial", h[0])
	}
}
