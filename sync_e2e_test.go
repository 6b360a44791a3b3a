package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// Case 9: a sync tool's "revert local changes" (Syncthing on a
// receive-only folder) deletes what was added to the synced folder and
// brings back what it had. With done and failed outside the synced folder,
// as the README says, the record of what happened survives, and the file
// brought back is refused as a duplicate, not imported twice.
func TestE2ESyncToolRevertKeepsDoneAndFailedOutside(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	cfg, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.WriteString("    done: results/done\n    failed: results/failed\n"); err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	done, failed := filepath.Join(e.dir, "results", "done"), filepath.Join(e.dir, "results", "failed")
	e.start()
	synced := e.folders[0]
	content := rows("synced")
	e.drop(0, "list.csv", content)
	e.eventually("list.csv in done/", func() bool { return exists(filepath.Join(done, "list.csv")) })

	// The revert: everything in the synced folder but listdrop's own
	// hidden claim folder is deleted, and the synced file comes back.
	ents, err := os.ReadDir(synced)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range ents {
		if de.Name() != ".listdrop" {
			if err := os.RemoveAll(filepath.Join(synced, de.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.drop(0, "list.csv", content)
	e.eventually("the copy refused", func() bool { return exists(filepath.Join(failed, "list.csv.error.txt")) })
	note, err := os.ReadFile(filepath.Join(failed, "list.csv.error.txt"))
	if err != nil || !strings.HasPrefix(string(note), "This file has the same content as list.csv, which was already imported") {
		t.Errorf("note (%v):\n%s", err, note)
	}
	if !exists(filepath.Join(done, "list.csv")) {
		t.Error("done/ lost its file")
	}
	if n := len(e.fake.Commits()); n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
}
