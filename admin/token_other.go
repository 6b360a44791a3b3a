//go:build !windows

package admin

import "os"

// createPrivate creates a new file that only its owner can read (and
// root, and so the administrators who run the commands with sudo).
func createPrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	// The umask can only take bits away; a mode set by a default ACL could
	// add some: set it again on the handle.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}
