package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// uploadRequestsOf returns the fake's upload requests for files whose name
// starts with prefix.
func uploadRequestsOf(h *harness, prefix string) []faketalkdesk.UploadRequest {
	var out []faketalkdesk.UploadRequest
	for _, u := range h.fake.UploadRequests() {
		if strings.HasPrefix(u.Filename, prefix) {
			out = append(out, u)
		}
	}
	return out
}

// With one worker, a list whose upload Talkdesk validates must not keep
// another list waiting: list A validates "for an hour" (until the test ends
// it), and list B's file is uploaded meanwhile. A's next file is prepared
// meanwhile too (its upload request created and its bytes PUT); only its
// PATCH waits.
func TestAWaitingListHoldsNoWorker(t *testing.T) {
	t.Parallel()
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{Validation: time.Hour}, []string{"A", "B"},
				fmt.Sprintf("workers: 1\nverify: %t\n", verify))
			h.start()
			h.drop(0, "a1.csv", csvBody("a1", 1))
			h.drop(0, "a2.csv", csvBody("a2", 2))
			eventually(t, "a1's validation to begin", func() bool { return len(h.fake.Validations()) == 1 })
			h.drop(1, "b1.csv", csvBody("b1", 3))
			// Were A's wait holding the only worker, b1 would never go.
			eventually(t, "b1's validation to begin", func() bool { return len(h.fake.Validations()) == 2 })
			eventually(t, "a2's bytes to be PUT", func() bool {
				u := uploadRequestsOf(h, "a2")
				return len(u) == 1 && u[0].Uploaded
			})
			v := h.fake.Validations()
			if v[0].ListID != "A" || v[1].ListID != "B" {
				t.Fatalf("validations = %+v, want A's then B's", v)
			}
			if c := h.fake.CommitsFor("A"); len(c) != 1 {
				t.Fatalf("A has %d commits while it validates its first, want 1", len(c))
			}
			h.waitDone(1, "b1.csv")
			h.fake.EndValidation("A")
			h.waitDone(0, "a2.csv")
			v = h.fake.Validations()
			if len(v) != 3 || v[2].ListID != "A" || v[2].UploadID != uploadRequestsOf(h, "a2")[0].ID {
				t.Fatalf("validations = %+v, want a2's last, with the upload request prepared meanwhile", v)
			}
			if !v[2].Start.After(v[0].End) && !v[2].Start.Equal(v[0].End) {
				t.Fatalf("a2 was PATCHed at %s, before a1's validation ended at %s", v[2].Start, v[0].End)
			}
		})
	}
}

// A list's next PATCH follows the end of the previous validation by a
// small part of it, with verify on (the follow-up notices the end) and off
// (the PATCH refused with 409 is tried again). Judged on the fake's
// timestamps, against its configured validation, with a generous margin;
// the backoff is the production one, so that pacing by the error backoff
// fails.
func TestNextPatchFollowsTheEndOfValidation(t *testing.T) {
	t.Parallel()
	const validation = 2 * time.Second
	const files = 4
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{Validation: validation}, []string{"L"},
				fmt.Sprintf("verify: %t\nretry:\n  max_backoff: 5m\n  give_up_after: 1h\n", verify))
			h.retryBase = time.Second
			h.start()
			for i := range files {
				h.drop(0, fmt.Sprintf("f%d.csv", i), csvBody(fmt.Sprintf("f%d", i), i+1))
			}
			for i := range files {
				h.waitDone(0, fmt.Sprintf("f%d.csv", i))
			}
			v := h.fake.Validations()
			if len(v) != files {
				t.Fatalf("%d validations, want %d", len(v), files)
			}
			limit := validation/4 + 250*time.Millisecond
			for i := 1; i < len(v); i++ {
				lag := v[i].Start.Sub(v[i-1].End)
				t.Logf("PATCH %d came %s after the end of validation %d", i+1, lag, i)
				if lag < 0 || lag > limit {
					t.Errorf("PATCH %d came %s after the end of the previous validation (of %s); want at most %s",
						i+1, lag, validation, limit)
				}
			}
			gets := h.fake.ListGets("")
			t.Logf("%d GETs of the list for %d files", gets, files)
			if !verify && gets != 0 {
				t.Errorf("verify off, yet the list was read %d times", gets)
			}
		})
	}
}

// A signed URL that expired while the list validated is not PATCHed: a
// fresh upload request replaces it.
func TestURLExpiredWhileWaitingIsReplaced(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	h := newHarness(t, faketalkdesk.Options{Validation: 2500 * time.Millisecond, URLTTL: ttl}, []string{"L"}, "")
	h.start()
	h.drop(0, "a.csv", csvBody("a", 1))
	eventually(t, "a's validation to begin", func() bool { return len(h.fake.Validations()) == 1 })
	h.drop(0, "b.csv", csvBody("b", 2))
	h.waitDone(0, "b.csv")
	created := map[string]time.Time{}
	for _, u := range h.fake.UploadRequests() {
		created[u.ID] = u.At
	}
	if n := len(uploadRequestsOf(h, "b")); n < 2 {
		t.Fatalf("b has %d upload requests; want the one prepared during the validation and a fresh one", n)
	}
	for _, c := range h.fake.Commits() {
		if age := c.At.Sub(created[c.UploadID]); age >= ttl {
			t.Errorf("%s was PATCHed %s after its upload request was created, past its URL's %s", c.Filename, age, ttl)
		}
	}
	if !strings.Contains(h.logBuf.String(), "signed URL expired while the list validated") {
		t.Error("the log does not say why a fresh upload request was asked for")
	}
}

// Where Talkdesk refuses to create an upload request while the list
// validates, the next file waits for the end of the validation to ask.
func TestCreateRefusedWhileValidatingWaits(t *testing.T) {
	t.Parallel()
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{Validation: 300 * time.Millisecond, RefuseCreateWhileValidating: true},
				[]string{"L"}, fmt.Sprintf("verify: %t\n", verify))
			h.start()
			for i := range 3 {
				h.drop(0, fmt.Sprintf("c%d.csv", i), csvBody(fmt.Sprintf("c%d", i), i+1))
			}
			for i := range 3 {
				h.waitDone(0, fmt.Sprintf("c%d.csv", i))
			}
			if n := len(h.fake.Commits()); n != 3 {
				t.Fatalf("commits = %d, want 3", n)
			}
			if n := len(h.fake.UploadRequests()); n != 3 {
				t.Fatalf("upload requests = %d, want 3 (a refused one is not created)", n)
			}
		})
	}
}

// A PATCH whose answer was lost and that then meets 409 while the list
// validates an earlier upload is not taken as applied: with verify off
// nothing says the earlier validation has ended, so listdrop asks again
// once the list is idle.
func TestLostPatchAnswerWhileTheListValidatesIsNotTakenAsApplied(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{Validation: time.Hour}, []string{"L"}, "verify: false\n")
	h.start()
	h.drop(0, "a.csv", csvBody("a", 1))
	eventually(t, "a's validation to begin", func() bool { return len(h.fake.Validations()) == 1 })
	// b's first PATCH gets no answer (and is not applied: the list is
	// busy); its next ones meet 409.
	h.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepPatch, Status: 502})
	h.drop(0, "b.csv", csvBody("b", 2))
	eventually(t, "b's PATCHes to meet 409", func() bool {
		n := 0
		for _, r := range h.fake.Requests() {
			if r.Method == "PATCH" && r.Status == 409 {
				n++
			}
		}
		return n >= 1 && h.fake.PendingFaults() == 0
	})
	eventually(t, "listdrop to look at the list", func() bool { return h.fake.ListGets("L") >= 2 })
	if fileExists(h.folder(0).Done + "/b.csv") {
		t.Fatal("b was taken as uploaded while the list validated a")
	}
	h.fake.EndValidation("L")
	h.waitDone(0, "b.csv")
	if c := h.fake.CommitsFor("L"); len(c) != 2 {
		t.Fatalf("commits = %d, want 2", len(c))
	}
}

// A list waiting out a Retry-After holds no worker either.
func TestABackoffHoldsNoWorker(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"A", "B"}, "workers: 1\nretry:\n  max_backoff: 1h\n  give_up_after: 2h\n")
	h.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 503, Header: map[string]string{"Retry-After": "3600"}})
	h.start()
	h.drop(0, "a.csv", csvBody("a", 1))
	eventually(t, "a's create to be refused", func() bool { return h.fake.PendingFaults() == 0 })
	h.drop(1, "b.csv", csvBody("b", 2))
	h.waitDone(1, "b.csv")
	if c := h.fake.CommitsFor("A"); len(c) != 0 {
		t.Fatalf("A committed %d files during its hour of Retry-After", len(c))
	}
}
