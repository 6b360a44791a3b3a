package state

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeV1 makes a state file as format 1 left it: JSON history entries, and
// a ledger keyed by list and hex digest whose values name the file.
func writeV1(t *testing.T, path string, active []Record, commits map[string]commitV1, hist []Entry) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bs := map[string]*bolt.Bucket{}
		for _, name := range []string{"active", "commits", "history", "meta", "force"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			bs[name] = b
		}
		bs["meta"].Put([]byte("schema"), []byte("1"))
		bs["meta"].Put([]byte("instance"), []byte("0011223344556677"))
		for _, r := range active {
			v, _ := json.Marshal(r)
			bs["active"].Put([]byte(r.Key), v)
		}
		for k, c := range commits {
			v, _ := json.Marshal(c)
			bs["commits"].Put([]byte(k), v)
		}
		for i, e := range hist {
			k := make([]byte, 16)
			binary.BigEndian.PutUint64(k, uint64(e.At.UnixNano()))
			binary.BigEndian.PutUint64(k[8:], uint64(i+1))
			v, _ := json.Marshal(e)
			bs["history"].Put(k, v)
		}
		return bs["history"].SetSequence(uint64(len(hist)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A state file of the earlier format is upgraded when opened: nothing
// committed stops being a duplicate, the history reads the same, and a file
// committed but not yet moved finishes as it would have.
func TestFormat1IsUpgradedOnOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "listdrop.db")
	t0 := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	const (
		mdA    = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // committed and finished
		mdB    = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // committed, its history entry pruned by hand
		mdC    = "cccccccccccccccccccccccccccccccc" // committed, still being moved
		listID = "6c0c0a3a-2b7e-4a57-9a61-000000000001"
	)
	hist := []Entry{
		{At: t0, Folder: "/drop", Source: "/drop/a.csv", Dest: "/drop/done/a.csv", ListID: listID, Size: 10, MD5: mdA, Result: Done, UploadID: "UA", Attempts: 1, Outcome: "ACCEPTED"},
		{At: t0.Add(time.Minute), Folder: "/drop", Source: "/drop/empty.csv", Dest: "/drop/failed/empty.csv", ListID: listID, Result: Failed, Reason: "The file is empty."},
	}
	held := Record{Key: "/drop/.listdrop/x/c.csv", Folder: "/drop", Source: "/drop/c.csv", ListID: listID, MD5: mdC, Phase: Committed,
		UploadID: "UC", Committed: t0.Add(3 * time.Minute), Dest: "/drop/done/c.csv"}
	commits := map[string]commitV1{
		listID + "\x00" + mdA: {File: "a.csv", UploadID: "UA", At: t0},
		listID + "\x00" + mdB: {File: "b.csv", UploadID: "UB", At: t0.Add(2 * time.Minute)},
		listID + "\x00" + mdC: {File: "c.csv", UploadID: "UC", At: held.Committed},
	}
	writeV1(t, path, []Record{held}, commits, hist)

	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Instance() != "0011223344556677" {
		t.Fatalf("instance = %q, want the file's own", s.Instance())
	}
	for _, want := range []Commit{
		{ListID: listID, MD5: mdA, File: "a.csv", UploadID: "UA", At: t0},
		{ListID: listID, MD5: mdB, File: "b.csv", UploadID: "UB", At: t0.Add(2 * time.Minute)},
		{ListID: listID, MD5: mdC, File: "c.csv", UploadID: "UC", At: held.Committed},
	} {
		c, ok, err := s.LookupCommit(listID, want.MD5)
		if err != nil || !ok || c.File != want.File || c.UploadID != want.UploadID || !c.At.Equal(want.At) {
			t.Errorf("LookupCommit(%s) = %+v %v %v, want %+v", want.MD5[:4], c, ok, err, want)
		}
	}
	got, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, e := range got {
		sources = append(sources, filepath.Base(e.Source))
	}
	// a.csv and empty.csv as they were, b.csv rebuilt from its commit; c.csv
	// is not finished yet.
	if strings.Join(sources, " ") != "a.csv empty.csv b.csv" {
		t.Fatalf("history after the upgrade: %v", sources)
	}
	if got[0].Outcome != "ACCEPTED" || got[0].Dest != "/drop/done/a.csv" || !got[0].At.Equal(t0) || got[1].Reason != "The file is empty." {
		t.Fatalf("history entries changed: %+v", got[:2])
	}

	// The held file finishes under the key its commit points at.
	key, err := s.Finish(held.Key, Entry{At: time.Now(), Folder: "/drop", Source: held.Source, Dest: held.Dest, ListID: listID, MD5: mdC, Result: Done, UploadID: "UC"})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s.History(time.Time{}); len(e) != 4 || string(e[3].Key) != string(key) || !e[3].At.Equal(held.Committed) {
		t.Fatalf("history after finishing the held file: %+v", e)
	}

	// Upgraded once: the old ledger is gone and reopening changes nothing.
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCommitsV1) != nil {
			t.Error("the format-1 ledger is still there")
		}
		if v := tx.Bucket(bucketMeta).Get([]byte("schema")); string(v) != schemaVersion {
			t.Errorf("schema = %q", v)
		}
		return nil
	})
	db.Close()
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if cs, err := s2.Commits(); err != nil || len(cs) != 3 {
		t.Fatalf("commits after reopening: %+v %v", cs, err)
	}
}

// A format-1 file can still be read by the read-only commands before the
// daemon has upgraded it.
func TestFormat1ReadsReadOnly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "listdrop.db")
	at := time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)
	writeV1(t, path, nil, map[string]commitV1{"L\x00aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": {File: "a.csv", UploadID: "U", At: at}},
		[]Entry{{At: at, Folder: "/d", Source: "/d/a.csv", ListID: "L", MD5: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Result: Done, UploadID: "U"}})
	s, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.History(time.Time{})
	if err != nil || len(h) != 1 || h[0].Source != "/d/a.csv" {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if _, _, err := s.LookupCommit("L", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
}

// A file from a newer listdrop is refused, not misread.
func TestNewerFormatIsRefused(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte("3")) })
	s.Close()
	_, err := Open(path, time.Second)
	if err == nil || !strings.Contains(err.Error(), "newer listdrop") {
		t.Fatalf("Open = %v", err)
	}
}
