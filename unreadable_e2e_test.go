//go:build linux

package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// nobody is the account the daemon runs as in this test.
const nobody = 65534

// Case 6: a file the service cannot read (dropped by another account,
// readable by it alone) makes /healthz unhealthy and shows in status with
// the reason, instead of waiting without a word; once it can be read, it is
// imported and health is ok again. The daemon runs as nobody, so the test
// needs root to start it so.
func TestE2EFileTheServiceCannotReadIsReported(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the daemon as another account")
	}
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	// nobody must reach the binary, the configuration and the folders.
	for _, d := range []string{filepath.Dir(binary), filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{e.dir, e.config} {
		if err := os.Chown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	e.sys = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	e.start()
	drop := e.folders[0]

	// Written by root, readable by root alone, moved in whole.
	src := filepath.Join(t.TempDir(), "locked.csv")
	if err := os.WriteFile(src, rows("locked"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, filepath.Join(drop, "locked.csv")); err != nil {
		t.Fatal(err)
	}
	const reason = "cannot be read: permission denied (the account listdrop runs as may not read it)"
	var problems []string
	e.eventually("/healthz to report the unreadable file", func() bool {
		code, p := e.healthz()
		problems = p
		return code == http.StatusServiceUnavailable
	})
	if want := "file locked.csv in folder " + drop + " " + reason; len(problems) != 1 || problems[0] != want {
		t.Errorf("problems %q, want %q", problems, want)
	}
	out, _, _ := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "status", "--config", e.config)
	if !strings.Contains(out, "locked.csv in "+drop+": "+reason) {
		t.Errorf("status does not say why locked.csv waits:\n%s", out)
	}
	// Readable now (the file may be in the claim folder at this moment:
	// it is given back after each failed read).
	e.eventually("the file to be made readable", func() bool {
		return os.Chmod(filepath.Join(drop, "locked.csv"), 0o644) == nil
	})
	e.eventually("locked.csv in done/", func() bool { return exists(filepath.Join(drop, "done", "locked.csv")) })
	e.eventually("/healthz ok", func() bool { code, _ := e.healthz(); return code == http.StatusOK })
}
