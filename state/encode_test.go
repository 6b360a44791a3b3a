package state

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Every field of an entry comes back exactly, whatever form each one takes
// on disk.
func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	folder := filepath.Join(string(filepath.Separator)+"srv", "drop", "sales")
	at := time.Date(2026, 11, 28, 9, 30, 0, 123456789, time.UTC)
	cases := map[string]Entry{
		"done, in the usual place": {Folder: folder, Source: filepath.Join(folder, "contacts.csv"),
			Dest: filepath.Join(folder, "done", "contacts.csv"), ListID: "6c0c0a3a-2b7e-4a57-9a61-000000000001",
			Size: 20000, MD5: "0123456789abcdef0123456789abcdef", Result: Done,
			UploadID: "0f6e1b9a-9c1d-4c39-8f7e-2d4f1c9b7a10", Attempts: 1, Outcome: "ACCEPTED"},
		"done under another name": {Folder: folder, Source: filepath.Join(folder, "a.csv"),
			Dest: filepath.Join(folder, "done", "a-1.csv"), ListID: "L", Size: 3, MD5: "0123456789abcdef0123456789abcdef", Result: Done, UploadID: "U"},
		"failed, with a reason": {Folder: folder, Source: filepath.Join(folder, "ünïcødé 😀.csv"),
			Dest: filepath.Join(folder, "failed", "ünïcødé 😀.csv"), ListID: "list", Result: Failed,
			Reason: "The file is empty, so it was not uploaded.", Attempts: 3},
		"no destination, no digest":      {Folder: folder, Source: filepath.Join(folder, "gone.csv"), ListID: "L", Result: Failed, Reason: "removed"},
		"the upload command (no folder)": {Source: "contacts.csv", Dest: "contacts.csv", ListID: "L", Result: Done, MD5: "ffffffffffffffffffffffffffffffff"},
		"ids that are not canonical": {Folder: folder, Source: filepath.Join(folder, "x.csv"),
			ListID: "6C0C0A3A-2B7E-4A57-9A61-000000000001", MD5: "0123456789ABCDEF0123456789ABCDEF",
			UploadID: "0f6e1b9a9c1d4c398f7e2d4f1c9b7a10", Result: Done, Size: -1},
		"source outside the folder": {Folder: folder, Source: filepath.Join(string(filepath.Separator)+"elsewhere", "x.csv"),
			Dest: filepath.Join(string(filepath.Separator)+"elsewhere", "done", "x.csv"), ListID: "L", Result: Done},
		"split, every part in": {Folder: folder, Source: filepath.Join(folder, "big.csv"), Dest: filepath.Join(folder, "done", "big.csv"),
			ListID: "L", Size: 60000, MD5: "0123456789abcdef0123456789abcdef", Result: Done, UploadID: "0f6e1b9a-9c1d-4c39-8f7e-2d4f1c9b7a12",
			Outcome: "INCOMPLETE", Parts: 3, PartsIn: []PartUpload{
				{UploadID: "0f6e1b9a-9c1d-4c39-8f7e-2d4f1c9b7a10", First: 2, Last: 301, Outcome: "ACCEPTED"},
				{UploadID: "0f6e1b9a-9c1d-4c39-8f7e-2d4f1c9b7a11", First: 302, Last: 600, Outcome: "INCOMPLETE"},
				{UploadID: "0f6e1b9a-9c1d-4c39-8f7e-2d4f1c9b7a12", First: 601, Last: 700}}},
		"split, failed part-way": {Folder: folder, Source: filepath.Join(folder, "big.csv"), ListID: "L", Result: Failed, Reason: "part 2 refused",
			Parts: 40, PartsIn: []PartUpload{{UploadID: "U1", First: 2, Last: 301, Outcome: "ACCEPTED"}}, Remaining: filepath.Join(folder, "failed", "big.remaining.csv")},
		"destination a level down": {Folder: folder, Source: filepath.Join(folder, "x.csv"),
			Dest: filepath.Join(folder, "failed", "2026", "x.csv"), ListID: "L", Result: Failed},
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			e.At = at
			k := historyKey(at, 7)
			got, err := decodeEntry(k, encodeEntry(e))
			if err != nil {
				t.Fatal(err)
			}
			e.Key = k
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, e)
			}
		})
	}
}

// The reason for the binary form: a typical entry is a fraction of its
// JSON.
func TestTypicalEntryIsSmall(t *testing.T) {
	t.Parallel()
	folder := filepath.FromSlash("/srv/listdrop/drop01")
	e := Entry{At: time.Now(), Folder: folder, Source: filepath.Join(folder, "contacts-0000001.csv"), Dest: filepath.Join(folder, "done", "contacts-0000001.csv"),
		ListID: "6c0c0a3a-2b7e-4a57-9a61-000000000001", Size: 20000, MD5: "0123456789abcdef0123456789abcdef", Result: Done,
		UploadID: "0f6e1b9a-9c1d-4c39-8f7e-2d4f1c9b7a10", Attempts: 1, Outcome: "ACCEPTED"}
	js, _ := json.Marshal(e)
	bin := encodeEntry(e)
	if len(bin) > 120 {
		t.Fatalf("entry takes %d bytes (JSON: %d); want at most 120", len(bin), len(js))
	}
	t.Logf("entry: %d bytes, JSON %d", len(bin), len(js))
}

func TestDamagedEntryIsAnError(t *testing.T) {
	t.Parallel()
	e := Entry{Folder: "/d", Source: "/d/a.csv", ListID: "L", MD5: "0123456789abcdef0123456789abcdef", Result: Done, Reason: "x"}
	good := encodeEntry(e)
	k := historyKey(time.Now(), 1)
	for n := range len(good) {
		if _, err := decodeEntry(k, good[:n]); err == nil {
			t.Fatalf("an entry cut to %d of %d bytes was read", n, len(good))
		}
	}
	if _, err := decodeEntry(k, append(bytes.Clone(good), 0)); err == nil {
		t.Fatal("trailing bytes were ignored")
	}
	if _, err := decodeEntry(k, []byte{9, 0}); err == nil {
		t.Fatal("an unknown format was read")
	}
}

// Whatever bytes are stored, reading them never panics, and what reads
// writes back to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(Entry{Folder: "/d", Source: "/d/a.csv", Dest: "/d/done/a.csv", ListID: "6c0c0a3a-2b7e-4a57-9a61-000000000001", MD5: "0123456789abcdef0123456789abcdef", Result: Done}))
	f.Add([]byte(`{"at":"2026-01-02T03:04:05Z","folder":"/d","source":"/d/a.csv","result":"done"}`))
	f.Add([]byte{entryFormat, tagString, 200})
	k := historyKey(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), 1)
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeEntry(k, v)
		if err != nil || (len(v) > 0 && v[0] == '{') {
			return
		}
		again, err := decodeEntry(k, encodeEntry(e))
		if err != nil {
			t.Fatalf("re-encoded entry does not read: %v", err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("re-encoded entry reads as\n%+v\nnot\n%+v", again, e)
		}
	})
}
