package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
	"github.com/xuri/excelize/v2"
)

// note is the explanation beside a failed file.
func (e *e2e) note(folder int, name string) string {
	b, err := os.ReadFile(filepath.Join(e.folders[folder], "failed", name+".error.txt"))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func buildWorkbook(t *testing.T, opts ...excelize.Options) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	const s = "Sheet1"
	cells := map[string]any{
		"A1": "first_name", "B1": "last_name", "C1": "mobile_phone", "D1": "signed_up",
		"A2": "Ada", "B2": "Lovelace", "C2": 15555550100, "D2": time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC),
		"A3": "Bob", "B3": "Lovelace", "C3": 12025550101, "D3": time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	for c, v := range cells {
		if err := f.SetCellValue(s, c, v); err != nil {
			t.Fatal(err)
		}
	}
	// The last name typed once across both rows.
	if err := f.MergeCell(s, "B2", "B3"); err != nil {
		t.Fatal(err)
	}
	style, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetCellStyle(s, "D2", "D3", style); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.Write(&b, opts...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A folder with xlsx on takes workbooks: the sheet as Excel shows it is
// imported as CSV, the workbook goes to done/; a protected or damaged one
// goes to failed/ with a sentence and nothing is uploaded. Excel's lock
// file, and workbooks in a folder without xlsx, are left alone.
func TestE2EExcelWorkbooks(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	cfg, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.WriteString("    xlsx: true\n"); err != nil { // drop1
		t.Fatal(err)
	}
	cfg.Close()
	e.start()

	good := buildWorkbook(t)
	e.drop(1, "contacts.xlsx", good)
	e.drop(1, "protected.xlsx", buildWorkbook(t, excelize.Options{Password: "secret"}))
	e.drop(1, "damaged.xlsx", good[:len(good)/2])
	e.drop(1, "~$contacts.xlsx", []byte("owner"))
	e.drop(0, "elsewhere.xlsx", good)

	e.eventually("contacts.xlsx in done/", func() bool { return exists(filepath.Join(e.folders[1], "done", "contacts.xlsx")) })
	want := "first_name,last_name,mobile_phone,signed_up\r\nAda,Lovelace,15555550100,03-09-24\r\nBob,Lovelace,12025550101,12-31-25\r\n"
	commits := e.fake.CommitsFor("L2")
	if len(commits) != 1 || commits[0].Filename != "contacts.csv" || string(commits[0].Body) != want {
		t.Fatalf("Talkdesk got %+v, want contacts.csv:\n%s", commits, want)
	}
	if kept, _ := os.ReadFile(filepath.Join(e.folders[1], "done", "contacts.xlsx")); !bytes.Equal(kept, good) {
		t.Error("done/ does not keep the workbook as dropped")
	}
	for name, sentence := range map[string]string{
		"protected.xlsx": "This workbook is protected with a password, so listdrop cannot read it; nothing was imported",
		"damaged.xlsx":   "This workbook cannot be read: it is damaged or incomplete (",
	} {
		e.eventually(name+" in failed/", func() bool { return exists(filepath.Join(e.folders[1], "failed", name+".error.txt")) })
		if s := e.note(1, name); !strings.HasPrefix(s, sentence) {
			t.Errorf("%s: note:\n%s", name, s)
		}
	}
	var h []state.Entry
	e.eventually("three entries in the history", func() bool { h = e.history(); return len(h) == 3 })
	for _, en := range h {
		if filepath.Base(en.Source) == "contacts.xlsx" && en.Reason != `converted: sheet "Sheet1" of an Excel workbook to CSV` {
			t.Errorf("history: %q", en.Reason)
		}
	}
	if len(h) != 3 || len(e.fake.Commits()) != 1 {
		t.Errorf("%d history entries and %d commits, want 3 and 1: %+v", len(h), len(e.fake.Commits()), h)
	}
	for _, p := range []string{filepath.Join(e.folders[1], "~$contacts.xlsx"), filepath.Join(e.folders[0], "elsewhere.xlsx")} {
		if !exists(p) {
			t.Errorf("%s was taken", p)
		}
	}
}
