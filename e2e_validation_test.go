package main

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// TestKill9WhileListsValidateThenRestart kills the daemon while lists
// validate and their next files wait, prepared (upload request created,
// bytes PUT) or refused with 409: every file is still imported exactly
// once after the restarts.
func TestKill9WhileListsValidateThenRestart(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("it ends with SIGTERM, which Windows lacks")
	}
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			lists := []string{"L1", "L2", "L3"}
			e := newE2E(t, faketalkdesk.Options{Validation: 150 * time.Millisecond}, lists, fmt.Sprintf("verify: %t\n", verify))
			const n = 24
			want := map[string]bool{}
			d := e.start()
			for i := range n {
				body := rows(fmt.Sprintf("val%03d", i))
				sum := md5.Sum(body)
				want[hex.EncodeToString(sum[:])] = true
				e.drop(i%len(lists), fmt.Sprintf("v%03d.csv", i), body)
			}
			// waiting reports whether a file has its bytes PUT and waits
			// for its PATCH: the overlap a kill must not break.
			waiting := func() bool {
				for _, u := range e.fake.UploadRequests() {
					if u.Uploaded && u.Status == faketalkdesk.StatusCreated {
						return true
					}
				}
				return false
			}
			for _, at := range []int{4, 12} {
				e.eventually(fmt.Sprintf("%d commits and a file waiting for its PATCH", at), func() bool {
					return len(e.fake.Commits()) >= at && waiting()
				})
				if err := d.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				<-d.exited
				t.Logf("killed after %d commits", len(e.fake.Commits()))
				d = e.start()
			}
			e.eventually("every file in done/", func() bool {
				c := 0
				for _, f := range e.folders {
					c += count(t, filepath.Join(f, "done"))
				}
				return c == n
			})
			d.stop(t)
			seen := map[string]int{}
			for _, c := range e.fake.Commits() {
				seen[c.Checksum]++
			}
			for sum := range want {
				if seen[sum] != 1 {
					t.Errorf("content %s committed %d times", sum, seen[sum])
				}
			}
			v := e.fake.Validations()
			for i := range v {
				for j := range i {
					if v[i].ListID == v[j].ListID && v[i].Start.Before(v[j].End) {
						t.Errorf("list %s: a validation began at %s, before the previous one ended at %s", v[i].ListID, v[i].Start, v[j].End)
					}
				}
			}
			for _, f := range e.folders {
				if c := count(t, filepath.Join(f, "failed")); c != 0 {
					t.Errorf("%s/failed has %d files", f, c)
				}
				if held := heldFiles(t, f); len(held) != 0 {
					t.Errorf("%s/.listdrop still holds %v", f, held)
				}
			}
		})
	}
}
