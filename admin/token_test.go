package admin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFile(t *testing.T) {
	t.Parallel()
	path := TokenPath(filepath.Join(t.TempDir(), "state.db"))
	if !strings.HasSuffix(path, "state.db.admin-token") {
		t.Fatalf("TokenPath = %s", path)
	}
	if _, err := ReadToken(path); !errors.Is(err, ErrNoToken) {
		t.Fatalf("ReadToken before any start: %v, want ErrNoToken", err)
	}
	first, err := WriteToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadToken(path); err != nil || got != first || len(first) != 64 {
		t.Fatalf("ReadToken = %q %v, want %q", got, err, first)
	}
	// A new one at every start, written over the last.
	second, err := WriteToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("two starts wrote the same token")
	}
	if got, _ := ReadToken(path); got != second {
		t.Fatalf("ReadToken = %q, want the second token", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("the folder holds %d files, want the token file alone", len(ents))
	}
	// A stopping daemon removes its own token only: not one a newer
	// daemon wrote meanwhile.
	if err := RemoveToken(path, first); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadToken(path); err != nil {
		t.Fatalf("RemoveToken removed another daemon's token: %v", err)
	}
	if err := RemoveToken(path, second); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadToken(path); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after RemoveToken: %v", err)
	}

	for _, damaged := range []string{"", "short\n", strings.Repeat("g", 64), strings.Repeat("a", 65), "\x1b[2J" + strings.Repeat("a", 60)} {
		if err := os.WriteFile(path, []byte(damaged), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadToken(path); err == nil || !strings.Contains(err.Error(), "damaged: restart listdrop") {
			t.Errorf("ReadToken of %q: %v", damaged, err)
		}
	}
}

func TestWriteTokenSaysWhatFailed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "state.db"+TokenSuffix)
	_, err := WriteToken(path)
	if err == nil || !strings.Contains(err.Error(), "write the admin token file "+path) {
		t.Fatalf("WriteToken into a missing folder: %v", err)
	}
}
