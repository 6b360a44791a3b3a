//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// Finding: names reached terminals and notes raw. `listdrop status` printed
// a name's escape sequences (clear screen, window title) to the admin's
// terminal; a newline in a name forged a line in `history` and in the note
// beside a failed file; a right-to-left override was sent to Talkdesk.
func TestHostileNamesAreEscapedWhereverTheyAreShown(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	const hostile = "evil\x1b]0;owned\x07\x1b[2J\nFile:            forged\u202ecsv.csv"
	const escaped = `evil\x1b]0;owned\x07\x1b[2J\nFile:            forged\u202ecsv.csv`
	d := e.start()
	e.drop(0, "first"+hostile, rows("hostile"))
	e.eventually("the first file imported", func() bool { return finished(e.history(), "first"+hostile, state.Done) == 1 })
	e.drop(0, hostile, rows("hostile")) // a duplicate: failed, with a note
	e.eventually("the duplicate failed", func() bool { return finished(e.history(), hostile, state.Failed) == 1 })

	shown := map[string]string{
		"status":  e.transcript("status"),
		"history": e.transcript("history"),
	}
	note, err := os.ReadFile(filepath.Join(e.folders[0], "failed", hostile+".error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	shown["the note"] = string(note)
	halt(t, d)
	shown["status without the daemon"] = e.transcript("status")
	shown["history without the daemon"] = e.transcript("history")

	for what, out := range shown {
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("%s prints the name's control characters raw:\n%q", what, out)
		}
		for line := range strings.Lines(out) {
			if strings.HasPrefix(line, "File:            forged") {
				t.Errorf("%s has a line forged by the name:\n%s", what, out)
			}
		}
		if !strings.Contains(out, escaped) {
			t.Errorf("%s does not show the name escaped (%s):\n%s", what, escaped, out)
		}
	}
	commits := e.fake.CommitsFor("L1")
	if len(commits) != 1 {
		t.Fatalf("commits: %d", len(commits))
	}
	for _, r := range commits[0].Filename {
		if unicode.IsControl(r) || r == '\u202e' {
			t.Fatalf("the name sent to Talkdesk holds %U: %q", r, commits[0].Filename)
		}
	}
}
