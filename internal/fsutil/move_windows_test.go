package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Windows compares names ignoring case: a name taken in another spelling
// is taken, and MoveFileEx without MOVEFILE_REPLACE_EXISTING says so.
func TestMoveNoReplaceRefusesANameTakenInAnotherCase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "new.csv")
	os.WriteFile(src, []byte("new"), 0o644)
	taken := filepath.Join(dir, "Srv Case.csv")
	os.WriteFile(taken, []byte("old"), 0o644)
	if _, err := MoveNoReplace(src, filepath.Join(dir, "srv case.csv")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v, want an error matching fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(taken); string(got) != "old" {
		t.Fatalf("overwritten: %q", got)
	}
	a, err := Identify(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Identify(dir + `\`)
	if err != nil || a != b {
		t.Fatalf("the same folder has two identities: %v %v (%v)", a, b, err)
	}
	other, err := Identify(src)
	if err != nil || other == a {
		t.Fatalf("a file has its folder's identity: %v (%v)", other, err)
	}
}
