package watcher

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenForWritingSeesAnotherWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("a,b\n"); err != nil {
		t.Fatal(err)
	}
	if !openForWriting(path) {
		t.Error("a file open for writing is not seen as such")
	}
	f.Close()
	if openForWriting(path) {
		t.Error("a closed file is seen as open for writing")
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if openForWriting(path) {
		t.Error("a file open for reading only is seen as open for writing")
	}
}
