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
	"time"
	"unicode/utf8"

	"github.com/listdrop/listdrop/internal/fsutil"
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

// maxNameBytes is the longest file name most file systems accept.
const maxNameBytes = 255

// freeName returns a path in dir for name that nothing uses yet, adding
// "-1", "-2"… before the extension. Each of the extra suffixes (a sidecar's
// ".error.txt") must be free too. Names are shortened where needed so that
// the name with its longest suffix still fits in 255 bytes.
func freeName(dir, name string, extra ...string) string {
	return freeNameSkipping(dir, name, nil, extra...)
}

// freeNameSkipping is freeName that also passes over the paths in skip:
// names a no-replace move found taken though this process's view of the
// folder shows them free (another spelling of the same name).
func freeNameSkipping(dir, name string, skip map[string]bool, extra ...string) string {
	room := maxNameBytes
	for _, x := range extra {
		room = min(room, maxNameBytes-len(x))
	}
	ext := filepath.Ext(name)
	if len(ext) > 16 {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	for i := 0; ; i++ {
		suffix := ""
		if i > 0 {
			suffix = "-" + strconv.Itoa(i)
		}
		if i >= 1000 {
			// The folder is unreadable or absurdly full: a unique name now;
			// the move itself will report what is wrong.
			suffix = "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		}
		cand := name
		if suffix != "" || len(name) > room {
			cand = cutUTF8(stem, room-len(suffix)-len(ext)) + suffix + ext
		}
		p := filepath.Join(dir, cand)
		free := !skip[p] && !exists(p)
		for _, x := range extra {
			free = free && !exists(p+x)
		}
		if free || i >= 1000 {
			return p
		}
	}
}

// cutUTF8 returns the longest prefix of s of at most n bytes that ends
// between two characters.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// moveFile moves src to dst, which must not exist. Across volumes (done/ on
// another disk) it copies, syncs, then removes the source, so a crash leaves
// at worst a second copy, never no copy.
func moveFile(src, dst string) error {
	if exists(dst) {
		return fmt.Errorf("move %s: %s already exists: %w", filepath.Base(src), dst, fs.ErrExist)
	}
	err := renameFile(src, dst)
	if err == nil || !crossDevice(err) {
		return err
	}
	tmp := tempName(dst)
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w", filepath.Base(src), filepath.Dir(dst), err)
	}
	if _, err := fsutil.MoveNoReplace(tmp, dst); err != nil {
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

// tempName is a hidden, short temporary name beside path (a name built on
// path's own could pass the 255-byte limit).
func tempName(path string) string {
	return filepath.Join(filepath.Dir(path), ".listdrop-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".tmp")
}

// isTempName reports whether a file name is one tempName makes.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".listdrop-") && strings.HasSuffix(name, ".tmp")
}

// writeFileAtomic writes data to path through a temporary file and a rename,
// so a reader never sees half a sidecar.
func writeFileAtomic(path string, data []byte) error {
	tmp := tempName(path)
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
