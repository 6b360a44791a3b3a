package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
	"github.com/listdrop/listdrop/state"
)

// TestUploadOneFile drives `listdrop upload` of the real binary: a good
// file is committed once and recorded, so that a second upload and then a
// drop of the same content into the running daemon's folder are
// duplicates; bad files are refused before any call to Talkdesk; with the
// daemon running, the command refuses and names the folder to use.
func TestUploadOneFile(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{Lists: []string{"L1", "L2"}}, []string{"L1"}, "")
	files := filepath.Join(e.dir, "files")
	put := func(name string, data []byte) { writeFile(t, filepath.Join(files, name), data) }
	put("good.csv", rows("one-shot"))
	put("empty.csv", nil)
	put("ragged.csv", []byte("a,b\n1\n"))
	put("other.csv", rows("other"))
	up := func(args ...string) string { return e.transcriptIn(files, append([]string{"upload"}, args...)...) }

	var tr strings.Builder
	tr.WriteString(up("good.csv", "--list", "L1"))
	commits := e.fake.CommitsFor("L1")
	if len(commits) != 1 || commits[0].Filename != "good.csv" || string(commits[0].Body) != string(rows("one-shot")) {
		t.Fatalf("commits after upload: %+v", commits)
	}
	if cb := commits[0].CallbackAction; cb == nil || cb["endpoint"] != "https://hooks.example.com/x" {
		t.Errorf("the folder's callback_action was not sent: %v", cb)
	}
	requests := len(e.fake.Requests())
	tr.WriteString(up("--list", "L1", "./good.csv"))
	tr.WriteString(up("empty.csv", "--list", "L1"))
	tr.WriteString(up("ragged.csv", "--list", "L2"))
	writeFile(t, filepath.Join(e.folders[0], "in-folder.csv"), rows("in folder"))
	tr.WriteString(up(filepath.Join(e.folders[0], "in-folder.csv"), "--list", "L1"))
	if err := os.Remove(filepath.Join(e.folders[0], "in-folder.csv")); err != nil {
		t.Fatal(err)
	}
	if n := len(e.fake.Requests()); n != requests {
		t.Fatalf("refused files made %d requests to Talkdesk", n-requests)
	}
	tr.WriteString(up("other.csv", "--list", "L9"))

	// The state knows the one-shot upload: the daemon refuses the same
	// content as a duplicate, and it is in the history.
	e.start()
	tr.WriteString(up("other.csv", "--list", "L1"))
	tr.WriteString(up("other.csv", "--list", "L2"))
	e.drop(0, "again.csv", rows("one-shot"))
	e.eventually("again.csv failed", func() bool { return finished(e.history(), "again.csv", state.Failed) == 1 })
	note, err := os.ReadFile(filepath.Join(e.folders[0], "failed", "again.csv.error.txt"))
	if err != nil || !strings.Contains(string(note), "same content as good.csv") || !strings.Contains(string(note), commits[0].UploadID) {
		t.Fatalf("again.csv's note: %v\n%s", err, note)
	}
	if finished(e.history(), "good.csv", state.Done) != 1 {
		t.Fatalf("the one-shot upload is not in the history: %+v", e.history())
	}
	if n := len(e.fake.CommitsFor("L1")); n != 1 {
		t.Fatalf("%d commits to L1, want 1", n)
	}
	golden(t, "upload.golden", tr.String())
}

// uploadFixture starts a fake with opts (its client id and secret set)
// and writes, in a new folder, a configuration for it with one folder of
// list L and the extra top-level YAML given; it returns the fake, the
// folder and the configuration's path.
func uploadFixture(t *testing.T, opts faketalkdesk.Options, extra string) (*faketalkdesk.Server, string, string) {
	t.Helper()
	opts.ClientID, opts.ClientSecret = "id", "secret"
	fake, err := faketalkdesk.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "listdrop.yaml")
	writeFile(t, cfg, []byte(fmt.Sprintf("talkdesk: {api_url: %q, token_url: %q, client_id: id, client_secret: secret, timeout: 5s}\n"+
		"state_file: state.db\nadmin: {listen: ''}\n%sfolders:\n  - {path: in, record_list_id: L}\n", fake.URL(), fake.TokenURL(), extra)))
	return fake, dir, cfg
}

// contacts is a CSV of n contacts with the header first_name,last_name,
// phone, its lines ended with eol.
func contacts(n int, eol string) string {
	var b strings.Builder
	b.WriteString("first_name,last_name,phone" + eol)
	for i := range n {
		fmt.Fprintf(&b, "Ann%d,Lee,+35191%07d%s", i, i, eol)
	}
	return b.String()
}

// TestUploadTriesAgain: a transient failure is tried again, and a PATCH
// whose answer was lost, answered 409 when sent again, is taken as
// applied: one commit, exit 0.
func TestUploadTriesAgain(t *testing.T) {
	t.Parallel()
	fake, dir, cfg := uploadFixture(t, faketalkdesk.Options{}, "csv_check: false\n")
	file := filepath.Join(dir, "f.csv")
	writeFile(t, file, []byte("not, really\"csv\n"))
	fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 503},
		faketalkdesk.Fault{Step: faketalkdesk.StepPatch, Status: 504, Apply: true})

	var stdout, stderr strings.Builder
	// Waits of a millisecond between tries.
	upload := uploadCommand{firstWait: time.Millisecond}
	if err := upload.run(context.Background(), []string{file, "--config", cfg, "--list", "L"}, &stdout, &stderr); err != nil {
		t.Fatalf("upload: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if n := len(fake.CommitsFor("L")); n != 1 || fake.PendingFaults() != 0 {
		t.Fatalf("%d commits, %d faults unused", n, fake.PendingFaults())
	}
	if got := strings.Count(stdout.String(), "trying again in"); got != 2 || !strings.Contains(stdout.String(), "done: upload request "+fake.CommitsFor("L")[0].UploadID) {
		t.Fatalf("output:\n%s", stdout.String())
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}

	// Five failures in a row: given up, with the plain sentence.
	fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 500}, faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 500},
		faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 500}, faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 500},
		faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 500})
	writeFile(t, file, []byte("another\n"))
	err := upload.run(context.Background(), []string{file, "--config", cfg, "--list", "L"}, &stdout, &stderr)
	if err == nil || errors.Is(err, errUsage) || !strings.HasPrefix(err.Error(), "Gave up after 5 tries: Talkdesk kept answering with a server error (HTTP 500)") {
		t.Fatalf("upload after 5 failures: %v", err)
	}
	if n := len(fake.CommitsFor("L")); n != 1 {
		t.Fatalf("%d commits", n)
	}
}

func TestUploadUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"upload"}, {"upload", "a.csv"}, {"upload", "--list", "L"}, {"upload", "a.csv", "b.csv", "--list", "L"}} {
		var stdout, stderr strings.Builder
		if err := run(context.Background(), args, &stdout, &stderr); !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "give one FILE and --list ID") {
			t.Errorf("%q: %v, %q", args, err, stderr.String())
		}
	}
}

// TestUploadSplit: `listdrop upload --split` imports a big file part by
// part, each after the one before was validated; without --split it is
// refused with what to do; a part Talkdesk rejects stops the file, the
// rest is written beside it, and uploading that completes the list with
// every record once.
func TestUploadSplit(t *testing.T) {
	t.Parallel()
	fake, dir, cfg := uploadFixture(t, faketalkdesk.Options{Validation: 20 * time.Millisecond, Columns: []string{"first_name", "last_name", "phone"}}, "")
	// Quoted commas and CRLF line ends: parts are cut between records.
	body := strings.ReplaceAll(contacts(1500, "\r\n"), ",Lee,", ",\"Lee, Jr\",")
	file := filepath.Join(dir, "contacts.csv")
	writeFile(t, file, []byte(body))
	upload := uploadCommand{firstWait: time.Millisecond}
	run := func(args ...string) (string, error) {
		var stdout, stderr strings.Builder
		err := upload.run(context.Background(), append(args, "--config", cfg, "--list", "L"), &stdout, &stderr)
		return stdout.String(), err
	}

	if _, err := run(file); err == nil || !strings.HasSuffix(err.Error(), "add --split to import it in parts") {
		t.Fatalf("without --split: %v", err)
	}
	// Part 2 is rejected.
	fake.SetVerdict(func(body []byte) string {
		if strings.Contains(string(body), "Ann700,") {
			return "REJECTED"
		}
		return ""
	})
	out, err := run(file, "--split")
	if err == nil || !strings.HasPrefix(err.Error(), "Part 2 of 3 of this file was not imported: Talkdesk's validation did not accept part 2 (REJECTED)") ||
		!strings.Contains(err.Error(), "They are in "+filepath.Join(dir, "contacts.remaining.csv")) {
		t.Fatalf("a rejected part: %v\n%s", err, out)
	}
	if n := len(fake.CommitsFor("L")); n != 2 {
		t.Fatalf("%d parts sent, want 2: none after the rejected one", n)
	}
	if _, err := run(file, "--split"); err == nil || !strings.Contains(err.Error(), "whose first 1 of 3 parts were imported") ||
		!strings.Contains(err.Error(), "written to "+filepath.Join(dir, "contacts.remaining.csv")+" then") {
		t.Fatalf("the same file again: %v", err)
	}
	fake.SetVerdict(nil)
	out, err = run(filepath.Join(dir, "contacts.remaining.csv"), "--split")
	if err != nil {
		t.Fatalf("the rest: %v\n%s", err, out)
	}
	var got []string
	rejected := fake.NotAccepted()
	for _, c := range fake.CommitsFor("L") {
		if len(c.Body) > 20000 || !strings.HasPrefix(string(c.Body), "first_name,last_name,phone\r\n") {
			t.Errorf("part %s: %d bytes, starting %.30q", c.Filename, len(c.Body), c.Body)
		}
		if !rejected[c.UploadID] {
			got = append(got, strings.SplitAfter(string(c.Body), "\r\n")[1:]...)
		}
	}
	if want := strings.SplitAfter(body, "\r\n")[1:]; strings.Join(got, "") != strings.Join(want, "") {
		t.Errorf("the list holds %d lines, want the file's %d records once each, in order", len(got), len(want))
	}
	v := fake.Validations()
	for i := 1; i < len(v); i++ {
		if v[i].Start.Before(v[i-1].End) {
			t.Errorf("validation %d began before the one before ended", i)
		}
	}
}

// `listdrop upload --split` sends each part's PATCH soon after the end of
// the validation of the part before, as the daemon does: judged on the
// fake's timestamps against its configured validation time, with a
// margin for a busy machine: the schedule notices the end within about
// 1/30 of the validation; looks spaced up to a second apart, as this
// command once made, came about 470 ms late here.
func TestUploadSplitPartsFollowTheEndOfValidation(t *testing.T) {
	t.Parallel()
	const validation = 2 * time.Second
	fake, dir, cfg := uploadFixture(t, faketalkdesk.Options{Validation: validation}, "")
	body := contacts(1800, "\n")
	file := filepath.Join(dir, "contacts.csv")
	writeFile(t, file, []byte(body))
	var stdout, stderr strings.Builder
	if err := (uploadCommand{firstWait: time.Second}).run(context.Background(), []string{file, "--split", "--config", cfg, "--list", "L"}, &stdout, &stderr); err != nil {
		t.Fatalf("upload: %v\n%s", err, stdout.String())
	}
	v := fake.Validations()
	if len(v) < 3 {
		t.Fatalf("%d validations: the test needs a file of three parts or more", len(v))
	}
	limit := validation/20 + 200*time.Millisecond
	for i := 1; i < len(v); i++ {
		lag := v[i].Start.Sub(v[i-1].End)
		t.Logf("PATCH %d came %s after the end of validation %d", i+1, lag, i)
		if lag < 0 || lag > limit {
			t.Errorf("PATCH %d came %s after the end of the previous validation (of %s); want at most %s", i+1, lag, validation, limit)
		}
	}
}

// A split upload interrupted after some parts went in, run again on a
// file that changed since, is not imported whole: the parts in would be
// imported twice. The command says which lines are in and stops; run once
// more, it imports the file as it now is, as it said it would.
func TestUploadSplitInterruptedThenChangedIsNotImportedWhole(t *testing.T) {
	t.Parallel()
	fake, dir, cfg := uploadFixture(t, faketalkdesk.Options{Validation: 200 * time.Millisecond}, "")
	body := contacts(1800, "\n")
	file := filepath.Join(dir, "contacts.csv")
	writeFile(t, file, []byte(body))
	// A list still validating the part in flight at the interruption
	// answers 409 for a while: the tries must outlast that.
	upload := uploadCommand{firstWait: 50 * time.Millisecond}
	run := func(ctx context.Context) (string, error) {
		var stdout, stderr strings.Builder
		err := upload.run(ctx, []string{file, "--split", "--config", cfg, "--list", "L"}, &stdout, &stderr)
		return stdout.String(), err
	}

	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { _, err := run(ctx); ended <- err }()
	testutil.Eventually(t, time.Minute, "two parts committed", func() bool { return len(fake.CommitsFor("L")) >= 2 })
	cancel()
	if err := <-ended; !errors.Is(err, errInterrupted) {
		t.Fatalf("the interrupted upload ended with %v", err)
	}
	sent := len(fake.CommitsFor("L"))
	writeFile(t, file, []byte(strings.Replace(body, "Ann5,", "Bob5,", 1)))

	out, err := run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "An earlier import of this file in parts was interrupted, and the file changed since, so the rest of it was not sent. Part") ||
		!strings.Contains(err.Error(), "imported into record list L; lines ") || !strings.HasSuffix(err.Error(), "to import this file whole anyway, run the same command again.") {
		t.Fatalf("run again on the changed file: %v\n%s", err, out)
	}
	if n := len(fake.CommitsFor("L")); n != sent {
		t.Fatalf("%d parts sent after the file changed", n-sent)
	}
	if out, err := run(context.Background()); err != nil || !strings.Contains(out, "done: upload request") {
		t.Fatalf("run once more: %v\n%s", err, out)
	}
}
