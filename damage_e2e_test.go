package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// Finding: a damaged state file made the service panic with a Go stack
// trace at start, or start and panic at its first write, again at every
// restart, with `listdrop history` panicking too. Now: damage found while
// running stops the service with the sentence that says what to do; a
// start on the damaged file refuses with it; the commands print it; no
// stack trace anywhere.
func TestDamagedStateStopsCleanlyWithASentence(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	d := e.start()
	e.drop(0, "good.csv", rows("good"))
	e.eventually("good.csv in done/", func() bool { return exists(filepath.Join(e.folders[0], "done", "good.csv")) })
	// Its history entry is written after the move: wait for it, so that no
	// write of the daemon's is under way when the disk goes bad.
	e.eventually("good.csv in the history", func() bool { return finished(e.history(), "good.csv", state.Done) == 1 })

	// The disk goes bad under the open file: every page after the two
	// meta pages gets a garbage header.
	state := filepath.Join(e.dir, "state", "listdrop.db")
	f, err := os.OpenFile(state, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	for off := int64(2 * 4096); off < fi.Size(); off += 4096 {
		f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xee, 0xee, 0x77, 0x77, 0xff, 0xff}, off)
	}
	f.Close()
	e.drop(0, "next.csv", rows("next"))
	e.eventually("the daemon to stop on the damage", func() bool {
		select {
		case <-d.exited:
			return true
		default:
			return false
		}
	})
	out := d.out.String()
	if d.err == nil {
		t.Fatalf("the daemon exited with status 0 on a damaged state file:\n%s", out)
	}
	for _, want := range []string{"is damaged (", "move the file aside"} {
		if !strings.Contains(out, want) {
			t.Errorf("the daemon's output does not say %q:\n%s", want, out)
		}
	}

	d2 := e.launch()
	<-d2.exited
	out2 := d2.out.String()
	if d2.err == nil || !strings.Contains(out2, "is damaged (") {
		t.Fatalf("a start on the damaged file:\n%s", out2)
	}
	_, stderr, code := e.cli("history")
	if code == 0 || !strings.Contains(stderr, "is damaged (") {
		t.Fatalf("history on the damaged file: exit %d\n%s", code, stderr)
	}
	for what, s := range map[string]string{"the first run": out, "the restart": out2, "history": stderr} {
		if strings.Contains(s, "goroutine ") || strings.Contains(s, "panic:") {
			t.Errorf("%s printed a stack trace:\n%s", what, s)
		}
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the damaged state file must be kept: %v", err)
	}
}
