package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// TestRetryPutsFailedFilesBack: a duplicate put back without --force
// fails again as a duplicate; with --force it is uploaded again, whether
// the allowance goes through the running daemon or, with the daemon
// stopped, into the state file.
func TestRetryPutsFailedFilesBack(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	drop, failed := e.folders[0], filepath.Join(e.folders[0], "failed")
	content := rows("retry")
	sum := md5.Sum(content)
	commitsOfContent := func() int {
		n := 0
		for _, c := range e.fake.CommitsFor("L1") {
			if c.Checksum == hex.EncodeToString(sum[:]) {
				n++
			}
		}
		return n
	}
	d := e.start()
	e.drop(0, "good.csv", content)
	e.eventually("good.csv uploaded", func() bool { return finished(e.history(), "good.csv", state.Done) == 1 })
	e.drop(0, "copy.csv", content)
	e.eventually("copy.csv failed", func() bool { return finished(e.history(), "copy.csv", state.Failed) == 1 })

	var tr strings.Builder
	tr.WriteString(e.transcript("retry", "copy.csv"))
	e.eventually("copy.csv failed again", func() bool { return finished(e.history(), "copy.csv", state.Failed) == 2 })
	if n := commitsOfContent(); n != 1 {
		t.Fatalf("a duplicate retried without --force was committed: %d commits", n)
	}
	e.eventually("copy.csv back in failed/", func() bool { return exists(filepath.Join(failed, "copy.csv.error.txt")) })

	tr.WriteString(e.transcript("retry", "--force", filepath.Join(failed, "copy.csv")))
	e.eventually("copy.csv uploaded", func() bool { return finished(e.history(), "copy.csv", state.Done) == 1 })
	if n := commitsOfContent(); n != 2 {
		t.Fatalf("retry --force: %d commits of the content, want 2", n)
	}
	// The allowance was for one copy only.
	e.drop(0, "third.csv", content)
	e.eventually("third.csv failed", func() bool { return finished(e.history(), "third.csv", state.Failed) == 1 })
	halt(t, d)

	// Without the daemon: --force writes the allowance into the state
	// file, and a file of the same name already in the drop folder is
	// not replaced.
	other := rows("other")
	writeFile(t, filepath.Join(drop, "third.csv"), other)
	tr.WriteString(e.transcript("retry", "--all-failed", "--force"))
	for _, p := range []string{filepath.Join(failed, "third.csv"), filepath.Join(failed, "third.csv.error.txt")} {
		if exists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(drop, "third.csv")); err != nil || string(b) != string(other) {
		t.Fatalf("the file already in the drop folder was replaced: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(drop, "third-1.csv")); err != nil || string(b) != string(content) {
		t.Fatalf("the retried file: %q, %v", b, err)
	}
	e.start()
	e.eventually("third-1.csv uploaded", func() bool { return finished(e.history(), "third-1.csv", state.Done) == 1 })
	if n := commitsOfContent(); n != 3 {
		t.Fatalf("retry --force without the daemon: %d commits of the content, want 3", n)
	}
	golden(t, "retry.golden", tr.String())
}

// retryConfig writes a configuration of two folders and no admin endpoint
// (no daemon to ask), and returns its path and the folders.
func retryConfig(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "listdrop.yaml")
	writeFile(t, cfg, []byte("talkdesk: {api_url: 'http://127.0.0.1:1', token_url: 'http://127.0.0.1:1/t', client_id: a, client_secret: b}\n"+
		"state_file: state.db\nadmin: {listen: ''}\nfolders:\n  - {path: a, record_list_id: LA}\n  - {path: b, record_list_id: LB}\n"))
	return cfg, []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}
}

func TestRetryArguments(t *testing.T) {
	t.Parallel()
	cfg, folders := retryConfig(t)
	fail := func(folder, name string) string {
		p := filepath.Join(folders[folder[0]-'a'], "failed", name)
		writeFile(t, p, []byte("x,y\n1,2\n"))
		writeFile(t, p+".error.txt", []byte("why\n"))
		return p
	}
	both := []string{fail("a", "same.csv"), fail("b", "same.csv")}
	onlyB := fail("b", "only.csv")
	retry := func(args ...string) (string, string, error) {
		var stdout, stderr strings.Builder
		err := run(context.Background(), append([]string{"retry", "--config", cfg}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"nothing named", nil, "name the failed files, or give --all-failed"},
		{"files and --all-failed", []string{"only.csv", "--all-failed"}, "name the failed files, or give --all-failed"},
	} {
		if _, stderr, err := retry(tt.args...); !errors.Is(err, errUsage) || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%s: %v, stderr %q", tt.name, err, stderr)
		}
	}
	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"a name in two failed folders", []string{"same.csv"}, "same.csv is in more than one failed folder"},
		{"no such failed file", []string{"nope.csv"}, "no failed file is named nope.csv"},
		{"a path outside the failed folders", []string{filepath.Join(folders[0], "x.csv")}, "is not in the failed folder of a drop folder"},
		{"not a drop folder", []string{"--folder", t.TempDir(), "--all-failed"}, "is not a drop folder of"},
	} {
		_, stderr, err := retry(tt.args...)
		if err == nil || errors.Is(err, errUsage) || !strings.Contains(stderr+err.Error(), tt.stderr) {
			t.Errorf("%s: %v, stderr %q", tt.name, err, stderr)
		}
	}
	for _, p := range append(both, onlyB) {
		if !exists(p) || !exists(p+".error.txt") {
			t.Fatalf("a refused retry moved %s", p)
		}
	}

	// --folder picks between the two, flags may follow the names, and a
	// note's name stands for its file (as failed/* gives both).
	stdout, stderr, err := retry("same.csv", "same.csv.error.txt", "--folder", folders[1])
	if err != nil || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, both[1]+" -> "+filepath.Join(folders[1], "same.csv")) {
		t.Fatalf("retry --folder: %v\nstdout %q\nstderr %q", err, stdout, stderr)
	}
	if exists(both[1]) || exists(both[1]+".error.txt") || !exists(both[0]) {
		t.Fatal("retry --folder moved the wrong file, or left the note")
	}
	stdout, _, err = retry("--all-failed", "--folder", folders[1])
	if err != nil || !strings.Contains(stdout, onlyB+" -> ") || strings.Contains(stdout, both[0]) {
		t.Fatalf("retry --all-failed --folder: %v\n%s", err, stdout)
	}
	if stdout, _, err = retry("--all-failed", "--folder", folders[1]); err != nil || stdout != "no failed files\n" {
		t.Fatalf("retry with nothing failed: %v %q", err, stdout)
	}

	// Without a daemon, --force records the allowance in the state file.
	stdout, _, err = retry("--force", both[0])
	if err != nil || !strings.Contains(stdout, "record list LA will take its content once more") {
		t.Fatalf("retry --force: %v\n%s", err, stdout)
	}
	sum := md5.Sum([]byte("x,y\n1,2\n"))
	s, err := state.Open(filepath.Join(filepath.Dir(cfg), "state.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, err := s.TakeAllowance("LA", hex.EncodeToString(sum[:])); !ok || err != nil {
		t.Fatalf("no allowance in the state after retry --force: %v %v", ok, err)
	}
}

// A file imported in part is not put back without --force: named, it is
// refused; with --all-failed, it is left in place with a line that says
// why, and its .remaining.csv is put back.
func TestRetryLeavesAFileImportedInPart(t *testing.T) {
	t.Parallel()
	cfg, folders := retryConfig(t)
	failed := filepath.Join(folders[0], "failed")
	big := filepath.Join(failed, "big.csv")
	writeFile(t, big, []byte("x,y\n1,2\n3,4\n"))
	writeFile(t, big+".error.txt", []byte("Part 2 of 2 of this file was not imported: …\n\nFile:            big.csv\nImported:        part 1 of 2 (lines 2–2) into record list LA\n"))
	writeFile(t, filepath.Join(failed, "big.remaining.csv"), []byte("x,y\n3,4\n"))
	retry := func(args ...string) (string, string, error) {
		var stdout, stderr strings.Builder
		err := run(context.Background(), append([]string{"retry", "--config", cfg}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	if _, stderr, err := retry("big.csv"); err == nil || !strings.Contains(stderr, "big.csv was imported in part before it failed") {
		t.Fatalf("retry big.csv: %v\n%s", err, stderr)
	}
	stdout, stderr, err := retry("--all-failed", "--folder", folders[0])
	if err != nil || !strings.Contains(stdout, big+": left in place: imported in part") || !strings.Contains(stdout, filepath.Join(failed, "big.remaining.csv")+" -> ") {
		t.Fatalf("retry --all-failed: %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	if !exists(big) || !exists(filepath.Join(folders[0], "big.remaining.csv")) {
		t.Fatal("--all-failed moved the file imported in part, or not its rest")
	}
	if stdout, _, err := retry("--all-failed", "--folder", folders[0]); err != nil || strings.Contains(stdout, "no failed files") {
		t.Fatalf("retry --all-failed with only the file imported in part left: %v %q", err, stdout)
	}
}
