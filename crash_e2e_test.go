package main

// Crash points, end to end: for every named point of a file's life, the
// real binary built with the crashpoints tag is ended there as kill -9
// would end it, started again, and the file must end where it belongs,
// committed once, with one history entry and nothing left held.

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
	"github.com/listdrop/listdrop/state"
)

// crashEnv is internal/crashpoint's Env, which the untagged test build
// cannot see as "on".
const crashEnv = "LISTDROP_CRASH_AT"

// How a file reaches a crash point.
type scenario string

const (
	fresh     scenario = "new"       // new content dropped in a folder: done/
	duplicate scenario = "duplicate" // content imported before: failed/
	verified  scenario = "verify"    // new content, with verify: true
	forced    scenario = "forced"    // a duplicate let through once: done/
	viaUpload scenario = "upload"    // `listdrop upload`, no daemon
	// a file of three parts in a folder with split: true: done/
	splitFile scenario = "split"
	// the same, Talkdesk rejecting its second part: failed/, beside it
	// the records of parts 2 and 3 in contacts.remaining.csv
	splitRejected scenario = "split-rejected"
	// the file of three parts through `listdrop upload --split`
	uploadSplit scenario = "upload-split"
)

// oneShot reports whether the scenario's file goes through `listdrop
// upload` instead of a daemon.
func (s scenario) oneShot() bool { return s == viaUpload || s == uploadSplit }

// again says whether a start after a crash at a point passes the point
// again: it says which step the restart repeats.
type again int

const (
	notAgain again = iota
	isAgain
	// the point is one of two writes made side by side: whether the other
	// reached the disk before the crash decides.
	maybeAgain
)

// crashTable is every crash point with the scenarios that reach it. A
// point named name:n is the n-th pass there (LISTDROP_CRASH_AT's syntax):
// a split file passes the upload's points once per part.
// TestCrashPointTableMatchesTheCode keeps it in step with the code.
var crashTable = []struct {
	point string
	scen  scenario
	again again
}{
	{"claim.renamed", fresh, notAgain},
	{"take.hashed", fresh, isAgain},
	{"take.checked", fresh, isAgain},
	{"upload.created", fresh, isAgain},
	{"upload.put", fresh, isAgain},
	{"patch.record-written", fresh, notAgain},
	{"patch.marker-written", fresh, maybeAgain},
	{"patch.sending", fresh, isAgain},
	{"patch.sent", fresh, isAgain},
	{"patch.answered", fresh, isAgain},
	{"commit.written", fresh, notAgain},
	{"done.moved", fresh, notAgain},
	{"history.written", fresh, notAgain},
	{"verdict.recorded", verified, notAgain},

	{"claim.renamed", duplicate, notAgain},
	{"take.hashed", duplicate, isAgain},
	{"take.checked", duplicate, isAgain},
	{"fail.recorded", duplicate, notAgain},
	{"failed.explained", duplicate, notAgain},
	{"failed.moved", duplicate, notAgain},
	{"history.written", duplicate, notAgain},

	{"take.allowance-recorded", forced, notAgain},
	{"patch.sent", forced, isAgain},

	// The upload command shares the upload protocol's points with the
	// daemon; its own are its write-ahead record, its commit and its
	// history entry.
	{"upload.created", viaUpload, isAgain},
	{"upload.put", viaUpload, isAgain},
	{"oneshot.record-written", viaUpload, notAgain},
	{"patch.sending", viaUpload, isAgain},
	{"patch.sent", viaUpload, isAgain},
	{"patch.answered", viaUpload, isAgain},
	{"oneshot.committed", viaUpload, notAgain},
	{"oneshot.history-written", viaUpload, notAgain},

	// The second part of a split file, through the upload's points: a
	// start after the crash resumes at that part, so the pass count there
	// is reached again at the third part, except for the write-ahead
	// record, which the resumed part does not write again.
	{"upload.created:2", splitFile, isAgain},
	{"upload.put:2", splitFile, isAgain},
	{"patch.record-written:2", splitFile, notAgain},
	{"patch.sending:2", splitFile, isAgain},
	{"patch.sent:2", splitFile, isAgain},
	{"patch.answered:2", splitFile, isAgain},
	// A part answered (its PATCH applied, its validation not yet followed)
	// and its progress recorded (the next part to be sent): part 3 is the
	// last, after which nothing is recorded.
	{"part.answered", splitFile, isAgain},
	{"part.answered:2", splitFile, isAgain},
	{"part.recorded", splitFile, isAgain},
	{"part.recorded:2", splitFile, notAgain},
	{"commit.written", splitFile, notAgain},
	{"done.moved", splitFile, notAgain},
	{"history.written", splitFile, notAgain},

	{"part.answered:2", splitRejected, notAgain},
	{"fail.recorded", splitRejected, notAgain},
	{"remaining.written", splitRejected, notAgain},
	{"failed.explained", splitRejected, notAgain},
	{"failed.moved", splitRejected, notAgain},
	{"history.written", splitRejected, notAgain},

	// The upload command's own points for a split file: its parts
	// answered and recorded as the daemon's are.
	{"oneshot.part-answered", uploadSplit, isAgain},
	{"patch.sending:2", uploadSplit, isAgain},
	{"oneshot.part-recorded", uploadSplit, isAgain},
	{"oneshot.part-recorded:2", uploadSplit, notAgain},
	{"oneshot.committed", uploadSplit, notAgain},
	{"oneshot.history-written", uploadSplit, notAgain},
}

// pointName is a crash table point without its pass number.
func pointName(point string) string {
	name, _, _ := strings.Cut(point, ":")
	return name
}

// What happens around the crash.
const (
	crashOnce  = "once"       // one crash, then a start without crash points
	crashTwice = "twice"      // the start after the crash has the same point set
	answerLost = "patch-lost" // Talkdesk applies the first PATCH and its answer is lost
	adopted    = "adopted"    // another listdrop, with its own state file, takes the file over
)

var (
	crashBinOnce sync.Once
	crashBin     string
	crashBinErr  error
)

// crashBinary builds listdrop with the crashpoints tag, once per test run.
// Where there is no Go toolchain (the tests run as a Windows program under
// Wine), it is built beforehand and named by LISTDROP_TEST_CRASH_BINARY.
func crashBinary(t *testing.T) string {
	t.Helper()
	crashBinOnce.Do(func() {
		if b := os.Getenv("LISTDROP_TEST_CRASH_BINARY"); b != "" {
			crashBin = b
			return
		}
		if os.Getenv("LISTDROP_TEST_BINARY") != "" {
			crashBinErr = fmt.Errorf("LISTDROP_TEST_BINARY is set without LISTDROP_TEST_CRASH_BINARY: no listdrop built with -tags crashpoints to run")
			return
		}
		crashBin = filepath.Join(filepath.Dir(binary), "listdrop-crashpoints")
		if runtime.GOOS == "windows" {
			crashBin += ".exe"
		}
		crashBinErr = testutil.BuildListdrop(".", crashBin, "crashpoints")
	})
	if crashBinErr != nil {
		t.Fatal(crashBinErr)
	}
	return crashBin
}

func TestCrashPoints(t *testing.T) {
	bin := crashBinary(t)
	for _, row := range crashTable {
		variants := []string{crashOnce, crashTwice}
		if row.scen != duplicate {
			variants = append(variants, answerLost)
		}
		if (row.scen == fresh || row.scen == splitFile) && !slices.Contains([]string{"done.moved", "history.written"}, row.point) ||
			row.scen == splitRejected && !slices.Contains([]string{"failed.moved", "history.written"}, row.point) {
			// Until the file leaves the claim folder, it is another
			// listdrop's to adopt.
			variants = append(variants, adopted)
		}
		for _, v := range variants {
			t.Run(fmt.Sprintf("%s/%s/%s", row.scen, row.point, v), func(t *testing.T) {
				t.Parallel()
				c := newCrashCase(t, bin, row.scen)
				c.run(row.point, v, row.again)
			})
		}
	}
}

// crashCase is one file taken through one crash.
type crashCase struct {
	*e2e
	bin    string
	scen   scenario
	name   string // the file's name
	body   []byte
	sum    string
	parts  [][]byte // what each part of a split file uploads
	source string   // where it is dropped
	// lastHeld is what .listdrop held when the file was last found not
	// finished, for the message when it never is.
	lastHeld []string
}

func newCrashCase(t *testing.T, bin string, scen scenario) *crashCase {
	extra := ""
	var opts faketalkdesk.Options
	switch scen {
	case verified:
		extra = "verify: true\nverify_timeout: 30s\n"
	case splitFile, splitRejected:
		extra = "split: true\n"
		opts = faketalkdesk.Options{Columns: template, Validation: 10 * time.Millisecond}
	case uploadSplit:
		opts = faketalkdesk.Options{Columns: template, Validation: 10 * time.Millisecond}
	}
	e := newE2E(t, opts, []string{"L1"}, extra)
	c := &crashCase{e2e: e, bin: bin, scen: scen, name: "contacts.csv", body: rows(t.Name())}
	if scen == splitFile || scen == splitRejected || scen == uploadSplit {
		c.body = contactsCSV("Crash", 1700)
		if scen == splitRejected {
			c.body = withMarker(t, c.body, 2, rejectMarker)
			e.fake.SetVerdict(rejectsMarker)
		}
		c.parts = cutParts(t, c.body)
		if len(c.parts) != 3 {
			t.Fatalf("the file is cut into %d parts, want 3", len(c.parts))
		}
	}
	sum := md5.Sum(c.body)
	c.sum = hex.EncodeToString(sum[:])
	c.source = filepath.Join(e.folders[0], c.name)
	if scen.oneShot() {
		c.source = filepath.Join(e.dir, "outside", c.name)
		if err := os.MkdirAll(filepath.Dir(c.source), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.source, c.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if scen == duplicate || scen == forced {
		// The same content imported before, by the one-shot command, so
		// that no daemon passes a point before the file under test does.
		earlier := filepath.Join(e.dir, "earlier.csv")
		if err := os.WriteFile(earlier, c.body, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := c.cli(nil, "upload", "--config", e.config, "--list", "L1", earlier); code != 0 {
			t.Fatalf("upload earlier.csv: exit %d\n%s%s", code, out, errOut)
		}
	}
	return c
}

func (c *crashCase) cli(env []string, args ...string) (string, string, int) {
	c.t.Helper()
	return runBinary(c.t, c.bin, append([]string{"E2E_SECRET=" + e2eSecret}, env...), args...)
}

// startWith starts `listdrop run` with extra environment variables, and
// returns once it answers on its admin address or has ended.
func (c *crashCase) startWith(env ...string) *daemon {
	c.t.Helper()
	c.freshListen()
	cmd := exec.Command(c.bin, "run", "--config", c.config)
	cmd.Env = append(os.Environ(), append([]string{"E2E_SECRET=" + e2eSecret}, env...)...)
	d := &daemon{cmd: cmd, out: &testutil.LockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd = testutil.Start(c.t, cmd)
	d.cmd = cmd
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	d.watchWineCrash()
	c.t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			cmd.Process.Kill()
			<-d.exited
		}
		if c.t.Failed() {
			c.t.Logf("output of listdrop run %s:\n%s", strings.Join(env, " "), d.out.String())
		}
	})
	// It holds the state file before it listens: until then, the history
	// command can neither ask it nor read the file.
	c.learnAdmin(d)
	return d
}

// crashed waits for d to end and checks that it ended at point, killed.
func (c *crashCase) crashed(d *daemon, point string) {
	c.t.Helper()
	point = pointName(point)
	c.eventually("listdrop to crash at "+point, func() bool {
		select {
		case <-d.exited:
			return true
		default:
			return false
		}
	})
	if !strings.Contains(d.out.String(), "crashpoint: crashing at "+point+"\n") {
		c.t.Fatalf("listdrop ended (%v) without reaching the crash point %s", d.err, point)
	}
	if d.endedOutside.Load() {
		c.t.Logf("Wine had not ended listdrop %v after it began to crash at %s; the test ended it", wineCrashGrace, point)
		return
	}
	if !killed(d.cmd.ProcessState) {
		c.t.Fatalf("listdrop reached %s but was not ended the way kill -9 ends it: %v", point, d.cmd.ProcessState)
	}
}

// wineCrashGrace is how long a process that has begun to crash at a
// point is given to end under Wine before the test ends it.
const wineCrashGrace = 10 * time.Second

// watchWineCrash ends d from outside, under Wine only, when it has
// written that it crashes at a point but is still running wineCrashGrace
// later. Wine's TerminateProcess on the calling process now and then
// never returns and never ends it (the process's other threads are
// already ended by then, and the crash point's lock stays held, so the
// process does nothing more); on Windows it ends the process at once,
// and there a stuck crash stays a failure.
func (d *daemon) watchWineCrash() {
	if !testutil.UnderWine() {
		return
	}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var since time.Time
		for {
			select {
			case <-d.exited:
				return
			case now := <-tick.C:
				if since.IsZero() {
					if strings.Contains(d.out.String(), "crashpoint: crashing at ") {
						since = now
					}
				} else if now.Sub(since) >= wineCrashGrace {
					d.endedOutside.Store(true)
					d.cmd.Process.Kill()
					return
				}
			}
		}
	}()
}

// killed reports whether a process was ended by SIGKILL or, on Windows,
// by TerminateProcess with the crash points' exit code.
func killed(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return false
	}
	if ws.Signaled() {
		return ws.Signal() == syscall.SIGKILL
	}
	return runtime.GOOS == "windows" && ws.ExitStatus() == 137
}

// dest is where the file must end.
func (c *crashCase) dest() string {
	switch c.scen {
	case viaUpload, uploadSplit:
		return c.source
	case duplicate, splitRejected:
		return filepath.Join(c.folders[0], "failed", c.name)
	}
	return filepath.Join(c.folders[0], "done", c.name)
}

// trigger makes the file reach the points, by dropping it or uploading it.
func (c *crashCase) trigger() {
	c.t.Helper()
	if c.scen == forced {
		token, err := admin.ReadToken(admin.TokenPath(filepath.Join(c.dir, "state", "listdrop.db")))
		if err != nil {
			c.t.Fatalf("the admin token: %v", err)
		}
		body, _ := json.Marshal(admin.AllowOnceRequest{ListID: "L1", MD5: c.sum})
		req, err := http.NewRequest(http.MethodPost, "http://"+c.admin+"/allow-once", bytes.NewReader(body))
		if err != nil {
			c.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c.t.Fatalf("allow once: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			c.t.Fatalf("allow once: %s", resp.Status)
		}
	}
	c.drop(0, c.name, c.body)
}

// finished reports whether the file's end is on disk: nothing is held and
// the history has it, written once the file is where it went (check says
// whether that is where it belongs).
func (c *crashCase) finished() bool {
	if held := heldFiles(c.t, c.folders[0]); len(held) != 0 {
		c.lastHeld = held
		return false
	}
	return len(c.history(c.config)) > 0
}

// history is the history's entries for the file, as the command shows
// them with a configuration: asked of the daemon when one answers on its
// admin address, else read from the state file.
func (c *crashCase) history(config string) []state.Entry {
	c.t.Helper()
	out, errOut, code := c.cli(nil, "history", "--config", config, "--since", "24h", "--json")
	if code != 0 {
		c.t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var all, mine []state.Entry
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		c.t.Fatalf("history --json: %v\n%s", err, out)
	}
	for _, e := range all {
		if filepath.Base(e.Source) == c.name {
			mine = append(mine, e)
		}
	}
	return mine
}

func (c *crashCase) run(point, variant string, ag again) {
	t := c.t
	env := crashEnv + "=" + point
	if variant == answerLost {
		c.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepPatch, Apply: true, Status: http.StatusGatewayTimeout})
	}
	if c.scen.oneShot() {
		c.runUpload(point, variant, ag)
		return
	}
	d := c.startWith(env)
	c.eventually("the daemon to prepare its folder", func() bool { return exists(filepath.Join(c.folders[0], ".listdrop")) })
	c.trigger()
	c.crashed(d, point)

	switch variant {
	case crashTwice:
		d = c.startWith(env)
		switch ag {
		case isAgain:
			c.crashed(d, point)
		case notAgain:
			c.eventually("the file to finish without a second crash", func() bool {
				select {
				case <-d.exited:
					t.Fatalf("listdrop ended (%v) where it should not have passed %s again", d.err, point)
				default:
				}
				return c.finished()
			})
			c.stop(d)
		case maybeAgain:
			c.eventually("a second crash or the file finished", func() bool {
				select {
				case <-d.exited:
					return true
				default:
					return c.finished()
				}
			})
			select {
			case <-d.exited:
				c.crashed(d, point)
			default:
				c.stop(d)
			}
		}
	case adopted:
		// This listdrop stopped long ago, for all the other knows.
		mine, err := os.ReadDir(filepath.Join(c.folders[0], ".listdrop"))
		if err != nil || len(mine) != 1 {
			t.Fatalf("the claim folder holds %d entries (%v), want this listdrop's only", len(mine), err)
		}
		claimDir := filepath.Join(c.folders[0], ".listdrop", mine[0].Name())
		old := mustStat(t, claimDir).ModTime().Add(-24 * time.Hour)
		for _, p := range []string{filepath.Join(claimDir, ".alive"), claimDir} {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		c.otherServer()
	}
	d = c.startWith()
	c.eventually("the file to finish", func() bool {
		if c.finished() {
			return true
		}
		if len(c.lastHeld) > 0 {
			t.Logf("not finished yet: .listdrop holds %q", c.lastHeld)
		}
		return false
	})
	c.stop(d)
	c.check()
}

// runUpload is run for `listdrop upload`: crashed, run again (with the
// same point for twice), then run to its end.
func (c *crashCase) runUpload(point, variant string, ag again) {
	t := c.t
	upload := func(env ...string) (string, int, bool) {
		args := []string{"upload", "--config", c.config, "--list", "L1", c.source}
		if c.scen == uploadSplit {
			args = append(args, "--split")
		}
		cmd := exec.Command(c.bin, args...)
		cmd.Env = append(os.Environ(), append([]string{"E2E_SECRET=" + e2eSecret}, env...)...)
		d := &daemon{out: &testutil.LockedBuffer{}, exited: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = d.out, d.out
		d.cmd = testutil.Start(t, cmd)
		go func() { d.err = d.cmd.Wait(); close(d.exited) }()
		d.watchWineCrash()
		<-d.exited
		out := d.out.String()
		crashed := strings.Contains(out, "crashpoint: crashing at "+pointName(point)+"\n")
		if crashed && !killed(d.cmd.ProcessState) && !d.endedOutside.Load() {
			t.Fatalf("listdrop upload reached %s but was not ended the way kill -9 ends it: %v\n%s", point, d.cmd.ProcessState, out)
		}
		return out, d.cmd.ProcessState.ExitCode(), crashed
	}
	if out, _, crashed := upload(crashEnv + "=" + point); !crashed {
		t.Fatalf("listdrop upload did not crash at %s:\n%s", point, out)
	}
	if variant == crashTwice {
		out, code, crashed := upload(crashEnv + "=" + point)
		if crashed != (ag == isAgain) {
			t.Fatalf("listdrop upload run again with the point %s set: crashed %v, want %v (exit %d)\n%s", point, crashed, ag == isAgain, code, out)
		}
	}
	out, code, _ := upload()
	// Once the history has the file, it is a duplicate of itself; before,
	// the run finishes what the crash interrupted.
	if !(code == 0 && strings.Contains(out, "done: upload request")) && !(code != 0 && strings.Contains(out, "which was already imported")) {
		t.Fatalf("listdrop upload after the crash: exit %d\n%s", code, out)
	}
	// Whatever the crash interrupted, the same file is now known: uploaded
	// again, it is refused as imported.
	if out, code, _ := upload(); code == 0 || !strings.Contains(out, "which was already imported") {
		t.Fatalf("the same file uploaded again once finished: exit %d\n%s", code, out)
	}
	c.check()
}

// otherServer switches to the configuration of a second listdrop on the
// same folder, with its own state file and admin address.
func (c *crashCase) otherServer() {
	b, err := os.ReadFile(c.config)
	if err != nil {
		c.t.Fatal(err)
	}
	s := strings.Replace(string(b), "state_file: state/listdrop.db", "state_file: state-b/listdrop.db", 1)
	if s == string(b) {
		c.t.Fatal("the configuration has no state_file line to change")
	}
	s = listenLine.ReplaceAllLiteralString(s, "  listen: "+strconv.Quote(e2eListen))
	p := filepath.Join(c.dir, "listdrop-b.yaml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.config, c.admin = p, ""
}

func mustStat(t *testing.T, p string) fs.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// stop ends a daemon whose work is done and on disk: SIGTERM where there
// is one; on Windows, TerminateProcess (the history entry it waited for is
// on disk).
func (c *crashCase) stop(d *daemon) {
	c.t.Helper()
	d.end(c.t)
}

// check asserts the end state: the file where it belongs with its bytes,
// its content committed once, one history entry, nothing held.
func (c *crashCase) check() {
	t := c.t
	want := map[string][]string{"done": nil, "failed": nil}
	result := state.Done
	switch c.scen {
	case duplicate:
		want["failed"] = []string{c.name, c.name + ".error.txt"}
		result = state.Failed
	case splitRejected:
		want["failed"] = []string{c.name, c.name + ".error.txt", "contacts.remaining.csv"}
		result = state.Failed
	case viaUpload, uploadSplit:
	default:
		want["done"] = []string{c.name}
	}
	for dir, names := range want {
		got := listDir(t, filepath.Join(c.folders[0], dir))
		if !slices.Equal(got, names) {
			t.Errorf("%s/ holds %q, want %q", dir, got, names)
		}
	}
	if b, err := os.ReadFile(c.dest()); err != nil || string(b) != string(c.body) {
		t.Errorf("%s: %v, or not the bytes dropped", c.dest(), err)
	}
	if c.scen.oneShot() {
		if b, err := os.ReadFile(c.source); err != nil || string(b) != string(c.body) {
			t.Errorf("%s: %v, or not the bytes uploaded", c.source, err)
		}
	}
	if left := listDir(t, c.folders[0]); !c.scen.oneShot() && !slices.Equal(left, []string{".listdrop", "done", "failed"}) {
		t.Errorf("the drop folder holds %q", left)
	}
	if held := heldFiles(t, c.folders[0]); len(held) != 0 {
		t.Errorf(".listdrop still holds %q", held)
	}
	if c.parts != nil {
		c.checkParts()
	} else {
		commits := 0
		for _, cm := range c.fake.Commits() {
			if cm.Checksum == c.sum {
				commits++
			}
		}
		wantCommits := 1
		if c.scen == forced {
			wantCommits = 2 // the earlier import and the one let through
		}
		if commits != wantCommits {
			t.Errorf("the content was committed %d times, want %d", commits, wantCommits)
		}
	}
	if n := c.fake.PendingFaults(); n != 0 {
		t.Errorf("%d injected faults were never met", n)
	}
	h := c.history(c.offline())
	if len(h) != 1 || h[0].Result != result {
		t.Errorf("history for %s: %+v, want one entry, %s", c.name, h, result)
	}
	if c.parts != nil && len(h) == 1 {
		in := len(c.parts)
		if c.scen == splitRejected {
			in = 1
		}
		if h[0].Parts != len(c.parts) || len(h[0].PartsIn) != in {
			t.Errorf("history for %s: %d parts, %d in; want %d, %d in", c.name, h[0].Parts, len(h[0].PartsIn), len(c.parts), in)
		}
	}
}

// checkParts checks a split file's commits: each part's upload committed
// once and in order, up to the rejected one; none after it. For a part
// rejected, the note and the records not imported beside the file.
func (c *crashCase) checkParts() {
	t := c.t
	sent := c.parts
	if c.scen == splitRejected {
		sent = c.parts[:2]
	}
	var got [][]byte
	for _, cm := range c.fake.CommitsFor("L1") {
		got = append(got, cm.Body)
	}
	if !slices.EqualFunc(got, sent, bytes.Equal) {
		for k, p := range c.parts {
			n := 0
			for _, b := range got {
				if bytes.Equal(b, p) {
					n++
				}
			}
			t.Errorf("part %d of %d was committed %d times", k+1, len(c.parts), n)
		}
		t.Fatalf("%d commits, want the parts' uploads %d in order, each once", len(got), len(sent))
	}
	if c.scen != splitRejected {
		return
	}
	failed := filepath.Join(c.folders[0], "failed")
	rest, err := os.ReadFile(filepath.Join(failed, "contacts.remaining.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Concat(c.parts[1], c.parts[2][len(csvHeader):]); !bytes.Equal(rest, want) {
		t.Errorf("contacts.remaining.csv holds %d bytes, not the header and the records of parts 2 and 3 (%d bytes)", len(rest), len(want))
	}
	note, err := os.ReadFile(filepath.Join(failed, c.name+".error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	in := len(recordsOf(c.parts[0])) // one line each, after the header line
	all := len(recordsOf(c.body))
	for _, want := range []string{
		"Part 2 of 3 of this file was not imported: ",
		fmt.Sprintf("Part 1 (lines 2–%d) was imported into record list L1; lines %d–%d were not. They are in contacts.remaining.csv beside this note", 1+in, 2+in, 1+all),
	} {
		if first, _, _ := strings.Cut(string(note), "\n"); !strings.Contains(first, want) {
			t.Errorf("the note's first line lacks %q:\n%s", want, first)
		}
	}
}

// offline writes the configuration without its admin address, for the
// commands run once no daemon runs: another test's server may listen there
// by then.
func (c *crashCase) offline() string {
	c.t.Helper()
	b, err := os.ReadFile(c.config)
	if err != nil {
		c.t.Fatal(err)
	}
	listen := regexp.MustCompile(`(?m)^admin:\n  listen: ".*"\n`)
	if !listen.Match(b) {
		c.t.Fatalf("%s has no admin.listen", c.config)
	}
	p := filepath.Join(c.dir, "offline-"+filepath.Base(c.config))
	if err := os.WriteFile(p, listen.ReplaceAll(b, nil), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// listDir is the sorted names in dir, or none when it does not exist.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// runBinary runs a listdrop binary to its end.
func runBinary(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd, err := testutil.Run(t, cmd)
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 && !killed(cmd.ProcessState) {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestCrashPointTableMatchesTheCode reads the sources for crash points:
// each one must be in crashTable, and each row of it in the code.
func TestCrashPointTableMatchesTheCode(t *testing.T) {
	t.Parallel()
	inCode := map[string]string{} // point -> where
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() && p != "." && (strings.HasPrefix(de.Name(), ".") || de.Name() == "testdata") {
			return filepath.SkipDir
		}
		if de.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") ||
			filepath.ToSlash(filepath.Dir(p)) == "internal/crashpoint" {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "crashpoint" || (sel.Sel.Name != "At" && sel.Sel.Name != "Trace") {
				return true
			}
			where := fset.Position(call.Pos()).String()
			lit, ok := call.Args[len(call.Args)-1].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a crash point must be named by a string literal", where)
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			if prev, dup := inCode[name]; dup {
				t.Errorf("%s: crash point %q is also at %s; each point has one place", where, name, prev)
			}
			inCode[name] = where
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inCode) == 0 {
		t.Fatal("no crash point found in the sources: the search is broken")
	}
	inTable := map[string]bool{}
	for _, row := range crashTable {
		if _, pass, ok := strings.Cut(row.point, ":"); ok {
			if n, err := strconv.Atoi(pass); err != nil || n < 1 {
				t.Errorf("crashTable row %q: the pass after the colon must be a number from 1", row.point)
			}
		}
		inTable[pointName(row.point)] = true
	}
	for name, where := range inCode {
		if !inTable[name] {
			t.Errorf("%s: crash point %q is not in crashTable, so no test crashes there", where, name)
		}
	}
	for name := range inTable {
		if _, ok := inCode[name]; !ok {
			t.Errorf("crashTable names %q, which is nowhere in the code", name)
		}
	}
}

// TestReleaseBinaryHasNoCrashPoints: the binary built without the tag
// ignores LISTDROP_CRASH_AT.
func TestReleaseBinaryHasNoCrashPoints(t *testing.T) {
	t.Parallel()
	c := newCrashCase(t, binary, fresh)
	var all []string
	for _, row := range crashTable {
		all = append(all, pointName(row.point))
	}
	d := c.startWith(crashEnv + "=" + strings.Join(all, ","))
	c.eventually("the daemon to prepare its folder", func() bool { return exists(filepath.Join(c.folders[0], ".listdrop")) })
	c.trigger()
	c.eventually("the file to finish", func() bool {
		select {
		case <-d.exited:
			t.Fatalf("the release binary ended (%v)", d.err)
		default:
		}
		return c.finished()
	})
	c.stop(d)
	if strings.Contains(d.out.String(), "crashpoint") {
		t.Fatalf("the release binary mentions crash points:\n%s", d.out.String())
	}
	c.check()
}
