//go:build windows

package main

// End-to-end tests of the Windows binary: Windows paths in the
// configuration, %ProgramData% defaults, Windows ways of dropping files,
// TerminateProcess in the middle of a burst, a stop by CTRL_BREAK, and the
// demo's output. They run on Windows and, in CI, under Wine
// (test/wine/run), where the binary comes from LISTDROP_TEST_BINARY.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
)

// winHeldFile is a file created through CreateFile without
// FILE_SHARE_DELETE, as Excel and Explorer hold the files they write.
type winHeldFile struct {
	h      windows.Handle
	closed bool
}

func winCreateHeld(t *testing.T, path string, data []byte) *winHeldFile {
	t.Helper()
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatalf("CreateFile %s: %v", path, err)
	}
	f := &winHeldFile{h: h}
	t.Cleanup(func() {
		if !f.closed {
			windows.CloseHandle(f.h)
		}
	})
	f.write(t, data)
	return f
}

func (f *winHeldFile) write(t *testing.T, data []byte) {
	t.Helper()
	var n uint32
	if err := windows.WriteFile(f.h, data, &n, nil); err != nil || int(n) != len(data) {
		t.Fatalf("WriteFile: %d of %d bytes: %v", n, len(data), err)
	}
}

func (f *winHeldFile) close(t *testing.T) {
	t.Helper()
	f.closed = true
	if err := windows.CloseHandle(f.h); err != nil {
		t.Fatal(err)
	}
}

// winConfig rewrites e's configuration with absolute Windows paths: one
// drop folder whose name has a space, written with backslashes in single
// quotes, and one written with forward slashes whose done folder is
// elsewhere.
func winConfig(e *e2e) (archive string) {
	e.t.Helper()
	contacts := filepath.Join(e.dir, "Drop Folders", "Contacts")
	leads := filepath.Join(e.dir, "Drop Folders", "Leads")
	archive = filepath.Join(e.dir, "Archive", "Leads")
	cfg := fmt.Sprintf(`talkdesk:
  api_url: %s
  token_url: %s
  client_id: %s
  client_secret: ${E2E_SECRET}
  timeout: 5s
state_file: '%s'
settle: 100ms
rescan: 1s
workers: 4
admin:
  listen: ""
retry:
  max_backoff: 200ms
  give_up_after: 1h
folders:
  - path: '%s'
    record_list_id: "L1"
  - path: %s/
    record_list_id: "L2"
    done: '%s'
`, e.fake.URL(), e.fake.TokenURL(), e2eClientID, filepath.Join(e.dir, "State", "listdrop.db"),
		contacts, filepath.ToSlash(leads), archive)
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.folders = []string{contacts, leads}
	return archive
}

// TestWindowsKillMidBurstThenRestart is the core end-to-end flow on
// Windows: files dropped by rename and by Explorer-style writes, the
// daemon ended by TerminateProcess twice in the middle of the burst and
// started again; every file ends in its done folder, no content is
// committed twice, and a file held open by another program all along is
// only taken once released.
func TestWindowsKillMidBurstThenRestart(t *testing.T) {
	e := newE2E(t, faketalkdesk.Options{Latency: 5 * time.Millisecond}, []string{"L1", "L2"}, "")
	archive := winConfig(e)
	done := []string{filepath.Join(e.folders[0], "done"), archive}

	const n = 80
	want := map[string]bool{}
	d := e.start()
	heldBody := rows("held-by-excel")
	held := winCreateHeld(t, filepath.Join(e.folders[0], "Held by Excel.csv"), heldBody)
	for i := range n {
		body := rows(fmt.Sprintf("win%03d", i))
		sum := md5.Sum(body)
		want[hex.EncodeToString(sum[:])] = true
		name := fmt.Sprintf("Contacts %03d.csv", i)
		if i%4 == 3 {
			// Written in place, as Explorer copies: created, written in
			// two pieces, closed.
			f := winCreateHeld(t, filepath.Join(e.folders[i%2], name), body[:10])
			f.write(t, body[10:])
			f.close(t)
		} else {
			e.drop(i%2, name, body)
		}
	}
	for _, at := range []int{15, 45} {
		e.eventually(fmt.Sprintf("%d commits", at), func() bool { return len(e.fake.Commits()) >= at })
		if err := d.cmd.Process.Kill(); err != nil { // TerminateProcess: no clean-up at all
			t.Fatal(err)
		}
		<-d.exited
		t.Logf("killed after %d commits", len(e.fake.Commits()))
		d = e.start()
	}
	e.eventually("every file in a done folder", func() bool { return count(t, done[0])+count(t, done[1]) == n })

	heldSum := md5.Sum(heldBody)
	for _, c := range e.fake.Commits() {
		if c.Checksum == hex.EncodeToString(heldSum[:]) {
			t.Fatal("the file held open by another program was uploaded while it was held")
		}
	}
	if !exists(filepath.Join(e.folders[0], "Held by Excel.csv")) {
		t.Fatal("the held file left the drop folder while it was held")
	}
	held.close(t)
	want[hex.EncodeToString(heldSum[:])] = true
	e.eventually("the released file in done", func() bool { return exists(filepath.Join(done[0], "Held by Excel.csv")) })

	seen := map[string]int{}
	for _, c := range e.fake.Commits() {
		seen[c.Checksum]++
	}
	for sum := range want {
		if seen[sum] != 1 {
			t.Errorf("content %s committed %d times", sum, seen[sum])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("distinct contents committed = %d, want %d", len(seen), len(want))
	}
	for _, f := range e.folders {
		if c := count(t, filepath.Join(f, "failed")); c != 0 {
			t.Errorf("%s has %d failed files", f, c)
		}
		if h := heldFiles(t, f); len(h) != 0 {
			t.Errorf("%s\\.listdrop still holds %v", f, h)
		}
	}
	if !exists(filepath.Join(e.dir, "State", "listdrop.db")) {
		t.Error("no state file where state_file says")
	}
}

// Windows has no SIGTERM: a console program is stopped by CTRL_C or
// CTRL_BREAK, which Go delivers as os.Interrupt.
func TestWindowsStopsCleanlyOnCtrlBreak(t *testing.T) {
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	winConfig(e)
	e.folders = e.folders[:1]
	cmd := exec.Command(binary, "run", "--config", e.config)
	cmd.Env = append(os.Environ(), "E2E_SECRET="+e2eSecret)
	// Its own process group, so that the event reaches it and not this test.
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
	out := &testutil.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd = testutil.Start(t, cmd)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	e.eventually("the daemon to prepare its folder", func() bool { return exists(filepath.Join(e.folders[0], ".listdrop")) })
	e.drop(0, "before stop.csv", rows("before-stop"))
	e.eventually("the file in done", func() bool { return exists(filepath.Join(e.folders[0], "done", "before stop.csv")) })

	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(cmd.Process.Pid)); err != nil {
		if os.Getenv("LISTDROP_UNDER_WINE") == "1" {
			t.Skipf("Wine 8 cannot send console control events here (GenerateConsoleCtrlEvent: %v); this stop is tested on Windows only", err)
		}
		t.Fatalf("GenerateConsoleCtrlEvent: %v (run the tests from a console)", err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("the daemon exited with %v after CTRL_BREAK\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not exit within 30s of CTRL_BREAK\n%s", out.String())
	}
	if !strings.Contains(out.String(), "listdrop stopped") {
		t.Fatalf("the log does not say listdrop stopped:\n%s", out.String())
	}
}

// Without --config, listdrop reads %ProgramData%\listdrop\listdrop.yaml,
// and keeps its state in %ProgramData%\listdrop\state.db unless told
// otherwise.
func TestWindowsDefaultsUnderProgramData(t *testing.T) {
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	programData := filepath.Join(e.dir, "ProgramData")
	home := filepath.Join(programData, "listdrop")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("talkdesk:\n  api_url: %s\n  token_url: %s\n  client_id: %s\n  client_secret: ${E2E_SECRET}\nsettle: 100ms\nadmin:\n  listen: %q\nfolders:\n  - path: Contacts\n    record_list_id: L1\n",
		e.fake.URL(), e.fake.TokenURL(), e2eClientID, e2eListen) // the default port may be taken
	if err := os.WriteFile(filepath.Join(home, "listdrop.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"E2E_SECRET=" + e2eSecret, "ProgramData=" + programData}
	state := filepath.Join(home, "state.db")

	out, errOut, code := runCLI(t, env, "validate")
	if code != 0 || !strings.Contains(out, "state "+state) {
		t.Fatalf("validate without --config: code %d, stdout %q, stderr %q; want the state file %s", code, out, errOut, state)
	}

	cmd := exec.Command(binary, "run")
	cmd.Env = append(os.Environ(), env...)
	log := &testutil.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd = testutil.Start(t, cmd)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("daemon output:\n%s", log.String())
		}
	})
	e.folders = []string{filepath.Join(home, "Contacts")}
	e.eventually("the daemon to prepare its folder", func() bool { return exists(filepath.Join(e.folders[0], ".listdrop")) })
	e.drop(0, "contacts.csv", rows("programdata"))
	e.eventually("the file in done", func() bool { return exists(filepath.Join(e.folders[0], "done", "contacts.csv")) })
	if !exists(state) {
		t.Fatalf("no state file at %s", state)
	}
	if n := len(e.fake.Commits()); n != 1 {
		t.Fatalf("commits = %d, want 1", n)
	}
}

// The demo's output names Windows paths.
func TestWindowsDemo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "demo", "--dir", dir, "--quiet")
	cmd.Stdout, cmd.Stderr = &out, &out
	if _, err := testutil.Run(t, cmd); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"committed to record list", `contacts\done\contacts.csv`, `contacts\failed\contacts-again.csv`, "This file is empty",
		`contacts\done\campaign.csv (in 4 parts)`} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, p := range []string{`contacts\done\contacts.csv`, `contacts\failed\contacts-again.csv`, `contacts\failed\empty.csv.error.txt`} {
		if !exists(filepath.Join(dir, p)) {
			t.Errorf("the demo left no %s", p)
		}
	}
	if t.Failed() {
		t.Logf("%s", out.String())
	}
}
