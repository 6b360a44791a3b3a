//go:build windows

package config

import "io/fs"

// readableByOthers is never true on Windows: mode bits mean nothing there,
// and NTFS ACLs decide who reads a file (docs/security.md says how to restrict
// them to Administrators and the service's account).
func readableByOthers(path string) (fs.FileMode, bool) { return 0, false }
