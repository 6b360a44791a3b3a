package fsutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestReadDroppedReadsARegularFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "a.csv")
	want := []byte("name\nAda\n")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, info, err := ReadDropped(p, 100)
	if err != nil || !bytes.Equal(got, want) || info.Size != int64(len(want)) || info.Grew {
		t.Fatalf("ReadDropped = %q, %+v, %v", got, info, err)
	}
}

func TestReadDroppedRefusesWhatIsNotOneRegularFile(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need a privilege on Windows; the reparse-point check is exercised by the Windows suite's junction test")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.csv")
	if err := os.Link(secret, hard); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.csv")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want error
	}{
		{link, ErrLink},
		{hard, ErrHardLinked},
		{secret, ErrHardLinked}, // the original is linked too
		{sub, ErrNotRegular},
	} {
		data, _, err := ReadDropped(c.path, 100)
		if !errors.Is(err, c.want) || data != nil {
			t.Errorf("ReadDropped(%s) = %q, %v; want %v and no data", filepath.Base(c.path), data, err, c.want)
		}
		if _, err := Check(c.path); !errors.Is(err, c.want) {
			t.Errorf("Check(%s) = %v; want %v", filepath.Base(c.path), err, c.want)
		}
	}
}

func TestReadDroppedStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 101), 0o644); err != nil {
		t.Fatal(err)
	}
	data, info, err := ReadDropped(p, 100)
	if !errors.Is(err, ErrTooBig) || data != nil || info.Size != 101 || info.Grew {
		t.Fatalf("ReadDropped of 101 bytes with a limit of 100 = %d bytes, %+v, %v", len(data), info, err)
	}
}

// A file whose handle reports fewer bytes than it holds is a file that grew
// after it was checked: /proc's files report size 0 and hold more. The
// read stops one byte past the limit instead of reading on.
func TestReadDroppedStopsAFileThatGrowsWhileRead(t *testing.T) {
	t.Parallel()
	const p = "/proc/self/status"
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s here to stand for a growing file: %v", p, err)
	}
	data, info, err := ReadDropped(p, 10)
	if !errors.Is(err, ErrTooBig) || !info.Grew || data != nil {
		t.Fatalf("ReadDropped = %d bytes, %+v, %v; want ErrTooBig with Grew", len(data), info, err)
	}
}
