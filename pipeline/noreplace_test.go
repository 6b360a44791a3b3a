package pipeline

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A failed file's note is written with no-replace too: a note of another
// file under the same name is never replaced, and the file follows its
// own note to the next free name.
func TestFailToFreeNeverReplacesANote(t *testing.T) {
	t.Parallel()
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
