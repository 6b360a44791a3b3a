//go:build !windows

package fsutil

import (
	"fmt"
	"os"
	"syscall"
)

func identify(path string) (FileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, fmt.Errorf("identify %s: no device and inode numbers", path)
	}
	return FileID{Volume: uint64(st.Dev), Index: uint64(st.Ino)}, nil
}
