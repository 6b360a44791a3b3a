package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

func TestNetworkFaultsAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault faketalkdesk.Fault
	}{
		{"reset mid-body on create", faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 201, Body: `{"id":"x","signed_url":"http://127.0.0.1/x","status":"CREATED"}`, Reset: true}},
		{"reset mid-body on token", faketalkdesk.Fault{Step: faketalkdesk.StepToken, Status: 200, Body: `{"access_token":"abcdefghijklmnopqrstu","token_type":"Bearer","expires_in":3600}`, Reset: true}},
		{"no answer on create (timeout)", faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Hang: true}},
		{"no answer on put (timeout)", faketalkdesk.Fault{Step: faketalkdesk.StepPut, Hang: true}},
		{"no answer on patch, applied (timeout)", faketalkdesk.Fault{Step: faketalkdesk.StepPatch, Hang: true, Apply: true}},
		{"trickling answer", faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 503, Trickle: 100 * time.Millisecond}},
		{"truncated JSON 201", faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 201, Body: `{"id":"abc","signed_url":"http://127.0`}},
		{"201 without signed_url", faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 201, Body: `{"id":"abc","status":"CREATED"}`}},
		{"200 garbage on patch", faketalkdesk.Fault{Step: faketalkdesk.StepPatch, Status: 200, Body: `<html>oops</html>`, Apply: true}},
		{"10 MB answer", faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 201, Body: `{"id":"` + strings.Repeat("a", 10<<20) + `"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
			h.cfg.Talkdesk.Timeout = 500 * time.Millisecond
			h.fake.Inject(tt.fault)
			h.start()
			h.drop(0, "n.csv", csvBody("n", 1))
			h.waitDone(0, "n.csv")
			if n := len(h.fake.Commits()); n != 1 {
				t.Fatalf("commits = %d, want 1", n)
			}
			if h.fake.PendingFaults() != 0 {
				t.Fatal("the fault was never met")
			}
		})
	}
}

func TestAPIUnreachableGivesUpWithTheCause(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "retry:\n  max_backoff: 20ms\n  give_up_after: 300ms\n")
	// An address where nothing listens: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	h.cfg.Talkdesk.APIURL = dead
	h.start()
	h.drop(0, "r.csv", csvBody("r", 1))
	s := h.waitFailed(0, "r.csv")
	if first := strings.SplitN(s, "\n", 2)[0]; !strings.Contains(first, "gave up") || !strings.Contains(first, "could not reach Talkdesk") {
		t.Fatalf("first line: %q", first)
	}
	if runtime.GOOS == "windows" {
		t.Skip("the first line is right; the cause below it is in Windows' words there, not \"connection refused\"")
	}
	if !strings.Contains(s, "connection refused") {
		t.Fatalf("the explanation does not name the cause:\n%s", s)
	}
}

func TestTokenEndpointDownKeepsFilesWaiting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "retry:\n  max_backoff: 20ms\n  give_up_after: 100ms\n")
	var faults []faketalkdesk.Fault
	for range 1000 {
		faults = append(faults, faketalkdesk.Fault{Step: faketalkdesk.StepToken, Status: 503})
	}
	h.fake.Inject(faults...)
	h.start()
	h.drop(0, "w.csv", csvBody("w", 1))
	// Well past give_up_after: still waiting, because the token is not the
	// file's fault.
	eventually(t, "ten token attempts", func() bool { return h.requests("POST", "/oauth/token") >= 10 })
	if n := dirNames(t, h.folder(0).Failed); len(n) != 0 {
		t.Fatalf("failed/ = %v", n)
	}
	h.stop()
	if !fileExists(filepath.Join(h.claimDir(0), "w.csv")) {
		t.Fatal("the file is not held while the token endpoint is down")
	}
}

func TestPersistentSignatureMismatchFailsClearly(t *testing.T) {
	t.Parallel()
	// give_up_after is long: the file must fail after a few refused URLs,
	// not after a day of abandoned upload requests.
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "retry:\n  max_backoff: 20ms\n  give_up_after: 24h\n")
	var faults []faketalkdesk.Fault
	for range 200 {
		faults = append(faults, faketalkdesk.Fault{Step: faketalkdesk.StepPut, Status: 403,
			Body: `<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>`})
	}
	h.fake.Inject(faults...)
	h.start()
	h.drop(0, "sig.csv", csvBody("sig", 1))
	s := h.waitFailed(0, "sig.csv")
	if first := strings.SplitN(s, "\n", 2)[0]; !strings.Contains(first, "signature does not match") {
		t.Fatalf("first line: %q", first)
	}
	if !strings.Contains(s, "Storage code:    SignatureDoesNotMatch") {
		t.Fatalf("explanation:\n%s", s)
	}
	if n := h.requests("POST", "upload-requests"); n != talkdesk.MaxRefusedURLs {
		t.Fatalf("upload requests = %d, want %d: a fresh URL for each refusal, then stop", n, talkdesk.MaxRefusedURLs)
	}
	if !strings.Contains(s, "Upload request:") {
		t.Fatalf("the explanation does not name the last upload request:\n%s", s)
	}
}

func TestTokenShorterThanAnUpload(t *testing.T) {
	t.Parallel()
	// Each request takes 400 ms and a token lives 1 s: tokens expire in the
	// middle of a file's requests.
	h := newHarness(t, faketalkdesk.Options{TokenTTL: time.Second, Latency: 400 * time.Millisecond}, []string{"L"}, "")
	h.start()
	for i := range 2 {
		h.drop(0, fmt.Sprintf("t%d.csv", i), csvBody(fmt.Sprint("t", i), 1))
	}
	h.waitDone(0, "t0.csv")
	h.waitDone(0, "t1.csv")
	if n := h.fake.TokensIssued(); n < 2 {
		t.Fatalf("tokens issued = %d: the test did not outlive a token", n)
	}
}

func TestFileRewrittenDuringUploadIsNotCommittedWithOldContent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	api := h.client()
	newBody := csvBody("second-version", 3)
	var once atomic.Bool
	h.api = &funcAPI{
		inner:  api,
		create: api.CreateUploadRequest,
		put: func(ctx context.Context, u string, b []byte, m [16]byte) error {
			if once.CompareAndSwap(false, true) {
				// A writer rewrites the claimed file while it is sent.
				claimed := filepath.Join(h.claimDir(0), "rw.csv")
				if err := os.WriteFile(claimed, newBody, 0o644); err != nil {
					return err
				}
				future := time.Now().Add(time.Minute)
				os.Chtimes(claimed, future, future)
			}
			return api.Put(ctx, u, b, m)
		},
		patch: api.MarkUploaded,
	}
	h.start()
	h.drop(0, "rw.csv", csvBody("first-version", 1))
	p := h.waitDone(0, "rw.csv")
	if got, _ := os.ReadFile(p); !bytes.Equal(got, newBody) {
		t.Fatal("done/rw.csv does not hold the new content")
	}
	c := h.fake.Commits()
	if len(c) != 1 || c[0].Checksum != md5hex(newBody) {
		t.Fatalf("commits = %d; the committed content must be the new one", len(c))
	}
}

func TestFileRemovedDuringUploadIsNotCommitted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	api := h.client()
	h.api = &funcAPI{
		inner:  api,
		create: api.CreateUploadRequest,
		put: func(ctx context.Context, u string, b []byte, m [16]byte) error {
			os.Remove(filepath.Join(h.claimDir(0), "gone.csv"))
			return api.Put(ctx, u, b, m)
		},
		patch: api.MarkUploaded,
	}
	h.start()
	h.drop(0, "gone.csv", csvBody("gone", 1))
	eventually(t, "the removal to be noticed", func() bool { return strings.Contains(h.logBuf.String(), "removed while it was uploaded") })
	h.stop()
	if n := len(h.fake.Commits()); n != 0 {
		t.Fatalf("a removed file was committed (%d)", n)
	}
	store, err := state.Open(h.cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if act, _ := store.Active(); len(act) != 0 {
		t.Fatalf("the removed file is still held: %+v", act)
	}
}

func TestUnreadableFileIsRetriedThenFailedWithTheCause(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "retry:\n  max_backoff: 20ms\n  give_up_after: 400ms\n")
	var reads atomic.Int32
	h.tweak = func(p *Pipeline) {
		p.readDropped = func(path string, limit int64) ([]byte, fsutil.Info, error) {
			if filepath.Base(path) == "locked.csv" {
				reads.Add(1)
				return nil, fsutil.Info{}, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
			}
			return fsutil.ReadDropped(path, limit)
		}
	}
	h.cfg.Rescan = 50 * time.Millisecond
	h.start()
	h.drop(0, "locked.csv", csvBody("locked", 1))
	s := h.waitFailed(0, "locked.csv")
	if first := strings.SplitN(s, "\n", 2)[0]; !strings.Contains(first, "could not read") || !strings.Contains(first, "permission denied") {
		t.Fatalf("first line: %q", first)
	}
	if reads.Load() < 2 {
		t.Fatalf("read tried %d times: it must be retried before failing", reads.Load())
	}
	if strings.Count(h.logBuf.String(), "cannot read the file; will keep trying") != 1 {
		t.Fatal("the read problem must be logged once, not on every try")
	}
}

func TestUnwritableDoneFolderKeepsTheFileUntilItWorks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	done := h.folder(0).Done
	// A file where the folder should be: no move can succeed, even as root.
	if err := os.MkdirAll(filepath.Dir(done), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, []byte("blocker"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.drop(0, "m.csv", csvBody("m", 1))
	eventually(t, "the commit", func() bool { return len(h.fake.Commits()) == 1 })
	eventually(t, "the move to fail", func() bool { return strings.Contains(h.logBuf.String(), "cannot move the file") })
	h.stop()
	if !fileExists(filepath.Join(h.claimDir(0), "m.csv")) {
		t.Fatal("the file is not kept while done/ cannot be written")
	}
	store, err := state.Open(h.cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := store.Active()
	store.Close()
	if len(act) != 1 || act[0].Phase != state.Committed || act[0].LastError == "" {
		t.Fatalf("the state does not record the committed file and why it waits: %+v", act)
	}
	os.Remove(done)
	h.start()
	h.waitDone(0, "m.csv")
	if n := len(h.fake.Commits()); n != 1 {
		t.Fatalf("commits = %d", n)
	}
}

func TestDropFolderDisappearsAndComesBack(t *testing.T) {
	t.Parallel()
	if os.Getenv("LISTDROP_UNDER_WINE") == "1" {
		t.Skip("under Wine 8 a watched folder that is deleted stays until its watch is closed, and no notification says it went; on Windows the watch ends with an error that fsnotify reports as the folder's removal")
	}
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.cfg.Rescan = 100 * time.Millisecond
	h.start()
	body := csvBody("before", 1)
	h.drop(0, "a.csv", body)
	h.waitDone(0, "a.csv")
	dir := h.folder(0).Path
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing folder to be noticed", func() bool { return strings.Contains(h.logBuf.String(), "folder is not available") })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.drop(0, "b.csv", csvBody("after", 1))
	h.waitDone(0, "b.csv")
	// The state was not cleared: the first content is still a duplicate.
	h.drop(0, "a-again.csv", body)
	h.waitFailed(0, "a-again.csv")
	if n := len(h.fake.Commits()); n != 2 {
		t.Fatalf("commits = %d, want 2", n)
	}
}

func TestManyFilesAtOnceNoneMissed(t *testing.T) {
	t.Parallel()
	// 5000 at once overflow the watcher's event queue on most systems. The
	// race detector makes that many take minutes: CI runs the whole test
	// without it too.
	n := 5000
	if testing.Short() || raceEnabled {
		n = 1000
	}
	h := newHarness(t, faketalkdesk.Options{}, []string{"L1", "L2", "L3", "L4"}, "workers: 4\nverify: false\n")
	h.start()
	for i := range n {
		h.drop(i%4, fmt.Sprintf("m%05d.csv", i), csvBody(fmt.Sprint("m", i), 1))
	}
	// Counting commits is cheap; listing 5000 files every few milliseconds
	// is not, and would slow what it watches.
	eventually(t, fmt.Sprintf("%d commits", n), func() bool { return len(h.fake.Commits()) >= n })
	eventually(t, fmt.Sprintf("%d files in done/", n), func() bool {
		c := 0
		for i := range 4 {
			c += len(dirNames(t, h.folder(i).Done))
		}
		return c == n
	})
	if c := len(h.fake.Commits()); c != n {
		t.Fatalf("commits = %d, want %d", c, n)
	}
}

// startPeer runs a second pipeline, with its own state file, on the same
// folders and the same fake: a second server sharing a network folder.
func startPeer(t *testing.T, h *harness) func() {
	t.Helper()
	cfg := *h.cfg
	cfg.StateFile = filepath.Join(h.dir, "peer-state.db")
	store, err := state.Open(cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Config: &cfg, Store: store, API: h.client(), RetryBase: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", 2)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		store.Close()
	}
	t.Cleanup(stop)
	return stop
}

func TestTwoProcessesOnOneFolderCommitEachFileOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	h.cfg.Settle = 0 // both see every file at once: the claim decides
	h.start()
	stopPeer := startPeer(t, h)
	const n = 500
	for i := range n {
		h.drop(i%2, fmt.Sprintf("s%03d.csv", i), csvBody(fmt.Sprint("s", i), 1))
	}
	eventually(t, "all files in done/", func() bool {
		return len(dirNames(t, h.folder(0).Done))+len(dirNames(t, h.folder(1).Done)) == n
	})
	stopPeer()
	seen := map[string]int{}
	for _, c := range h.fake.Commits() {
		seen[c.Checksum]++
	}
	if len(seen) != n {
		t.Fatalf("distinct contents committed = %d, want %d", len(seen), n)
	}
	for sum, k := range seen {
		if k != 1 {
			t.Fatalf("content %s committed %d times", sum, k)
		}
	}
	if !strings.Contains(h.logBuf.String(), "peer=2") {
		t.Fatal("the second process did nothing: the test did not test sharing")
	}
}

func TestClaimsOfAStoppedProcessAreAdopted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		committed bool // the stopped process had committed the file
		marker    bool
		// it stopped while writing the marker: its temporary file is left
		halfMarker bool
	}{
		{"claimed, nothing sent", false, false, false},
		{"PATCH sent and applied", true, true, false},
		{"PATCH sent, not applied", false, true, false},
		{"stopped while writing the marker", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
			deadDir := filepath.Join(h.folder(0).Path, claimDirName, "0123456789abcdef")
			if err := os.MkdirAll(deadDir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := csvBody("adopt", 2)
			claimed := filepath.Join(deadDir, "orphan.csv")
			if err := os.WriteFile(claimed, body, 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.marker {
				api := h.client()
				ctx := context.Background()
				ur, err := api.CreateUploadRequest(ctx, talkdesk.CreateRequest{ListID: "L",
					CSV: talkdesk.Metadata{Filename: "orphan.csv", ByteSize: len(body), Checksum: md5hex(body), ContentType: "text/csv"}})
				if err != nil {
					t.Fatal(err)
				}
				if err := api.Put(ctx, ur.SignedURL, body, md5Sum(body)); err != nil {
					t.Fatal(err)
				}
				if tt.committed {
					if err := api.MarkUploaded(ctx, "L", ur.ID); err != nil {
						t.Fatal(err)
					}
				}
				if err := writeMarker(state.Record{Key: claimed, ListID: "L", MD5: md5hex(body), UploadID: ur.ID}, markerKeyOf(h.cfg.Talkdesk)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.halfMarker {
				if err := os.WriteFile(fsutil.TempName(markerPath(claimed)), []byte(`{"name":"orph`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			old := time.Now().Add(-time.Hour)
			hb := filepath.Join(deadDir, heartbeatName)
			os.WriteFile(hb, nil, 0o644)
			os.Chtimes(hb, old, old)
			h.start()
			h.waitDone(0, "orphan.csv")
			if n := len(h.fake.Commits()); n != 1 {
				t.Fatalf("commits = %d, want exactly 1", n)
			}
			eventually(t, "the stale claim folder to be removed", func() bool { return !fileExists(deadDir) })
		})
	}
}

func TestClaimsOfALiveProcessAreLeftAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	liveDir := filepath.Join(h.folder(0).Path, claimDirName, "fedcba9876543210")
	os.MkdirAll(liveDir, 0o755)
	os.WriteFile(filepath.Join(liveDir, heartbeatName), nil, 0o644) // fresh heartbeat
	os.WriteFile(filepath.Join(liveDir, "theirs.csv"), csvBody("theirs", 1), 0o644)
	h.start()
	h.drop(0, "mine.csv", csvBody("mine", 1))
	h.waitDone(0, "mine.csv")
	if !fileExists(filepath.Join(liveDir, "theirs.csv")) {
		t.Fatal("a live process's claim was taken")
	}
	if n := len(h.fake.Commits()); n != 1 {
		t.Fatalf("commits = %d", n)
	}
}

func TestUnusualNames(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("Case.csv and case.CSV are one name on Windows; TestWindowsUnusualNames is this test there")
	}
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.start()
	long := strings.Repeat("n", 251) + ".csv" // 255 bytes: the most a name may have
	names := []string{"with space.csv", "Ünïcödé.csv", "emoji-😀.csv", "Case.csv", "case.CSV", long}
	if err := os.MkdirAll(h.folder(0).Done, 0o755); err != nil {
		t.Fatal(err)
	}
	// The long name is already in done/: the new one needs a suffix that
	// still fits in 255 bytes.
	if err := os.WriteFile(filepath.Join(h.folder(0).Done, long), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		h.drop(0, n, csvBody(fmt.Sprint("u", i), 1))
	}
	for _, n := range names[:len(names)-1] {
		h.waitDone(0, n)
	}
	eventually(t, "the long name in done/ under a suffix", func() bool { return len(dirNames(t, h.folder(0).Done)) == len(names)+1 })
	for _, n := range dirNames(t, h.folder(0).Done) {
		if len(n) > 255 {
			t.Fatalf("a name over 255 bytes: %d", len(n))
		}
	}
	// A long name that fails gets a sidecar that fits too.
	h.drop(0, long, nil)
	eventually(t, "the empty long-named file in failed/", func() bool { return len(dirNames(t, h.folder(0).Failed)) == 2 })
	if n := len(h.fake.Commits()); n != len(names) {
		t.Fatalf("commits = %d", n)
	}
}

func TestBOMAndCRLFAreUploadedAsTheyAre(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.start()
	body := []byte("\xEF\xBB\xBFfirst_name,last_name,mobile_phone\r\nAda,Lovelace,+442071234567\r\n")
	h.drop(0, "bom.csv", body)
	h.waitDone(0, "bom.csv")
	if c := h.fake.Commits(); len(c) != 1 || !bytes.Equal(c[0].Body, body) {
		t.Fatal("the bytes were changed on the way")
	}
}

func TestHalfWrittenMarkerIsRemovedAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	dir := h.claimDir(0)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".listdrop-abc123.tmp") // as a kill during writeFileAtomic leaves it
	if err := os.WriteFile(tmp, []byte(`{"name":`), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.drop(0, "after.csv", csvBody("after", 1))
	h.waitDone(0, "after.csv")
	if fileExists(tmp) {
		t.Fatal("a half-written marker was left in the claim folder")
	}
}
