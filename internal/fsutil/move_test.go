package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestMoveNoReplace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	os.WriteFile(src, []byte("new"), 0o644)
	os.WriteFile(dst, []byte("old"), 0o644)
	if _, err := MoveNoReplace(src, dst); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("moving onto a taken name: got %v, want an error matching fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "old" {
		t.Fatalf("the taken name was overwritten: %q", got)
	}
	if got, _ := os.ReadFile(src); string(got) != "new" {
		t.Fatalf("the source was lost: %q", got)
	}
	free := filepath.Join(dir, "c.csv")
	if _, err := MoveNoReplace(src, free); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(free); string(got) != "new" {
		t.Fatalf("moved content: %q", got)
	}
	if _, err := os.Lstat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the source is still there: %v", err)
	}
}

// The last resort, for file systems without renameat2 or links, counts a
// name taken in another case as taken: the server behind a FUSE client may
// compare names case-insensitively while the client's view does not.
func TestCheckThenRenameIgnoresCase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "new.csv")
	os.WriteFile(src, []byte("new"), 0o644)
	os.WriteFile(filepath.Join(dir, "Srv Case.csv"), []byte("old"), 0o644)
	atomic, err := checkThenRename(src, filepath.Join(dir, "srv case.csv"))
	if !errors.Is(err, fs.ErrExist) || atomic {
		t.Fatalf("got atomic=%v err=%v, want a non-atomic fs.ErrExist", atomic, err)
	}
	if _, err := checkThenRename(src, filepath.Join(dir, "other.csv")); err != nil {
		t.Fatal(err)
	}
}
