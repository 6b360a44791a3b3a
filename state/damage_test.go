package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleState writes a state file with a few hundred finished files and a
// held one, closes it and returns its bytes.
func sampleState(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range 300 {
		r := Record{Key: fmt.Sprintf("/drop/.listdrop/x/f%03d.csv", i), Folder: "/drop", Source: fmt.Sprintf("/drop/f%03d.csv", i),
			ListID: "L1", Size: 100, MD5: fmt.Sprintf("%032x", i), Phase: Committed, UploadID: fmt.Sprintf("%08d-0000-0000-0000-000000000000", i),
			Claimed: at, Committed: at}
		if err := s.Commit(r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(r.Key, Entry{At: at.Add(time.Duration(i) * time.Second), Folder: r.Folder, Source: r.Source,
			ListID: r.ListID, Size: r.Size, MD5: r.MD5, Result: Done, UploadID: r.UploadID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(Record{Key: "/drop/.listdrop/x/held.csv", Folder: "/drop", Source: "/drop/held.csv", ListID: "L1", Phase: Patching, UploadID: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

const pageSize = 4096 // bbolt's page size on the machines listdrop runs on

// use exercises a store the way the service and the commands do.
func use(s *Store) error {
	if _, err := s.Active(); err != nil {
		return err
	}
	if _, err := s.History(time.Time{}); err != nil {
		return err
	}
	if _, _, err := s.LookupCommit("L1", fmt.Sprintf("%032x", 7)); err != nil {
		return err
	}
	return s.Put(Record{Key: "/drop/.listdrop/x/new.csv", Folder: "/drop", Source: "/drop/new.csv", ListID: "L1", Phase: Hashed})
}

// Finding: a damaged state file panicked with a Go stack trace, or started
// and panicked at its first write, at every restart; a truncated one said
// "file size too small" with no advice. Each kind of damage the audit
// tried is now a sentence that says what to do, at open.
func TestDamagedStateIsFoundAtOpenAndSaysWhatToDo(t *testing.T) {
	t.Parallel()
	good := sampleState(t)
	if len(good) < 8*pageSize {
		t.Fatalf("the sample is %d bytes: too small to damage its data pages", len(good))
	}
	damages := map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:5000] },
		"both meta pages zeroed": func(b []byte) []byte {
			clear(b[:2*pageSize])
			return b
		},
		"page headers overwritten": func(b []byte) []byte {
			for off := 2 * pageSize; off < len(b); off += pageSize {
				copy(b[off:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xee, 0xee, 0x77, 0x77})
			}
			return b
		},
		"a branch page's element pointing outside the file": func(b []byte) []byte {
			for off := 2 * pageSize; off < len(b); off += pageSize {
				if b[off+8] == 0x01 { // a branch page: its first element's page id
					copy(b[off+16+8:], []byte{0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0})
				}
			}
			return b
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			for i, open := range []func(string, time.Duration) (*Store, error){Open, OpenReadOnly} {
				// A copy each, in a folder removed as far as it can be: a
				// process that found damage exits, and when bbolt panicked
				// while opening the file, its handle and lock stay with the
				// process (Windows then refuses to delete the file).
				dir, err := os.MkdirTemp("", "damaged")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				path := filepath.Join(dir, fmt.Sprintf("state%d.db", i))
				if err := os.WriteFile(path, damage(append([]byte(nil), good...)), 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := open(path, time.Second)
				if err == nil {
					err = use(s)
					s.Close()
				}
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("the damage was not reported as damage: %v", err)
				}
				if msg := err.Error(); !strings.Contains(msg, "is damaged (") || !strings.Contains(msg, "move the file aside") ||
					!strings.Contains(msg, "duplicate check forgets") {
					t.Fatalf("the sentence does not say what to do: %s", msg)
				}
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("the damaged file must never be deleted: %v", err)
				}
			}
		})
	}
}

// Random flips in data pages: whatever bbolt's check lets through must
// not panic later, and what it reports is damage.
func TestRandomFlipsNeverPanic(t *testing.T) {
	t.Parallel()
	good := sampleState(t)
	rng := rand.New(rand.NewPCG(1, 2))
	damaged := 0
	for i := range 200 {
		b := append([]byte(nil), good...)
		for range 1 + rng.IntN(8) {
			off := 2*pageSize + rng.IntN(len(b)-2*pageSize)
			b[off] ^= byte(1 + rng.IntN(255))
		}
		if openAndUse(t, b, i) {
			damaged++
		}
	}
	t.Logf("%d of 200 damaged files were reported as damaged; the others read on", damaged)
}

// openAndUse opens a copy of b and uses it; it fails the test on a panic or
// an error that is neither damage nor a value listdrop could not decode,
// and reports whether damage was found.
func openAndUse(t testing.TB, b []byte, i int) bool {
	t.Helper()
	// Not t.TempDir: a file bbolt panicked opening keeps its handle, and
	// Windows refuses to delete it (see above).
	f, err := os.CreateTemp("", "damaged-*.db")
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	f.Close()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	s, err := Open(path, time.Second)
	if err == nil {
		err = use(s)
		s.Close()
	}
	return errors.Is(err, ErrDamaged)
}

// Damage that appears while the service runs (a disk going bad under an
// open file) is found by the next transaction: it becomes a DamagedError,
// and Damaged() tells the service to stop instead of retrying.
func TestDamageFoundWhileOpenStopsTheStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, sampleState(t), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Damaged():
		t.Fatal("a sound file reported damage")
	default:
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	for off := int64(2 * pageSize); off < fi.Size(); off += pageSize {
		f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xee, 0xee, 0x77, 0x77, 0xff, 0xff}, off)
	}
	f.Close()
	err = use(s)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("use after the damage: %v", err)
	}
	select {
	case <-s.Damaged():
	default:
		t.Fatal("Damaged() was not closed")
	}
	if !errors.Is(s.DamageErr(), ErrDamaged) {
		t.Fatalf("DamageErr: %v", s.DamageErr())
	}
}

func FuzzOpenDamaged(f *testing.F) {
	good := sampleState(f)
	f.Add(uint32(0), []byte{0})
	f.Add(uint32(2*pageSize+8), []byte{0xff, 0xff})
	f.Add(uint32(3*pageSize+16), []byte{0xff, 0xff, 0xff, 0x0f})
	f.Add(uint32(len(good)-100), []byte("garbage"))
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		b := append([]byte(nil), good...)
		copy(b[int(off)%len(b):], patch)
		openAndUse(t, b, 0)
	})
}
