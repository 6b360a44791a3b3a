package pipeline

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/xuri/excelize/v2"
)

// MaxWorkbookSize bounds what is read of a dropped workbook: its CSV must
// still fit Talkdesk's MaxSize, so a workbook larger than this is refused
// unread rather than unzipped.
const MaxWorkbookSize = 5 << 20

// workbookUnzipLimit bounds what a workbook may unzip to, so a small file
// that inflates to gigabytes is refused, not expanded (and never spills to
// a temporary folder: the XML limit is the same).
const workbookUnzipLimit = 64 << 20

// isWorkbook reports whether a dropped file's name is an Excel workbook.
func isWorkbook(name string) bool { return strings.EqualFold(filepath.Ext(name), ".xlsx") }

// readLimit is how much of a dropped file is read.
func (f *folder) readLimit(name string) int64 {
	switch {
	case f == nil:
		return MaxSize
	case isWorkbook(name):
		return MaxWorkbookSize
	case f.cfg.Splits():
		return int64(f.cfg.SplitLimit())
	}
	return MaxSize
}

// rawSizeProblem is sizeProblem for the file as dropped: a workbook's size
// is checked on its CSV.
func (f *folder) rawSizeProblem(name string, n int64) string {
	if isWorkbook(name) && n > 0 && n <= MaxWorkbookSize {
		return ""
	}
	if isWorkbook(name) && n > MaxWorkbookSize {
		return fmt.Sprintf("This workbook is %d bytes, larger than the %d bytes listdrop reads of a workbook; its CSV could not fit the %d bytes Talkdesk accepts in one upload: split it into smaller files.", n, MaxWorkbookSize, MaxSize)
	}
	return sizeProblem(n, f.cfg)
}

// workbookCSV converts a sheet of an .xlsx workbook (the named one, or the
// first) to CSV, taking each cell as Excel shows it: its formatted text, so
// a phone number stored as a number keeps its digits and a date reads as a
// date. A merged range gives its value to every cell it covers, as it is
// shown across them; empty rows at the end are dropped, and each row gets
// as many fields as the widest. It returns the CSV, what was converted, and
// a sentence when the workbook cannot be converted.
func workbookCSV(data []byte, sheet string) (out []byte, done, problem string) {
	if bytes.HasPrefix(data, oleMagic) {
		// Not a zip: an encrypted workbook is an OLE container with an
		// EncryptionInfo stream; an old .xls is an OLE container too.
		if bytes.Contains(data, encryptionInfo) {
			return nil, "", workbookProblem(excelize.ErrWorkbookPassword)
		}
		return nil, "", workbookProblem(excelize.ErrWorkbookFileFormat)
	}
	wb, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: workbookUnzipLimit, UnzipXMLSizeLimit: workbookUnzipLimit})
	if err != nil {
		return nil, "", workbookProblem(err)
	}
	defer wb.Close()
	sheets := wb.GetSheetList()
	if sheet == "" {
		if len(sheets) == 0 {
			return nil, "", "This workbook has no sheet, so there is nothing to import."
		}
		sheet = sheets[0]
	} else if !containsFold(sheets, &sheet) {
		return nil, "", fmt.Sprintf("This workbook has no sheet named %q (its sheets: %s); rename the sheet to import, or ask for the folder's sheet setting to be changed.", sheet, strings.Join(sheets, ", "))
	}
	rows, err := wb.GetRows(sheet)
	if err != nil {
		return nil, "", workbookProblem(err)
	}
	merged, err := wb.GetMergeCells(sheet)
	if err != nil {
		return nil, "", workbookProblem(err)
	}
	for _, m := range merged {
		rows = fillMerged(rows, m)
	}
	for len(rows) > 0 && blankRow(rows[len(rows)-1]) {
		rows = rows[:len(rows)-1]
	}
	if len(rows) == 0 {
		return nil, "", fmt.Sprintf("The sheet %q of this workbook is empty, so there is nothing to import.", sheet)
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r))
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	for _, r := range rows {
		for len(r) < width {
			r = append(r, "")
		}
		if err := w.Write(r); err != nil {
			return nil, "", workbookProblem(err)
		}
	}
	w.Flush()
	return b.Bytes(), fmt.Sprintf("sheet %q of an Excel workbook to CSV", sheet), ""
}

var (
	oleMagic       = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	encryptionInfo = []byte("E\x00n\x00c\x00r\x00y\x00p\x00t\x00i\x00o\x00n\x00I\x00n\x00f\x00o\x00")
)

func workbookProblem(err error) string {
	switch {
	case errors.Is(err, excelize.ErrWorkbookPassword):
		return "This workbook is protected with a password, so listdrop cannot read it; nothing was imported: in Excel, remove the password (File > Info > Protect Workbook > Encrypt with Password) or save the sheet as 'CSV UTF-8 (Comma delimited)'."
	case errors.Is(err, excelize.ErrWorkbookFileFormat):
		return "This file is not an Excel .xlsx workbook, though its name ends in .xlsx (an older .xls workbook, or another kind of file); nothing was imported: in Excel, save it as 'Excel Workbook (*.xlsx)' or 'CSV UTF-8 (Comma delimited)'."
	}
	return fmt.Sprintf("This workbook cannot be read: it is damaged or incomplete (%v); nothing was imported: open it in Excel and save it again.", err)
}

// containsFold finds name among sheets without regard to case, as Excel
// does, and gives it the sheet's own spelling.
func containsFold(sheets []string, name *string) bool {
	for _, s := range sheets {
		if strings.EqualFold(s, *name) {
			*name = s
			return true
		}
	}
	return false
}

// fillMerged copies a merged range's value into every cell it covers.
func fillMerged(rows [][]string, m excelize.MergeCell) [][]string {
	c1, r1, err1 := excelize.CellNameToCoordinates(m.GetStartAxis())
	c2, r2, err2 := excelize.CellNameToCoordinates(m.GetEndAxis())
	if err1 != nil || err2 != nil {
		return rows
	}
	v := m.GetCellValue()
	for r := r1; r <= r2; r++ {
		for len(rows) < r {
			rows = append(rows, nil)
		}
		for len(rows[r-1]) < c2 {
			rows[r-1] = append(rows[r-1], "")
		}
		for c := c1; c <= c2; c++ {
			rows[r-1][c-1] = v
		}
	}
	return rows
}

func blankRow(r []string) bool {
	for _, c := range r {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// uploadName is the name Talkdesk is given for a dropped file: a
// workbook's CSV is named like the workbook, ending in .csv.
func uploadName(name string) string {
	if isWorkbook(name) {
		return name[:len(name)-len(filepath.Ext(name))] + ".csv"
	}
	return name
}
