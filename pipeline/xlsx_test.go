package pipeline

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// workbook builds an .xlsx in memory; build fills its first sheet.
func workbook(t *testing.T, build func(f *excelize.File, sheet string), opts ...excelize.Options) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	build(f, "Sheet1")
	var b bytes.Buffer
	if err := f.Write(&b, opts...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func set(t *testing.T, f *excelize.File, sheet, cell string, v any) {
	t.Helper()
	if err := f.SetCellValue(sheet, cell, v); err != nil {
		t.Fatal(err)
	}
}

// contacts is a sheet as people make it: phone numbers typed as numbers,
// a date formatted as a date, a merged cell, empty rows at the end.
func contacts(t *testing.T) func(f *excelize.File, sheet string) {
	return func(f *excelize.File, sheet string) {
		for i, h := range []string{"first_name", "last_name", "mobile_phone", "signed_up", "company"} {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			set(t, f, sheet, cell, h)
		}
		set(t, f, sheet, "A2", "Ada")
		set(t, f, sheet, "B2", "Lovelace")
		set(t, f, sheet, "C2", 15555550100) // a number, as Excel stores a typed phone number
		set(t, f, sheet, "D2", time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC))
		set(t, f, sheet, "E2", "Analytical Engines")
		set(t, f, sheet, "A3", "Bob")
		set(t, f, sheet, "B3", "Smith, Jr")
		set(t, f, sheet, "C3", 12025550101)
		set(t, f, sheet, "D3", time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC))
		if err := f.MergeCell(sheet, "E2", "E3"); err != nil {
			t.Fatal(err)
		}
		style, err := f.NewStyle(&excelize.Style{NumFmt: 14}) // m/d/yy, Excel's short date
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetCellStyle(sheet, "D2", "D3", style); err != nil {
			t.Fatal(err)
		}
		// Rows that look empty: a space, and a styled cell with nothing.
		set(t, f, sheet, "A5", " ")
		if err := f.SetCellStyle(sheet, "B7", "B7", style); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWorkbookToCSV(t *testing.T) {
	t.Parallel()
	data := workbook(t, contacts(t))
	out, done, problem := workbookCSV(data, "")
	if problem != "" {
		t.Fatal(problem)
	}
	want := "first_name,last_name,mobile_phone,signed_up,company\r\n" +
		"Ada,Lovelace,15555550100,03-09-24,Analytical Engines\r\n" +
		"Bob,\"Smith, Jr\",12025550101,12-31-25,Analytical Engines\r\n"
	if string(out) != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", out, want)
	}
	if done != `sheet "Sheet1" of an Excel workbook to CSV` {
		t.Errorf("done = %q", done)
	}
	if strings.Contains(string(out), "E+") {
		t.Errorf("a phone number was turned into scientific notation:\n%s", out)
	}
}

func TestWorkbookProblems(t *testing.T) {
	t.Parallel()
	named := workbook(t, func(f *excelize.File, sheet string) {
		set(t, f, sheet, "A1", "not this one")
		if _, err := f.NewSheet("Contacts"); err != nil {
			t.Fatal(err)
		}
		set(t, f, "Contacts", "A1", "first_name")
		set(t, f, "Contacts", "B1", "mobile_phone")
		set(t, f, "Contacts", "A2", "Ada")
		set(t, f, "Contacts", "B2", "+12025550100")
	})
	protected := workbook(t, contacts(t), excelize.Options{Password: "secret"})
	good := workbook(t, contacts(t))
	for _, c := range []struct {
		name, sheet string
		data        []byte
		want        string // the sentence; "" when the workbook converts
		csv         string
	}{
		{"named sheet", "contacts", named, "", "first_name,mobile_phone\r\nAda,+12025550100\r\n"},
		{"missing sheet", "Leads", named, `This workbook has no sheet named "Leads" (its sheets: Sheet1, Contacts); rename the sheet to import, or ask for the folder's sheet setting to be changed.`, ""},
		{"protected", "", protected, "This workbook is protected with a password, so listdrop cannot read it; nothing was imported: in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password) or save the sheet as 'CSV UTF-8 (Comma delimited)'.", ""},
		{"truncated", "", good[:len(good)/2], "This workbook cannot be read: it is damaged or incomplete (", ""},
		{"not a workbook", "", []byte("first_name,last_name\nAda,Lovelace\n"), "This workbook cannot be read: it is damaged or incomplete (", ""},
		{"old .xls renamed", "", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 512)...), "This file is not an Excel .xlsx workbook, though its name ends in .xlsx (an older .xls workbook, or another kind of file); nothing was imported: in Excel, save it as 'Excel Workbook (*.xlsx)' or 'CSV UTF-8 (Comma delimited)'.", ""},
		{"empty sheet", "", workbook(t, func(*excelize.File, string) {}), `The sheet "Sheet1" of this workbook is empty, so there is nothing to import.`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _, problem := workbookCSV(c.data, c.sheet)
			if !strings.HasPrefix(problem, c.want) || (c.want == "") != (problem == "") {
				t.Fatalf("problem =\n%q\nwant\n%q", problem, c.want)
			}
			if string(out) != c.csv {
				t.Errorf("CSV = %q, want %q", out, c.csv)
			}
		})
	}
}
