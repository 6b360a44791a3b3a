package pipeline

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

var retryInRE = regexp.MustCompile(`msg="cannot write state; trying again later".* retry_in=(\S+)`)

// Finding: with the disk under the state file full, the service re-sent
// the same PATCH every half second forever: the wait never grew there. A
// state write that fails is now retried alone, with a growing wait, and
// the PATCH is sent once.
func TestStateWritesThatFailBackOffAndNeverResendThePatch(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"write-ahead", "commit"} {
		t.Run(op, func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "retry:\n  max_backoff: 400ms\n  give_up_after: 1h\n")
			const fails = 6
			var mu sync.Mutex
			left := fails
			h.tweak = func(p *Pipeline) {
				p.faultBefore = func(o string) error {
					mu.Lock()
					defer mu.Unlock()
					if o != op || left == 0 {
						return nil
					}
					left--
					return fmt.Errorf("write state: %w", syscall.ENOSPC)
				}
			}
			h.start()
			h.drop(0, "full.csv", csvBody("full", 2))
			h.waitDone(0, "full.csv")
			h.stop()
			if n := h.requests("PATCH", "upload-requests"); n != 1 {
				t.Fatalf("%d PATCHes were sent; while the state cannot record, the PATCH must be sent once", n)
			}
			if n := len(h.fake.Commits()); n != 1 {
				t.Fatalf("commits = %d", n)
			}
			var waits []time.Duration
			for _, m := range retryInRE.FindAllStringSubmatch(h.logBuf.String(), -1) {
				d, err := time.ParseDuration(m[1])
				if err != nil {
					t.Fatal(err)
				}
				waits = append(waits, d)
			}
			if len(waits) != fails {
				t.Fatalf("%d waits logged for %d failed writes:\n%s", len(waits), fails, h.logBuf.String())
			}
			// Exponential with jitter in [d/2, d]: the sixth wait (at least
			// 5ms<<5/2) is above the first (at most 5ms) whatever the jitter.
			if waits[fails-1] <= waits[0] {
				t.Fatalf("the waits did not grow: %v", waits)
			}
			if strings.Count(h.logBuf.String(), "cannot write state") != fails {
				t.Fatalf("each failed write is logged once")
			}
		})
	}
}
