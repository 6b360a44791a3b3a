package pipeline

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/csvsplit"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
	"github.com/xuri/excelize/v2"
)

// template is the fake's record-list template: a part without the header
// is REJECTED.
var template = []string{"first_name", "last_name", "mobile_phone"}

// imported is every record the fake's list took, in the order of the
// commits, leaving out uploads Talkdesk did not accept; each commit's body
// must start with the header.
func imported(t *testing.T, fake *faketalkdesk.Server, list string, header string) []string {
	t.Helper()
	rejected := fake.NotAccepted()
	var recs []string
	for _, c := range fake.CommitsFor(list) {
		if len(c.Body) > MaxSize {
			t.Errorf("upload %s is %d bytes", c.UploadID, len(c.Body))
		}
		if !bytes.HasPrefix(c.Body, []byte(header)) {
			t.Errorf("upload %s does not start with the header: %.40q", c.UploadID, c.Body)
		}
		if rejected[c.UploadID] {
			continue
		}
		r := csv.NewReader(bytes.NewReader(c.Body))
		all, err := r.ReadAll()
		if err != nil {
			t.Fatalf("upload %s: %v", c.UploadID, err)
		}
		for _, rec := range all[1:] {
			recs = append(recs, strings.Join(rec, ","))
		}
	}
	return recs
}

func recordsOf(t *testing.T, body []byte) []string {
	t.Helper()
	all, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rec := range all[1:] {
		out = append(out, strings.Join(rec, ","))
	}
	return out
}

// noOverlap checks that no validation of the list began before the one
// before it ended: a PATCH is never sent while the list validates.
func noOverlap(t *testing.T, fake *faketalkdesk.Server) {
	t.Helper()
	v := fake.Validations()
	for i := 1; i < len(v); i++ {
		if v[i].ListID == v[i-1].ListID && v[i].Start.Before(v[i-1].End) {
			t.Errorf("validation %d began at %s, before the one before ended at %s", i, v[i].Start, v[i-1].End)
		}
	}
}

func TestSplitFileIsImportedInPartsInOrder(t *testing.T) {
	t.Parallel()
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{Validation: 30 * time.Millisecond, Columns: template}, []string{"L1"},
				fmt.Sprintf("split: true\nverify: %t\n", verify))
			h.start()
			body := csvBody("Ann", 2500) // about 80 kB
			h.drop(0, "contacts.csv", body)
			h.waitDone(0, "contacts.csv")

			if got, want := imported(t, h.fake, "L1", "first_name,last_name,mobile_phone\n"), recordsOf(t, body); !slices.Equal(got, want) {
				t.Fatalf("imported %d records, want the file's %d in order", len(got), len(want))
			}
			s, _ := csvsplit.Cut(body, MaxSize)
			commits := h.fake.CommitsFor("L1")
			if len(commits) != len(s.Parts) || len(s.Parts) < 4 {
				t.Fatalf("%d commits for %d parts", len(commits), len(s.Parts))
			}
			for k, c := range commits {
				if want := talkdesk.PartName("contacts.csv", k+1, len(s.Parts)); c.Filename != want {
					t.Errorf("part %d is named %q, want %q", k+1, c.Filename, want)
				}
			}
			noOverlap(t, h.fake)
			hist, err := h.store.History(time.Time{})
			if err != nil || len(hist) != 1 {
				t.Fatalf("history %+v, %v: want one entry for the file", hist, err)
			}
			e := hist[0]
			if e.Result != state.Done || e.Parts != len(s.Parts) || len(e.PartsIn) != len(s.Parts) || e.Outcome != "ACCEPTED" {
				t.Errorf("history entry %+v", e)
			}
			for k, pi := range e.PartsIn {
				if pi.UploadID != commits[k].UploadID || pi.First != s.Parts[k].First || pi.Last != s.Parts[k].Last || pi.Outcome != "ACCEPTED" {
					t.Errorf("part %d in the history: %+v", k+1, pi)
				}
			}
			if !strings.Contains(h.logBuf.String(), fmt.Sprintf("part=%d/%d", len(s.Parts), len(s.Parts))) {
				t.Error("the log does not name the part")
			}
		})
	}
}

// A part Talkdesk rejects stops the file: the parts after it are not sent,
// the note says which lines are in and which are not, and the
// .remaining.csv, fixed and dropped back, completes the list with every
// record imported once.
func TestRejectedPartLeavesTheRemainingRecords(t *testing.T) {
	t.Parallel()
	for _, verify := range []bool{true, false} {
		t.Run(fmt.Sprintf("verify %t", verify), func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{Validation: 30 * time.Millisecond, Columns: template}, []string{"L1"},
				fmt.Sprintf("split: true\nverify: %t\n", verify))
			h.fake.SetVerdict(func(b []byte) string {
				if bytes.Contains(b, []byte("Bad,")) {
					return "REJECTED"
				}
				return ""
			})
			h.start()
			body := csvBody("Ann", 2500)
			s, _ := csvsplit.Cut(body, MaxSize)
			// A record of part 3 Talkdesk will not take.
			bad := s.Parts[2].Start + 10
			lineStart := bytes.LastIndexByte(body[:bad], '\n') + 1
			body = slices.Concat(body[:lineStart], []byte("Bad,"), body[lineStart+4:])
			s, _ = csvsplit.Cut(body, MaxSize)
			h.drop(0, "contacts.csv", body)
			note := h.waitFailed(0, "contacts.csv")

			first := strings.SplitN(note, "\n", 2)[0]
			want := fmt.Sprintf("Part 3 of %d of this file was not imported: Talkdesk's validation did not accept part 3 (REJECTED): check the header line and the records on lines %d–%d against the record-list template in Talkdesk (first name, last name, a phone number in E.164 form). Parts 1–2 (lines 2–%d) were imported into record list L1; lines %d–%d were not. They are in contacts.remaining.csv beside this note, after the header line: fix the cause, then drop that file into the folder to import them (the lines already imported are not in it).",
				len(s.Parts), s.Parts[2].First, s.Parts[2].Last, s.Parts[1].Last, s.Parts[1].Last+1, s.Parts[len(s.Parts)-1].Last)
			if first != want {
				t.Errorf("the note's sentence:\n got %s\nwant %s", first, want)
			}
			// Its last lines say not to put the file itself back, and the
			// note says which parts are in, for listdrop retry to refuse it.
			for _, want := range []string{
				fmt.Sprintf("\nImported:        parts 1–2 of %d (lines 2–%d) into record list L1\n", len(s.Parts), s.Parts[1].Last),
				fmt.Sprintf("\nDo not put this file back: its first 2 of %d parts are in record list L1, and would be imported again; fix and drop contacts.remaining.csv instead, which holds the rest. To import the whole file again anyway: listdrop retry --force.\n", len(s.Parts)),
			} {
				if !strings.Contains(note, want) {
					t.Errorf("the note lacks %q:\n%s", want, note)
				}
			}
			if !ImportedInPart(filepath.Join(h.folder(0).Failed, "contacts.csv")) || strings.Contains(note, "move the file back into the drop folder") {
				t.Errorf("the note of a file imported in part:\n%s", note)
			}
			if n := len(h.fake.CommitsFor("L1")); n != 3 {
				t.Errorf("%d parts were sent, want 3: none after the rejected one", n)
			}
			remaining, err := os.ReadFile(filepath.Join(h.folder(0).Failed, "contacts.remaining.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if string(remaining) != string(s.Remaining(2)) {
				t.Errorf("contacts.remaining.csv is not the header and the records from part 3 on")
			}
			// The same file again is refused: its first parts are in.
			h.drop(0, "contacts-again.csv", body)
			if again := h.waitFailed(0, "contacts-again.csv"); !strings.HasPrefix(again, "This file has the same content as contacts.csv, whose first 2 of "+fmt.Sprint(len(s.Parts))+" parts were imported into record list L1") ||
				!strings.Contains(again, "the records not imported were written to "+filepath.Join(h.folder(0).Failed, "contacts.remaining.csv")+" then") {
				t.Errorf("the same file dropped again: %s", again)
			}
			// Fixed and dropped back, the rest goes in.
			fixed := bytes.Replace(remaining, []byte("Bad,"), []byte("Ann,"), 1)
			h.drop(0, "contacts.remaining.csv", fixed)
			if err := os.Remove(filepath.Join(h.folder(0).Failed, "contacts.remaining.csv")); err != nil {
				t.Fatal(err) // moved, as listdrop retry moves it
			}
			h.waitDone(0, "contacts.remaining.csv")
			want2 := recordsOf(t, bytes.Replace(body, []byte("Bad,"), []byte("Ann,"), 1))
			if got := imported(t, h.fake, "L1", "first_name,last_name,mobile_phone\n"); !slices.Equal(got, want2) {
				t.Errorf("imported %d records, want the file's %d, each once, in order", len(got), len(want2))
			}
			noOverlap(t, h.fake)
			hist, _ := h.store.History(time.Time{})
			var partial *state.Entry
			for i := range hist {
				if filepath.Base(hist[i].Source) == "contacts.csv" {
					partial = &hist[i]
				}
			}
			if partial == nil || !partial.Partial() || len(partial.PartsIn) != 2 || partial.Result != state.Failed || partial.Outcome != "REJECTED" {
				t.Errorf("history of contacts.csv: %+v; want failed, 2 parts in, REJECTED", partial)
			}
			// Dropped once more, now that its rest is in: the note does
			// not send the reader to a file that is gone.
			h.drop(0, "contacts-third.csv", body)
			if again := h.waitFailed(0, "contacts-third.csv"); !strings.Contains(again, "contacts.remaining.csv then, which is no longer there; if it was imported, every record of this file is in the list.") {
				t.Errorf("the same file dropped after its rest was imported: %s", again)
			}
		})
	}
}

// A record that cannot fit a part fails the file before anything is sent;
// without split, a big file is refused as before.
func TestSplitRefusalsSendNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	h.cfg.Folders[0].Split = new(bool)
	*h.cfg.Folders[0].Split = true
	h.start()
	huge := "first_name,last_name,mobile_phone\nAnn,\"" + strings.Repeat("x", MaxSize) + "\",+12025550000\n"
	h.drop(0, "huge.csv", append(csvBody("Bob", 10), huge[len("first_name,last_name,mobile_phone\n"):]...))
	if note := h.waitFailed(0, "huge.csv"); !strings.HasPrefix(note, "The record on line 12 is too big to import") {
		t.Errorf("note: %s", note)
	}
	h.drop(1, "big.csv", csvBody("Cy", 2000))
	if note := h.waitFailed(1, "big.csv"); !strings.Contains(note, "set split: true for this folder") {
		t.Errorf("note: %s", note)
	}
	if n := h.requests("POST", "upload-requests"); n != 0 {
		t.Errorf("%d upload requests for files that cannot be imported", n)
	}
}

// The records not imported never replace a file already in failed/ under
// their name: they go to a free one, which the note names.
func TestRemainingBesideAnotherOfTheSameName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{Columns: template}, []string{"L1"}, "split: true\n")
	h.fake.SetVerdict(func(b []byte) string {
		if bytes.Contains(b, []byte("\nBad,")) {
			return "REJECTED"
		}
		return ""
	})
	other := filepath.Join(h.folder(0).Failed, "contacts.remaining.csv")
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("someone else's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.start()
	body := csvBody("Ann", 1500)
	s, _ := csvsplit.Cut(body, MaxSize)
	at := s.Parts[1].Start
	body = slices.Concat(body[:at], []byte("Bad,"), body[at+4:])
	s, _ = csvsplit.Cut(body, MaxSize)
	h.drop(0, "contacts.csv", body)
	note := h.waitFailed(0, "contacts.csv")
	if !strings.Contains(note, "They are in contacts.remaining-1.csv beside this note") {
		t.Errorf("the note does not name contacts.remaining-1.csv:\n%s", note)
	}
	if b, _ := os.ReadFile(other); string(b) != "someone else's\n" {
		t.Error("the file already named contacts.remaining.csv was changed")
	}
	if b, _ := os.ReadFile(filepath.Join(h.folder(0).Failed, "contacts.remaining-1.csv")); string(b) != string(s.Remaining(1)) {
		t.Error("contacts.remaining-1.csv is not the header and the records from part 2 on")
	}
}

// A European Excel export (Windows-1252, semicolons) too big for one
// upload is converted, then cut: every part is comma-separated UTF-8 with
// the header, and the records arrive as converted.
func TestConvertedFileIsSplitAfterItsConversion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{Validation: 10 * time.Millisecond, Columns: template}, []string{"L1"}, "split: true\n")
	h.cfg.Folders[0].Convert = true
	h.start()
	var b bytes.Buffer
	b.WriteString("first_name;last_name;mobile_phone\r\n")
	for i := range 1500 {
		fmt.Fprintf(&b, "Jos\xe9%d;Mu\xf1oz, Jr;+3491%07d\r\n", i, i) // é and ñ in Windows-1252
	}
	h.drop(0, "export.csv", b.Bytes())
	h.waitDone(0, "export.csv")
	commits := h.fake.CommitsFor("L1")
	if len(commits) < 3 {
		t.Fatalf("%d uploads, want the file in parts", len(commits))
	}
	got := imported(t, h.fake, "L1", "first_name,last_name,mobile_phone\r\n")
	if len(got) != 1500 || got[0] != "José0,Muñoz, Jr,+34910000000" || got[1499] != "José1499,Muñoz, Jr,+34910001499" {
		t.Errorf("imported %d records, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
	hist, _ := h.store.History(time.Time{})
	if len(hist) != 1 || hist[0].Parts != len(commits) || !strings.HasPrefix(hist[0].Reason, "converted: ") {
		t.Errorf("history %+v", hist)
	}
}

// A workbook whose sheet is over one upload as CSV is imported in parts;
// the workbook goes to done/ as dropped.
func TestBigWorkbookIsSplit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{Validation: 10 * time.Millisecond, Columns: template}, []string{"L1"}, "split: true\n")
	h.cfg.Folders[0].XLSX = true
	h.start()
	data := workbook(t, func(f *excelize.File, sheet string) {
		rows := [][]any{{"first_name", "last_name", "mobile_phone"}}
		for i := range 1200 {
			rows = append(rows, []any{fmt.Sprintf("Ada%d", i), "Lovelace", 15555550000 + i})
		}
		for r, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(sheet, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
	})
	h.drop(0, "contacts.xlsx", data)
	done := h.waitDone(0, "contacts.xlsx")
	if b, err := os.ReadFile(done); err != nil || !bytes.Equal(b, data) {
		t.Errorf("done/ does not hold the workbook as dropped: %v", err)
	}
	commits := h.fake.CommitsFor("L1")
	got := imported(t, h.fake, "L1", "first_name,last_name,mobile_phone\r\n")
	if len(commits) < 2 || len(got) != 1200 || got[1199] != "Ada1199,Lovelace,15555551199" {
		t.Errorf("%d uploads, %d records, last %q", len(commits), len(got), got[len(got)-1])
	}
	if want := talkdesk.PartName("contacts.csv", 1, len(commits)); commits[0].Filename != want {
		t.Errorf("the first part is named %q, want %q", commits[0].Filename, want)
	}
}

// A split file whose bytes change in the claim folder between two of its
// parts (an administrator editing it there while listdrop was stopped) is
// not cut again and sent on: the parts of the new content would not be the
// rest of the old one. It goes to failed/ with a note that says so, and
// no part is sent after the restart.
func TestSplitFileChangedWhileHeldIsNotSentOn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{Validation: 100 * time.Millisecond, Columns: template}, []string{"L1"}, "split: true\n")
	h.start()
	body := csvBody("Ann", 2500)
	h.drop(0, "contacts.csv", body)
	eventually(t, "two parts committed", func() bool { return len(h.fake.CommitsFor("L1")) >= 2 })
	h.stop()
	sent := len(h.fake.CommitsFor("L1"))
	if s, _ := csvsplit.Cut(body, MaxSize); sent >= len(s.Parts) {
		t.Fatalf("all %d parts were sent before the stop; the test needs a file still held", sent)
	}
	held := h.held(0)
	if !slices.Contains(held, "contacts.csv") {
		t.Fatalf("the claim folder holds %v, not the file", held)
	}
	// Status shows when the part being imported was begun, not when the
	// file was taken: a stuck part is not hidden behind a long file.
	st, err := state.Open(h.cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.Active()
	st.Close()
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %+v, %v", recs, err)
	}
	if r := recs[0]; r.Part < 2 || !r.PartSince.After(r.Claimed) || !HeldFileOf(r).Since.Equal(r.PartSince) {
		t.Errorf("part %d: begun %s, file taken %s, status says since %s", r.Part, r.PartSince, r.Claimed, HeldFileOf(r).Since)
	}
	if err := os.WriteFile(filepath.Join(h.claimDir(0), "contacts.csv"), csvBody("Zed", 2500), 0o644); err != nil {
		t.Fatal(err)
	}

	h.start()
	note := h.waitFailed(0, "contacts.csv")
	commits := h.fake.CommitsFor("L1")
	if len(commits) != sent {
		t.Errorf("%d parts committed after the restart", len(commits)-sent)
	}
	for _, c := range commits {
		if bytes.Contains(c.Body, []byte("Zed")) {
			t.Fatalf("upload %s holds records of the changed file", c.UploadID)
		}
	}
	var hist []state.Entry
	eventually(t, "the file's history entry", func() bool {
		hist, _ = h.store.History(time.Time{})
		return len(hist) == 1
	})
	e := hist[0]
	if e.Result != state.Failed || len(e.PartsIn) == 0 || e.Reason != strings.SplitN(note, "\n", 2)[0] {
		t.Fatalf("history entry %+v: want the failed file with the parts that were in and the note's first line", e)
	}
	// The note says which lines are in, which are not, and names the
	// part that was in flight at the stop: every part Talkdesk took is
	// one the note says is or may be in.
	n := len(e.PartsIn)
	s, _ := csvsplit.Cut(body, MaxSize)
	want := "This file changed in listdrop's claim folder while it was imported in parts, so the rest of it was not sent; the file beside this note is the changed one, not the one dropped. " +
		fmt.Sprintf("Parts 1–%d (lines 2–%d of the file as dropped) were imported into record list L1; lines %d–%d were not", n, s.Parts[n-1].Last, s.Parts[n].First, s.Parts[len(s.Parts)-1].Last)
	if n == 1 {
		want = strings.Replace(want, "Parts 1–1", "Part 1", 1)
		want = strings.Replace(want, ") were imported", ") was imported", 1)
	}
	if !strings.HasPrefix(note, want) {
		t.Errorf("the note does not say which lines are in:\n%s\nwant it to begin:\n%s", note, want)
	}
	for k, c := range commits {
		switch {
		case k < n:
			if e.PartsIn[k].UploadID != c.UploadID {
				t.Errorf("part %d in the history is %s, Talkdesk took %s", k+1, e.PartsIn[k].UploadID, c.UploadID)
			}
		case k == n:
			if !strings.Contains(note, fmt.Sprintf(", though part %d (upload request %s) was sent to Talkdesk just before listdrop stopped and may be in the list: check the list for its records.", k+1, c.UploadID)) {
				t.Errorf("the note does not name part %d, which Talkdesk took:\n%s", k+1, note)
			}
		default:
			t.Errorf("part %d was committed", k+1)
		}
	}
	if !strings.Contains(note, "Import the lines not imported from the file as it was dropped (after its header line), not from this one.") {
		t.Errorf("the note does not say where the records not imported are:\n%s", note)
	}
	imp := fmt.Sprintf("\nImported:        part 1 of %d (lines 2–%d) into record list L1\n", len(s.Parts), s.Parts[0].Last)
	if n > 1 {
		imp = fmt.Sprintf("\nImported:        parts 1–%d of %d (lines 2–%d) into record list L1\n", n, len(s.Parts), s.Parts[n-1].Last)
	}
	if !strings.Contains(note, imp) || !ImportedInPart(filepath.Join(h.folder(0).Failed, "contacts.csv")) {
		t.Errorf("the note lacks %q, for listdrop retry to refuse the changed file:\n%s", imp, note)
	}
	if names := dirNames(t, h.folder(0).Failed); slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ".remaining") }) {
		t.Errorf("failed/ holds %v: records cut from the changed file", names)
	}
}
