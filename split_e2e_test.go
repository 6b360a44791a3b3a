package main

// Split files, end to end: a file over one upload's size, in a folder with
// split: true, is imported by the real binary part by part, each part
// committed once, in order, even when the daemon is killed during the
// import; a part Talkdesk rejects leaves the records not imported in a
// .remaining.csv that completes the list when dropped back.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// partLimit is the most bytes Talkdesk takes in one upload, and so in one
// part.
const partLimit = 20000

// template is the fake's record-list template: an upload whose first line
// is not the header is REJECTED, which is how a part without it shows.
var template = []string{"first_name", "last_name", "mobile_phone"}

const csvHeader = "first_name,last_name,mobile_phone\n"

// contactsCSV is a CSV of n records, the first field of each tag (five
// characters) and the record's number.
func contactsCSV(tag string, n int) []byte {
	var b bytes.Buffer
	b.WriteString(csvHeader)
	for i := range n {
		fmt.Fprintf(&b, "%s%05d,Person%d,+1202555%04d\n", tag, i, i, i%10000)
	}
	return b.Bytes()
}

// rejectMarker, at the start of a record, makes Talkdesk reject the upload
// that holds it (rejectsMarker); it is as long as contactsCSV's tags, so
// that marking a record does not move where the file is cut.
const rejectMarker = "Wrong"

func rejectsMarker(body []byte) string {
	if bytes.Contains(body, []byte("\n"+rejectMarker)) {
		return "REJECTED"
	}
	return ""
}

// withMarker puts marker over the start of the first record of part k
// (from 1) of body.
func withMarker(t *testing.T, body []byte, k int, marker string) []byte {
	t.Helper()
	parts := cutParts(t, body)
	at := 0
	for _, p := range parts[:k-1] {
		at += len(p) - len(csvHeader)
	}
	at += len(csvHeader)
	out := slices.Clone(body)
	copy(out[at:], marker)
	if again := cutParts(t, out); len(again) != len(parts) || !bytes.Contains(again[k-1], []byte("\n"+marker)) {
		t.Fatalf("the marker moved the cut, or is not in part %d", k)
	}
	return out
}

// cutParts is what each part of a file of one-line records must upload:
// the header, then as many whole records as fit in partLimit bytes, in the
// file's order.
func cutParts(t *testing.T, body []byte) [][]byte {
	t.Helper()
	header, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		t.Fatal("no header line")
	}
	header = append(header, '\n')
	var parts [][]byte
	var cur []byte
	for _, rec := range bytes.SplitAfter(rest, []byte("\n")) {
		if len(rec) == 0 {
			continue
		}
		if len(header)+len(rec) > partLimit {
			t.Fatalf("a record of %d bytes cannot fit a part", len(rec))
		}
		if cur != nil && len(cur)+len(rec) > partLimit {
			parts = append(parts, cur)
			cur = nil
		}
		if cur == nil {
			cur = slices.Clone(header)
		}
		cur = append(cur, rec...)
	}
	return append(parts, cur)
}

// recordsOf is the records of a CSV of one-line records: its lines after
// the header.
func recordsOf(body []byte) []string {
	_, rest, _ := strings.Cut(string(body), "\n")
	return strings.Split(strings.TrimSuffix(rest, "\n"), "\n")
}

// importedRecords is every record the list took, in the order of the
// commits, leaving out the uploads Talkdesk's validation did not accept.
// Each commit must be at most partLimit bytes and start with the header.
func importedRecords(t *testing.T, fake *faketalkdesk.Server, list string) []string {
	t.Helper()
	rejected := fake.NotAccepted()
	var recs []string
	for _, c := range fake.CommitsFor(list) {
		if len(c.Body) > partLimit {
			t.Errorf("upload %s (%s) is %d bytes", c.UploadID, c.Filename, len(c.Body))
		}
		if !bytes.HasPrefix(c.Body, []byte(csvHeader)) {
			t.Errorf("upload %s (%s) does not start with the header: %.40q", c.UploadID, c.Filename, c.Body)
		}
		if !rejected[c.UploadID] {
			recs = append(recs, recordsOf(c.Body)...)
		}
	}
	return recs
}

// committedOnce checks that the list's commits are exactly want's bodies,
// in order: each part once, none twice, none other.
func partsCommittedOnce(t *testing.T, fake *faketalkdesk.Server, list string, want [][]byte) {
	t.Helper()
	var got [][]byte
	for _, c := range fake.CommitsFor(list) {
		got = append(got, c.Body)
	}
	if slices.EqualFunc(got, want, bytes.Equal) {
		return
	}
	for k, p := range want {
		n := 0
		for _, b := range got {
			if bytes.Equal(b, p) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("part %d of %d was committed %d times", k+1, len(want), n)
		}
	}
	t.Errorf("%d commits, want the %d parts' uploads in order, each once", len(got), len(want))
}

// validationsApart checks that no validation of the list began before the
// one before it ended: a part is sent only once the last is validated.
func validationsApart(t *testing.T, fake *faketalkdesk.Server, list string) {
	t.Helper()
	var prev *faketalkdesk.Validation
	for _, v := range fake.Validations() {
		if v.ListID != list {
			continue
		}
		if prev != nil && v.Start.Before(prev.End) {
			t.Errorf("upload %s began to validate at %s, before upload %s ended at %s", v.UploadID, v.Start.Format(time.StampMicro), prev.UploadID, prev.End.Format(time.StampMicro))
		}
		prev = &v
	}
}

// historyOf is the history's entries for files named name.
func (e *e2e) historyOf(name string) []state.Entry {
	e.t.Helper()
	out, errOut, code := runCLI(e.t, []string{"E2E_SECRET=" + e2eSecret}, "history", "--config", e.config, "--since", "24h", "--json")
	if code != 0 {
		e.t.Fatalf("history: exit %d: %s", code, errOut)
	}
	var all, mine []state.Entry
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		e.t.Fatalf("history --json: %v\n%s", err, out)
	}
	for _, h := range all {
		if filepath.Base(h.Source) == name {
			mine = append(mine, h)
		}
	}
	return mine
}

// finishedIn reports whether name is in the folder's sub (done or failed),
// nothing is held and the history has its end.
func (e *e2e) finishedIn(sub, name string) bool {
	return exists(filepath.Join(e.folders[0], sub, name)) && len(heldFiles(e.t, e.folders[0])) == 0 && len(e.historyOf(name)) > 0
}

// TestSplitMegabyteFileLandsInOrder: a 1 MB file, cut into over 50 parts,
// is imported part after part, each one committed once with the header,
// the records in the file's order; status shows which part is on its way.
func TestSplitMegabyteFileLandsInOrder(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{Columns: template, Validation: 20 * time.Millisecond}, []string{"L1"}, "split: true\n")
	body := contactsCSV("Split", 31000)
	parts := cutParts(t, body)
	if len(body) < 1<<20 || len(parts) <= 50 {
		t.Fatalf("the file is %d bytes in %d parts: want 1 MB and over 50 parts", len(body), len(parts))
	}
	d := e.start()
	e.drop(0, "contacts.csv", body)

	// Status names the part on its way while the file is imported.
	progress := regexp.MustCompile(fmt.Sprintf(`contacts\.csv in .*: part (\d+) of %d, `, len(parts)))
	seen := ""
	e.eventually("contacts.csv in done/", func() bool {
		if seen == "" {
			out, errOut, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "status", "--config", e.config)
			if code != 0 {
				t.Fatalf("status: exit %d: %s", code, errOut)
			}
			if m := progress.FindString(out); m != "" {
				seen = m
			}
		}
		return e.finishedIn("done", "contacts.csv")
	})
	d.end(t)
	if seen == "" {
		t.Errorf("listdrop status never showed contacts.csv at \"part N of %d\" while it was imported", len(parts))
	} else {
		t.Logf("status showed: %s", seen)
	}

	partsCommittedOnce(t, e.fake, "L1", parts)
	if got, want := importedRecords(t, e.fake, "L1"), recordsOf(body); !slices.Equal(got, want) {
		t.Errorf("the list took %d records, want the file's %d, each once, in order", len(got), len(want))
	}
	commits := e.fake.CommitsFor("L1")
	for k, c := range commits {
		if want := fmt.Sprintf("contacts-part%02dof%d.csv", k+1, len(parts)); c.Filename != want {
			t.Errorf("commit %d is named %q, want %q", k+1, c.Filename, want)
		}
	}
	if v := e.fake.Validations(); len(v) != len(parts) {
		t.Errorf("%d validations for %d parts", len(v), len(parts))
	}
	validationsApart(t, e.fake, "L1")

	h := e.historyOf("contacts.csv")
	if len(h) != 1 {
		t.Fatalf("history has %d entries for contacts.csv, want 1: %+v", len(h), h)
	}
	if h[0].Result != state.Done || h[0].Parts != len(parts) || len(h[0].PartsIn) != len(parts) || h[0].Outcome != "ACCEPTED" {
		t.Errorf("history entry: result %s, %d parts, %d in, outcome %q; want done, %d parts, all in, ACCEPTED",
			h[0].Result, h[0].Parts, len(h[0].PartsIn), h[0].Outcome, len(parts))
	}
	for k, pi := range h[0].PartsIn {
		if k < len(commits) && pi.UploadID != commits[k].UploadID {
			t.Errorf("part %d in the history is upload %s, committed as %s", k+1, pi.UploadID, commits[k].UploadID)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(e.folders[0], "done", "contacts.csv")); !bytes.Equal(got, body) {
		t.Error("done/contacts.csv is not the bytes dropped")
	}
	if n := count(t, filepath.Join(e.folders[0], "failed")); n != 0 {
		t.Errorf("failed/ holds %d files", n)
	}
}

// TestKill9DuringSplitUploadThenRestart kills the daemon four times while a
// split file is imported, at moments read from the fake's progress, and
// starts it again each time: in the end every part was committed once, so
// every record is in the list once.
func TestKill9DuringSplitUploadThenRestart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("it ends with SIGTERM, which Windows lacks")
	}
	t.Parallel()
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, faketalkdesk.Options{Columns: template, Validation: 50 * time.Millisecond}, []string{"L1"},
				fmt.Sprintf("split: true\nverify: %t\n", verify))
			body := contactsCSV("Kills", 7000)
			parts := cutParts(t, body)
			if len(parts) < 10 {
				t.Fatalf("%d parts, want 10 or more", len(parts))
			}
			validating := func() bool {
				v := e.fake.Validations()
				return len(v) > 0 && time.Now().Before(v[len(v)-1].End)
			}
			kills := []struct {
				commits int
				what    string
				when    func() bool
			}{
				{2, "while a part validates", validating},
				{4, "right after a commit", func() bool { return true }},
				{6, "between two parts' validations", func() bool { return !validating() }},
				{8, "while a part validates", validating},
			}
			d := e.start()
			e.drop(0, "contacts.csv", body)
			for _, k := range kills {
				e.eventually(fmt.Sprintf("%d commits, then a moment %s", k.commits, k.what), func() bool {
					return len(e.fake.CommitsFor("L1")) >= k.commits && k.when()
				})
				if err := d.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				<-d.exited
				t.Logf("killed %s, after %d commits", k.what, len(e.fake.CommitsFor("L1")))
				d = e.start()
			}
			e.eventually("contacts.csv in done/", func() bool { return e.finishedIn("done", "contacts.csv") })
			d.end(t)

			partsCommittedOnce(t, e.fake, "L1", parts)
			if got, want := importedRecords(t, e.fake, "L1"), recordsOf(body); !slices.Equal(got, want) {
				t.Errorf("the list took %d records, want the file's %d, each once, in order", len(got), len(want))
			}
			validationsApart(t, e.fake, "L1")
			if h := e.historyOf("contacts.csv"); len(h) != 1 || h[0].Result != state.Done || len(h[0].PartsIn) != len(parts) {
				t.Errorf("history for contacts.csv: %+v; want one entry, done, with its %d parts in", h, len(parts))
			}
			if got := listDir(t, filepath.Join(e.folders[0], "done")); !slices.Equal(got, []string{"contacts.csv"}) {
				t.Errorf("done/ holds %q", got)
			}
			if n := count(t, filepath.Join(e.folders[0], "failed")); n != 0 {
				t.Errorf("failed/ holds %d files", n)
			}
			if held := heldFiles(t, e.folders[0]); len(held) != 0 {
				t.Errorf(".listdrop still holds %q", held)
			}
		})
	}
}

// TestRejectedPartRemainingCompletesTheList: Talkdesk rejects part 5 of a
// split file; the parts after it are not sent, contacts.remaining.csv
// holds exactly the records not imported, and, fixed and dropped back, it
// completes the list with every record once. The original dropped again
// is refused, pointing at the .remaining.csv.
func TestRejectedPartRemainingCompletesTheList(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{Columns: template, Validation: 20 * time.Millisecond}, []string{"L1"}, "split: true\n")
	e.fake.SetVerdict(rejectsMarker)
	body := withMarker(t, contactsCSV("Fixed", 5000), 5, rejectMarker)
	parts := cutParts(t, body)
	if len(parts) < 7 {
		t.Fatalf("%d parts, want 7 or more", len(parts))
	}
	d := e.start()
	e.drop(0, "contacts.csv", body)
	e.eventually("contacts.csv in failed/", func() bool { return e.finishedIn("failed", "contacts.csv") })

	// Parts 1-5 were sent, part 5 rejected; none after it.
	partsCommittedOnce(t, e.fake, "L1", parts[:5])
	in := 0 // records imported
	for _, p := range parts[:4] {
		in += len(recordsOf(p))
	}
	all := recordsOf(body)
	if got := importedRecords(t, e.fake, "L1"); !slices.Equal(got, all[:in]) {
		t.Errorf("the list took %d records, want the %d of parts 1-4", len(got), in)
	}
	failed := filepath.Join(e.folders[0], "failed")
	if got, want := listDir(t, failed), []string{"contacts.csv", "contacts.csv.error.txt", "contacts.remaining.csv"}; !slices.Equal(got, want) {
		t.Fatalf("failed/ holds %q, want %q", got, want)
	}
	rest, err := os.ReadFile(filepath.Join(failed, "contacts.remaining.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(rest, []byte(csvHeader)) || !slices.Equal(recordsOf(rest), all[in:]) {
		t.Fatalf("contacts.remaining.csv holds %d records, want the header and the %d records after the first %d", len(recordsOf(rest)), len(all)-in, in)
	}
	if want := append([]byte(csvHeader), body[len(body)-(len(rest)-len(csvHeader)):]...); !bytes.Equal(rest, want) {
		t.Error("contacts.remaining.csv is not the header followed by the file's bytes from part 5 on")
	}
	note, err := os.ReadFile(filepath.Join(failed, "contacts.csv.error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(note), "\n")
	lastIn := 1 + in // records are one line each, after the header line
	for _, want := range []string{
		fmt.Sprintf("Part 5 of %d of this file was not imported", len(parts)),
		fmt.Sprintf("Parts 1–4 (lines 2–%d) were imported into record list L1; lines %d–%d were not", lastIn, lastIn+1, 1+len(all)),
		"They are in contacts.remaining.csv",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the note's first line lacks %q:\n%s", want, first)
		}
	}

	// The original again: refused, pointing at the rest.
	e.drop(0, "contacts-again.csv", body)
	e.eventually("contacts-again.csv in failed/", func() bool { return e.finishedIn("failed", "contacts-again.csv") })
	again, err := os.ReadFile(filepath.Join(failed, "contacts-again.csv.error.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"same content as contacts.csv", fmt.Sprintf("first 4 of %d parts were imported", len(parts)), ".remaining.csv"} {
		if !strings.Contains(string(again), want) {
			t.Errorf("contacts-again.csv's note lacks %q:\n%s", want, again)
		}
	}
	if n := len(e.fake.CommitsFor("L1")); n != 5 {
		t.Errorf("%d commits after the original was dropped again, want the 5 before", n)
	}
	// Status tells the two failed files from the records to put back.
	status, _, _ := e.cli("status")
	for _, want := range []string{
		"2 files are in failed/: the first line of NAME.error.txt beside each says why",
		"1 file holds in failed/ the records of a file imported in part, which were not imported (NAME.remaining.csv",
	} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}

	// The original, even fixed, is not put back by listdrop retry: its
	// first parts would be imported again.
	original := filepath.Join(failed, "contacts.csv")
	fixedOriginal := bytes.Replace(body, []byte("\n"+rejectMarker), []byte("\nFixed"), 1)
	if err := os.WriteFile(original, fixedOriginal, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "retry", "--config", e.config, original); code != 1 ||
		!strings.Contains(errOut, "contacts.csv was imported in part before it failed (its note says which lines): put back, it would import those records again") || !exists(original) {
		t.Fatalf("retry of the original imported in part: exit %d\n%s%s", code, out, errOut)
	}

	// The rest, fixed where it is and put back with listdrop retry,
	// completes the list.
	fixed := bytes.Replace(rest, []byte("\n"+rejectMarker), []byte("\nFixed"), 1)
	if bytes.Equal(fixed, rest) {
		t.Fatal("contacts.remaining.csv has no marked record to fix")
	}
	if err := os.WriteFile(filepath.Join(failed, "contacts.remaining.csv"), fixed, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "retry", "--config", e.config, filepath.Join(failed, "contacts.remaining.csv")); code != 0 {
		t.Fatalf("retry contacts.remaining.csv: exit %d\n%s%s", code, out, errOut)
	}
	e.eventually("contacts.remaining.csv in done/", func() bool { return e.finishedIn("done", "contacts.remaining.csv") })
	d.end(t)
	want := recordsOf(bytes.Replace(body, []byte("\n"+rejectMarker), []byte("\nFixed"), 1))
	if got := importedRecords(t, e.fake, "L1"); !slices.Equal(got, want) {
		t.Errorf("the list took %d records, want the file's %d, each once, in order", len(got), len(want))
	}
	partsCommittedOnce(t, e.fake, "L1", append(slices.Clone(parts[:5]), cutParts(t, fixed)...))
	validationsApart(t, e.fake, "L1")
	if h := e.historyOf("contacts.remaining.csv"); len(h) != 1 || h[0].Result != state.Done {
		t.Errorf("history for contacts.remaining.csv: %+v, want one entry, done", h)
	}
	if h := e.historyOf("contacts.csv"); len(h) != 1 || h[0].Result != state.Failed || len(h[0].PartsIn) != 4 || h[0].Parts != len(parts) {
		t.Errorf("history for contacts.csv: %+v, want one entry, failed, 4 of %d parts in", h, len(parts))
	}
	if held := heldFiles(t, e.folders[0]); len(held) != 0 {
		t.Errorf(".listdrop still holds %q", held)
	}
}
