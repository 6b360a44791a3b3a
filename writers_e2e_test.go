//go:build linux

package main

// Files as programs really write them (issue 13): writers that create a
// file long before they fill it, writers that pause, spreadsheets' CSV
// flavours. The programs themselves where they are packaged (rclone, sh);
// otherwise the same system calls.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// records is a CSV of n records after the header, each line tagged.
func records(tag string, from, n int) []byte {
	var b bytes.Buffer
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%s-%d,Tester,+1202555%04d\n", tag, i, i)
	}
	return b.Bytes()
}

const header = "first_name,last_name,mobile_phone\n"

// writerProgram is the path of a writer the test runs; without it the test is
// skipped, or fails when LISTDROP_WRITER_TESTS=1 (.ci/run installs them).
func writerProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("LISTDROP_WRITER_TESTS") == "1" {
			t.Fatalf("%s is not installed: %v", name, err)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return p
}

// rsync writes a hidden temporary name and renames it into place: with a
// bandwidth limit the temporary file lives for seconds, and only the whole
// file is taken, once.
func TestE2ERsyncIsTakenWhole(t *testing.T) {
	t.Parallel()
	rsync := writerProgram(t, "rsync")
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	e.start()
	src := filepath.Join(t.TempDir(), "rsynced.csv")
	content := append([]byte(header), records("rsync", 0, 100)...)
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rsync, "--bwlimit=1", src, e.folders[0]+"/").CombinedOutput(); err != nil {
		t.Fatalf("rsync: %v\n%s", err, out)
	}
	e.eventually("rsynced.csv in done/", func() bool { return exists(filepath.Join(e.folders[0], "done", "rsynced.csv")) })
	if c := e.fake.Commits(); len(c) != 1 || !bytes.Equal(c[0].Body, content) {
		t.Fatalf("Talkdesk got %d commits, want one of the whole file", len(c))
	}
}

// committed is the body Talkdesk stored for a file name, or nil.
func (e *e2e) committed(name string) []byte {
	for _, c := range e.fake.Commits() {
		if c.Filename == name {
			return c.Body
		}
	}
	return nil
}

// Case 1: a file that stays empty longer than settle while its writer goes
// on: rclone with a bandwidth limit (it writes to the final name), a shell
// that opens the file and writes 2.5 s later, a browser's empty placeholder
// replaced by its .part file after 3 s. None may be failed as empty.
func TestE2EFilesEmptyLongerThanSettleAreWaitedFor(t *testing.T) {
	t.Parallel()
	rclone := writerProgram(t, "rclone")
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "empty_grace: 5m\n")
	e.start()
	src := t.TempDir()
	drop := e.folders[0]

	content := func(tag string) []byte { return append([]byte(header), records(tag, 0, 60)...) }
	for _, n := range []string{"rclone", "shell", "browser"} {
		if err := os.WriteFile(filepath.Join(src, n+".csv"), content(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	errs := make(chan error, 3)
	go func() {
		// About 3 s for 2.3 kB; rclone 1.60 writes straight to the final
		// name and sets its time once done.
		out, err := exec.Command(rclone, "--config", filepath.Join(src, "rclone.conf"), "copyto", "--bwlimit", "1k",
			filepath.Join(src, "rclone.csv"), filepath.Join(drop, "rclone.csv")).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("rclone: %v\n%s", err, out)
		}
		errs <- err
	}()
	go func() {
		out, err := exec.Command("sh", "-c", `exec 3>"$1"; sleep 2.5; cat "$2" >&3`, "sh",
			filepath.Join(drop, "shell.csv"), filepath.Join(src, "shell.csv")).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("sh: %v\n%s", err, out)
		}
		errs <- err
	}()
	go func() {
		// A browser: the empty name first, the bytes in NAME.part, the
		// rename over the name when the download ends.
		final := filepath.Join(drop, "browser.csv")
		if err := os.WriteFile(final, nil, 0o644); err != nil {
			errs <- err
			return
		}
		if err := os.WriteFile(final+".part", content("browser"), 0o644); err != nil {
			errs <- err
			return
		}
		time.Sleep(3 * time.Second) // the download's length, not a wait for listdrop
		errs <- os.Rename(final+".part", final)
	}()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"rclone", "shell", "browser"} {
		name := n + ".csv"
		e.eventually(name+" committed", func() bool { return e.committed(name) != nil })
		if got := e.committed(name); !bytes.Equal(got, content(n)) {
			t.Errorf("%s: Talkdesk got %d bytes, want the whole %d-byte file", name, len(got), len(content(n)))
		}
		e.eventually(name+" in done/", func() bool { return exists(filepath.Join(drop, "done", name)) })
	}
	if n := count(t, filepath.Join(drop, "failed")); n != 0 {
		t.Errorf("failed/ holds %d files, want none", n)
	}
}

// Case 1, the other side: a file that stays empty is failed once
// empty_grace has passed, with the note saying so.
func TestE2EFileThatStaysEmptyIsFailedAfterEmptyGrace(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "empty_grace: 1s\n")
	e.start()
	e.drop(0, "empty.csv", nil)
	e.eventually("empty.csv in failed/", func() bool { return exists(filepath.Join(e.folders[0], "failed", "empty.csv.error.txt")) })
	if s := e.note(0, "empty.csv"); !strings.Contains(s, "This file is empty (0 bytes)") {
		t.Errorf("note:\n%s", s)
	}
}

// Case 2: a writer that pauses longer than settle with the file open (20
// records, 2 s, 40 more) gets its whole file uploaded, once.
func TestE2EWriterPausingMidFileIsWaitedFor(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	e.start()
	src := t.TempDir()
	first := append([]byte(header), records("pause", 0, 20)...)
	rest := records("pause", 20, 40)
	if err := os.WriteFile(filepath.Join(src, "1"), first, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "2"), rest, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", `{ cat "$1"; sleep 2; cat "$2"; } > "$3"`, "sh",
		filepath.Join(src, "1"), filepath.Join(src, "2"), filepath.Join(e.folders[0], "rows.csv")).CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s", err, out)
	}
	e.eventually("rows.csv in done/", func() bool { return exists(filepath.Join(e.folders[0], "done", "rows.csv")) })
	commits := e.fake.Commits()
	if len(commits) != 1 {
		t.Fatalf("%d commits, want 1", len(commits))
	}
	if got, want := bytes.Count(commits[0].Body, []byte("\n")), 61; got != want {
		t.Errorf("Talkdesk got %d lines, want the whole file's %d", got, want)
	}
}

// Cases 3 and 4: semicolons (with a comma in a value), tabs and old Mac
// line endings are refused with a sentence that says what to do; with
// convert on, they are imported converted, the original kept in done/, and
// the conversion is what the duplicate check compares.
func TestE2ESpreadsheetFlavours(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	cfg, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The last folder listed, drop1, converts.
	if _, err := cfg.WriteString("    convert: true\n"); err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	e.start()

	semicolons := []byte("first_name;last_name;mobile_phone\nAda;\"Lovelace, Countess\";+12025550100\nBob;Smith;+12025550101\n")
	tabs := []byte("first_name\tlast_name\tmobile_phone\nCy\tTab\t+12025550102\n")
	mac := []byte("first_name,last_name,mobile_phone\rDee,Mac,+12025550103\r")
	for i := range 2 {
		e.drop(i, "semicolons.csv", semicolons)
		e.drop(i, "tabs.csv", tabs)
		e.drop(i, "mac.csv", mac)
	}
	const advice = "Talkdesk needs commas: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
	for name, want := range map[string]string{
		"semicolons.csv": "This file uses semicolons between fields; " + advice,
		"tabs.csv":       "This file uses tabs between fields; " + advice,
		"mac.csv":        "This file ends its lines with a carriage return alone (old Mac line endings, as Excel's \"CSV (Macintosh)\" writes); Talkdesk needs Windows (CRLF) or Unix (LF) line endings: in Excel, save as 'CSV UTF-8 (Comma delimited)'.",
	} {
		e.eventually(name+" failed in drop0", func() bool { return exists(filepath.Join(e.folders[0], "failed", name+".error.txt")) })
		if s := e.note(0, name); !strings.HasPrefix(s, want+"\n") || strings.Contains(s, "no records") {
			t.Errorf("%s: note does not start with %q:\n%s", name, want, s)
		}
	}

	converted := map[string]string{
		"semicolons.csv": "first_name,last_name,mobile_phone\r\nAda,\"Lovelace, Countess\",+12025550100\r\nBob,Smith,+12025550101\r\n",
		"tabs.csv":       "first_name,last_name,mobile_phone\r\nCy,Tab,+12025550102\r\n",
		"mac.csv":        "first_name,last_name,mobile_phone\r\nDee,Mac,+12025550103\r\n",
	}
	originals := map[string][]byte{"semicolons.csv": semicolons, "tabs.csv": tabs, "mac.csv": mac}
	for name, want := range converted {
		e.eventually(name+" in drop1's done/", func() bool { return exists(filepath.Join(e.folders[1], "done", name)) })
		var body []byte
		for _, c := range e.fake.CommitsFor("L2") {
			if c.Filename == name {
				body = c.Body
			}
		}
		if string(body) != want {
			t.Errorf("%s: Talkdesk got\n%q\nwant\n%q", name, body, want)
		}
		kept, err := os.ReadFile(filepath.Join(e.folders[1], "done", name))
		if err != nil || !bytes.Equal(kept, originals[name]) {
			t.Errorf("%s: done/ does not keep the original (%v): %q", name, err, kept)
		}
	}
	var h []state.Entry
	e.eventually("the three in the history", func() bool {
		h = e.history()
		n := 0
		for _, en := range h {
			if en.Folder == e.folders[1] && en.Result == state.Done {
				n++
			}
		}
		return n == 3
	})
	for name := range converted {
		found := false
		for _, en := range h {
			if filepath.Base(en.Source) == name && en.Folder == e.folders[1] && en.Result == state.Done {
				found = true
				if !strings.HasPrefix(en.Reason, "converted: ") {
					t.Errorf("%s: the history does not say it was converted: %q", name, en.Reason)
				}
			}
		}
		if !found {
			t.Errorf("%s: no done entry in the history", name)
		}
	}
	// The same records saved properly are the same content: a duplicate.
	e.drop(1, "proper.csv", []byte(converted["tabs.csv"]))
	e.eventually("proper.csv refused as a duplicate", func() bool { return exists(filepath.Join(e.folders[1], "failed", "proper.csv.error.txt")) })
	if s := e.note(1, "proper.csv"); !strings.Contains(s, "same content as tabs.csv") {
		t.Errorf("proper.csv: note:\n%s", s)
	}
	out, _, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "history", "--config", e.config)
	if code != 0 || !strings.Contains(out, "converted: semicolons between fields to commas") {
		t.Errorf("history (exit %d) does not say the file was converted:\n%s", code, out)
	}
}
