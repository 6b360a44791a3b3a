//go:build !smbtest || !linux

package main

import "testing"

// The SMB tests need Samba, rclone and FUSE: test/smb/run sets them up and
// runs them with -tags smbtest.
func TestSMB(t *testing.T) {
	t.Skip("the SMB tests run with -tags smbtest on Linux, from test/smb/run")
}
