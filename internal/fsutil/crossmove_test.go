package fsutil

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCrossVolumeMoveCopiesThenRemoves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a.csv"), filepath.Join(dir, "done", "a.csv")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	body := []byte("x,y\n1,2\n")
	os.WriteFile(src, body, 0o644)
	// A second volume, played by a rename that refuses dst as another
	// volume's.
	rename := func(o, n string) (bool, error) {
		if n == dst {
			return true, &os.LinkError{Op: "rename", Old: o, New: n, Err: errCrossDevice}
		}
		return MoveNoReplace(o, n)
	}
	if _, err := move(src, dst, rename); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("copy: %q, %v", got, err)
	}
	if exists(src) {
		t.Fatal("the source was kept after the copy")
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 1 {
		t.Fatalf("left-overs in the destination: %v", ents)
	}
	// The destination is never overwritten.
	os.WriteFile(src, []byte("new"), 0o644)
	if _, err := move(src, dst, rename); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("moving onto a taken name: got %v, want an error matching fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, body) {
		t.Fatalf("the destination was overwritten: %q", got)
	}
}

// Issue 17, finding 1: on a case-insensitive share "srv case.csv" took the
// place of "srv Case.csv" in done/ because the name looked free in a
// case-sensitive view. The move itself must refuse a taken name, and the
// next free name be used. A file system that refuses the name although
// this process sees it free is played by the rename given.
func TestMoveToFreeTakesNextNameWhenTheRenameRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	os.MkdirAll(done, 0o755)
	os.WriteFile(filepath.Join(done, "srv Case.csv"), []byte("first"), 0o644)
	src := filepath.Join(dir, "srv case.csv")
	os.WriteFile(src, []byte("second"), 0o644)
	rename := func(o, n string) (bool, error) {
		if strings.EqualFold(filepath.Base(n), "srv case.csv") {
			return true, &os.LinkError{Op: "rename", Old: o, New: n, Err: fs.ErrExist}
		}
		return MoveNoReplace(o, n)
	}
	dst, _, err := moveToFree(src, done, "srv case.csv", rename)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dst) != "srv case-1.csv" {
		t.Fatalf("moved to %s, want srv case-1.csv", dst)
	}
	if got, _ := os.ReadFile(filepath.Join(done, "srv Case.csv")); string(got) != "first" {
		t.Fatalf("the first file was overwritten: %q", got)
	}
	if got, _ := os.ReadFile(dst); string(got) != "second" {
		t.Fatalf("moved content: %q", got)
	}
}

func TestFreeName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.csv"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "b-1.csv.error.txt"), nil, 0o644)
	long := strings.Repeat("é", 200) + ".csv" // 404 bytes
	tests := []struct {
		name  string
		taken map[string]bool
		extra []string
		want  string
	}{
		{"free.csv", nil, nil, "free.csv"},
		{"a.csv", nil, nil, "a-1.csv"},
		{"b.csv", map[string]bool{filepath.Join(dir, "b.csv"): true}, []string{".error.txt"}, "b-2.csv"},
		{long, nil, []string{".error.txt"}, strings.Repeat("é", 120) + ".csv"},
	}
	for _, tt := range tests {
		got := filepath.Base(FreeName(dir, tt.name, tt.taken, tt.extra...))
		if got != tt.want {
			t.Errorf("FreeName(%.20q) = %q, want %q", tt.name, got, tt.want)
		}
		if len(got)+len(".error.txt") > maxNameBytes {
			t.Errorf("FreeName(%.20q) = %d bytes with its note's suffix", tt.name, len(got)+len(".error.txt"))
		}
	}
}

func TestWriteFileNewNeverReplaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "note.txt")
	if _, err := WriteFileNew(p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFileNew(p, []byte("second")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writing onto a taken name: got %v, want an error matching fs.ErrExist", err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "marker"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "first" {
		t.Fatalf("replaced: %q", got)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if IsTempName(e.Name()) {
			t.Fatalf("a temporary file was left: %s", e.Name())
		}
	}
	if len(ents) != 2 {
		t.Fatalf("files: %v", ents)
	}
}
