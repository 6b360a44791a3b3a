package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A command started again after a refused start does what the first one
// was set to do: same program, arguments, environment, folder and output.
func TestCopyCmdKeepsWhatTheCommandWasSetToDo(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH")
	}
	dir := t.TempDir()
	var out strings.Builder
	cmd := exec.Command(sh, "-c", `printf '%s %s' "$WORD" "$(pwd)"`)
	cmd.Env = append(os.Environ(), "WORD=again")
	cmd.Dir = dir
	cmd.Stdout = &out
	if _, err := Run(t, copyCmd(cmd)); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "again "+dir; got != want {
		t.Errorf("the copy printed %q, want %q", got, want)
	}
}
