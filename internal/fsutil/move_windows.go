package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// moveNoReplace is MoveFileEx without MOVEFILE_REPLACE_EXISTING: the file
// system itself refuses a taken name, in any spelling it considers equal.
func moveNoReplace(src, dst string) (bool, error) {
	from, err := windows.UTF16PtrFromString(longPath(src))
	if err != nil {
		return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	to, err := windows.UTF16PtrFromString(longPath(dst))
	if err != nil {
		return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	if err := windows.MoveFileEx(from, to, 0); err != nil {
		if err == windows.ERROR_ALREADY_EXISTS || err == windows.ERROR_FILE_EXISTS {
			return true, existErr(src, dst, "MoveFileEx")
		}
		return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return true, nil
}

// longPath gives an absolute path past MAX_PATH the \\?\ prefix that
// lets MoveFileEx take it on machines without LongPathsEnabled (os does
// the same for its own calls).
func longPath(p string) string {
	if len(p) < 248 || !filepath.IsAbs(p) || strings.HasPrefix(p, `\\?\`) {
		return p
	}
	p = filepath.Clean(p)
	if strings.HasPrefix(p, `\\`) {
		return `\\?\UNC\` + p[2:]
	}
	return `\\?\` + p
}

// crossDevice reports whether a rename failed because src and dst are on
// different volumes.
func crossDevice(err error) bool { return errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) }
