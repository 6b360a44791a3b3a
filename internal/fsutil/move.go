package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MoveNoReplace renames src to dst unless something is already at dst, in
// whatever spelling the file system holding dst considers the same name
// (a case-insensitive share, Windows, macOS). When dst is taken the error
// matches fs.ErrExist and src is left where it was.
//
// The check and the rename are one step where the platform allows it:
// renameat2 with RENAME_NOREPLACE on Linux, a hard link then an unlink
// elsewhere on Unix or where the file system lacks renameat2, MoveFileEx
// without MOVEFILE_REPLACE_EXISTING on Windows. Some network and FUSE file
// systems have neither; there it checks, listing dst's folder to compare
// names case-insensitively, then renames, and atomic is false: safe
// against every spelling the listing shows, not against another process
// taking the name between the check and the rename.
func MoveNoReplace(src, dst string) (atomic bool, err error) {
	return moveNoReplace(src, dst)
}

// existErr is the error for a taken destination.
func existErr(src, dst string, how string) error {
	return &os.LinkError{Op: "move (" + how + ")", Old: src, New: dst, Err: fs.ErrExist}
}

// checkThenRename is the last resort: the destination's folder is listed
// and any name equal to dst's ignoring case counts as taken, because the
// view this process has (a FUSE client's cache) may be case-sensitive
// while the server behind it is not.
func checkThenRename(src, dst string) (atomic bool, err error) {
	if _, err := os.Lstat(dst); err == nil {
		return false, existErr(src, dst, "check")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("check %s: %w", dst, err)
	}
	ents, err := os.ReadDir(filepath.Dir(dst))
	if err != nil {
		return false, fmt.Errorf("list %s: %w", filepath.Dir(dst), err)
	}
	base := filepath.Base(dst)
	for _, e := range ents {
		if strings.EqualFold(e.Name(), base) {
			return false, existErr(src, dst, "check")
		}
	}
	return false, os.Rename(src, dst)
}
