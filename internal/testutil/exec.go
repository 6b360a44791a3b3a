package testutil

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// UnderWine reports whether the tests run under Wine (test/wine/run sets
// LISTDROP_UNDER_WINE=1), where a few things Windows does reliably are
// not.
func UnderWine() bool { return os.Getenv("LISTDROP_UNDER_WINE") == "1" }

// errInternal is Windows' ERROR_INTERNAL_ERROR, which Wine's CreateProcess
// returns now and then when many processes start at once.
const errInternal = syscall.Errno(1359)

// Start starts cmd and returns the command that runs, failing the test
// when it cannot be started. Under Wine, a start refused with
// ERROR_INTERNAL_ERROR is tried again, at most twice, on a copy of cmd (an
// exec.Cmd is not started twice): that refusal is Wine's, and a test that
// failed on it would say nothing about listdrop. Anywhere else, and for
// any other error, the first refusal fails the test.
func Start(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	for try := 1; ; try++ {
		err := cmd.Start()
		if err == nil {
			return cmd
		}
		if !UnderWine() || try == 3 || !(errors.Is(err, errInternal) || strings.Contains(err.Error(), "Internal error")) {
			t.Fatalf("start %s: %v", strings.Join(cmd.Args, " "), err)
		}
		t.Logf("Wine refused to start %s (%v); starting it again", cmd.Path, err)
		cmd = copyCmd(cmd)
	}
}

// Run runs cmd to its end, started as Start starts it, and returns the
// command that ran and its error.
func Run(t testing.TB, cmd *exec.Cmd) (*exec.Cmd, error) {
	t.Helper()
	cmd = Start(t, cmd)
	return cmd, cmd.Wait()
}

// copyCmd is a command that does what cmd was set to do, not started.
func copyCmd(cmd *exec.Cmd) *exec.Cmd {
	c := exec.Command(cmd.Path, cmd.Args[1:]...)
	c.Args = cmd.Args
	c.Env, c.Dir = cmd.Env, cmd.Dir
	c.Stdin, c.Stdout, c.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	c.ExtraFiles, c.SysProcAttr = cmd.ExtraFiles, cmd.SysProcAttr
	return c
}
