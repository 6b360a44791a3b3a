//go:build !windows

package fsutil

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// linkThenUnlink gives dst a second name for src's file, which fails when
// dst is taken, then removes src. A crash in between leaves the file with
// both names; the caller's state says which one counts. File systems
// without hard links (most FUSE clients of SMB shares) fall back to
// checkThenRename.
func linkThenUnlink(src, dst string) (bool, error) {
	err := unix.Link(src, dst)
	switch {
	case err == nil:
		return true, os.Remove(src)
	case errors.Is(err, unix.EEXIST):
		return true, existErr(src, dst, "link")
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP),
		errors.Is(err, unix.EMLINK), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIO):
		// rclone mount answers EIO to link. Checking then renaming is still
		// safe where the disk itself is failing: the rename fails too.
		return checkThenRename(src, dst)
	}
	return true, &os.LinkError{Op: "link", Old: src, New: dst, Err: err}
}

// crossDevice reports whether a rename failed because src and dst are on
// different volumes.
func crossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }
