package integration

import (
	"os/exec"
	"syscall"
)

// dieWithTests makes the kernel end cmd when the test process ends, even
// by a panic or a timeout that skips the deferred stops.
func dieWithTests(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
