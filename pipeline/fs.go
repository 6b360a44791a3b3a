package pipeline

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// claimDirName is the hidden folder, inside each drop folder, that holds the
// files listdrop has taken. Moving a file there is one atomic rename on the
// same volume, so a file is either waiting or taken, never both; and it
// keeps writers that reuse the name from touching a file being uploaded.
const claimDirName = ".listdrop"

// exists reports whether anything is at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// freeName returns a path in dir for name that nothing uses yet, adding
// "-1", "-2"… before the extension. Each of the extra suffixes (a sidecar's
// ".error.txt") must be free too.
func freeName(dir, name string, extra ...string) string {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; ; i++ {
		cand := name
		if i > 0 {
			cand = stem + "-" + strconv.Itoa(i) + ext
		}
		p := filepath.Join(dir, cand)
		free := !exists(p)
		for _, x := range extra {
			free = free && !exists(p+x)
		}
		if free {
			return p
		}
	}
}

// moveFile moves src to dst, which must not exist. Across volumes (done/ on
// another disk) it copies, syncs, then removes the source, so a crash leaves
// at worst a second copy, never no copy.
func moveFile(src, dst string) error {
	if exists(dst) {
		return fmt.Errorf("move %s: %s already exists", filepath.Base(src), dst)
	}
	err := os.Rename(src, dst)
	if err == nil || !crossDevice(err) {
		return err
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".listdrop-tmp")
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w", filepath.Base(src), filepath.Dir(dst), err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(src)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeFileAtomic writes data to path through a temporary file and a rename,
// so a reader never sees half a sidecar.
func writeFileAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".listdrop-tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
