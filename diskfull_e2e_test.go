//go:build linux

package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// Case 6: with the disk that holds done/ full, the committed file is held
// and /healthz says so, with the system's reason; once there is room, the
// file is moved and health is ok. done/ is on a small tmpfs, filled up, so
// the test needs root (to mount it).
func TestE2EHealthReportsADiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to mount a small tmpfs")
	}
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	full := filepath.Join(e.dir, "full")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", full).Run() })
	done := filepath.Join(full, "done")
	if err := os.Mkdir(done, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.WriteString("    done: full/done\n"); err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	// Fill the disk to its last block.
	filler := filepath.Join(full, "filler")
	fw, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := fw.Write(bytes.Repeat([]byte{'x'}, 4096)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fw.Close()

	e.start()
	e.drop(0, "big.csv", rows("disk-full"))
	var problems []string
	e.eventually("/healthz to report the held file", func() bool {
		code, p := e.healthz()
		problems = p
		return code == http.StatusServiceUnavailable
	})
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "file big.csv in folder "+e.folders[0]+" cannot be moved out of the claim folder: ") ||
		!strings.Contains(problems[0], "no space left on device") {
		t.Errorf("problems: %q", problems)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.eventually("big.csv in done/", func() bool { return exists(filepath.Join(done, "big.csv")) })
	e.eventually("/healthz ok", func() bool { code, _ := e.healthz(); return code == http.StatusOK })
	if n := len(e.fake.Commits()); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
}
