//go:build !windows

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// healthz is the admin endpoint's health answer.
func (e *e2e) healthz() (code int, problems []string) {
	e.t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + e.admin + "/healthz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body struct {
		Problems []string `json:"problems"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Problems
}

// Case 6: with done/ unusable, the committed file is held and /healthz says
// which file and why; once done/ works again, health is ok and the file is
// moved.
func TestE2EHealthReportsAFileThatCannotBeMoved(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	// A file where done/ should be: no move can succeed, even as root.
	done := filepath.Join(e.folders[0], "done")
	if err := os.MkdirAll(e.folders[0], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.drop(0, "held.csv", rows("held"))
	var problems []string
	e.eventually("/healthz to report the held file", func() bool {
		code, p := e.healthz()
		problems = p
		return code == http.StatusServiceUnavailable && len(p) > 0
	})
	if len(problems) != 1 || !strings.Contains(problems[0], "file held.csv in folder "+e.folders[0]+" cannot be moved out of the claim folder: ") ||
		!strings.Contains(problems[0], "not a directory") {
		t.Errorf("problems: %q", problems)
	}
	out, _, _ := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "status", "--config", e.config)
	if !strings.Contains(out, "Health: unhealthy") || !strings.Contains(out, "held.csv") {
		t.Errorf("status does not say why:\n%s", out)
	}
	if err := os.Remove(done); err != nil {
		t.Fatal(err)
	}
	e.eventually("held.csv in done/", func() bool { return exists(filepath.Join(done, "held.csv")) })
	e.eventually("/healthz ok", func() bool { code, _ := e.healthz(); return code == http.StatusOK })
}

// Case 7: a symbolic link, a FIFO and a folder named *.csv are each logged
// once, as a warning with the reason, and shown in the status; rescans do
// not repeat it.
func TestE2ELinksFIFOsAndFoldersNamedCSVAreReported(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "log:\n  level: debug\n")
	target := filepath.Join(t.TempDir(), "target.csv")
	if err := os.WriteFile(target, rows("linked"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := e.start()
	drop := e.folders[0]
	if err := os.Symlink(target, filepath.Join(drop, "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(drop, "pipe.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(drop, "folder.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"link.csv":   "it is a link; listdrop does not follow links: copy the file into the folder instead",
		"pipe.csv":   "it is a named pipe (FIFO), not a file; listdrop reads only regular files",
		"folder.csv": "it is a folder, not a file; listdrop does not look into subfolders",
	}
	e.eventually("the three in the status", func() bool {
		st := e.status()
		return len(st.Folders) == 1 && len(st.Folders[0].Notes) == 3
	})
	for _, n := range e.status().Folders[0].Notes {
		if want[n.File] != n.Reason {
			t.Errorf("status says %s: %q, want %q", n.File, n.Reason, want[n.File])
		}
	}
	// Two more full rescans: still one warning each.
	scans := strings.Count(d.out.String(), `msg="scanning folders"`)
	e.eventually("two more rescans", func() bool { return strings.Count(d.out.String(), `msg="scanning folders"`) >= scans+2 })
	out := d.out.String()
	for name, why := range want {
		line := `level=WARN msg="file left alone: ` + why + `"`
		if n := strings.Count(out, line); n != 1 {
			t.Errorf("%s: warned %d times, want once:\n%s", name, n, out)
		}
	}
	cli, _, _ := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "status", "--config", e.config)
	for name, why := range want {
		if !strings.Contains(cli, name+" in "+drop+": "+why) {
			t.Errorf("status does not show %s:\n%s", name, cli)
		}
	}
	// Gone: no longer shown.
	os.Remove(filepath.Join(drop, "link.csv"))
	e.eventually("link.csv gone from the status", func() bool { return len(e.status().Folders[0].Notes) == 2 })
	if n := len(e.fake.Commits()); n != 0 {
		t.Errorf("%d commits, want none", n)
	}
}
