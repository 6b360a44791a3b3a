package pipeline

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 17, finding 1: on a case-insensitive share "srv case.csv" took the
// place of "srv Case.csv" in done/ because the name looked free in a
// case-sensitive view. The move itself must refuse a taken name, and the
// next free name be used. A file system that refuses the name although
// this process sees it free is played by renameFile.
func TestMoveToFreeTakesNextNameWhenTheRenameRefuses(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	os.MkdirAll(done, 0o755)
	os.WriteFile(filepath.Join(done, "srv Case.csv"), []byte("first"), 0o644)
	src := filepath.Join(dir, "srv case.csv")
	os.WriteFile(src, []byte("second"), 0o644)
	renameFile = func(o, n string) error {
		if strings.EqualFold(filepath.Base(n), "srv case.csv") {
			return &os.LinkError{Op: "rename", Old: o, New: n, Err: fs.ErrExist}
		}
		return renameNoReplace(o, n)
	}
	t.Cleanup(func() { renameFile = renameNoReplace })
	f := &folder{log: slog.New(slog.DiscardHandler)}
	dst, err := f.moveToFree(src, done, "srv case.csv")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dst) != "srv case-1.csv" {
		t.Fatalf("moved to %s, want srv case-1.csv", dst)
	}
	if got, _ := os.ReadFile(filepath.Join(done, "srv Case.csv")); string(got) != "first" {
		t.Fatalf("the first file was overwritten: %q", got)
	}
}

// A failed file's note is written with no-replace too: a note of another
// file under the same name is never replaced, and the file follows its
// own note to the next free name.
func TestFailToFreeNeverReplacesANote(t *testing.T) {
	dir := t.TempDir()
	failed := filepath.Join(dir, "failed")
	os.MkdirAll(failed, 0o755)
	theirs := filepath.Join(failed, "x.csv"+sidecarSuffix)
	os.WriteFile(theirs, []byte("their note"), 0o644)
	src := filepath.Join(dir, "x.csv")
	os.WriteFile(src, []byte("a,b\n"), 0o644)
	f := &folder{log: slog.New(slog.DiscardHandler)}
	dst, err := f.failToFree(src, failed, "x.csv", []byte("my note"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(theirs); string(got) != "their note" {
		t.Fatalf("a note was replaced: %q", got)
	}
	if got, _ := os.ReadFile(dst + sidecarSuffix); string(got) != "my note" {
		t.Fatalf("note beside %s: %q", dst, got)
	}
	if err := writeFileNew(theirs, []byte("again")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("writeFileNew onto a taken name: %v", err)
	}
}
