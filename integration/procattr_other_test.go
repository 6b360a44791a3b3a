//go:build !linux

package integration

import "os/exec"

// dieWithTests has no portable equivalent: elsewhere the deferred stops
// have to do.
func dieWithTests(cmd *exec.Cmd) {}
