//go:build !windows

package config

import (
	"io/fs"
	"os"
)

// readableByOthers reports whether the file's group or everyone may read
// it, with its permission bits.
func readableByOthers(path string) (fs.FileMode, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	perm := info.Mode().Perm()
	return perm, perm&0o044 != 0
}
