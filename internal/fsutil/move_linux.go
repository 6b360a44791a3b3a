package fsutil

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func moveNoReplace(src, dst string) (bool, error) {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EEXIST):
		return true, existErr(src, dst, "renameat2")
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		// The file system has no RENAME_NOREPLACE (older NFS, many FUSE
		// file systems).
		return linkThenUnlink(src, dst)
	}
	return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
}
