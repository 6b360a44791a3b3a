package pipeline

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"

	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/watcher"
)

// convertCSV turns a file in another dialect into the comma-separated UTF-8
// Talkdesk reads, for a folder with convert on. It returns nil when the file
// needs nothing (or cannot be converted: the CSV check then says why), and
// otherwise the converted bytes and what was done, in words.
//
// Line endings become CRLF: RFC 4180's line ending and what Excel writes, so
// a converted file looks like the ones Talkdesk's template produces. A file
// whose separator changes is written again field by field, quoted where a
// field holds a comma, a quote or a line break.
func convertCSV(data []byte) (out []byte, done string) {
	d, text := detectDialect(data)
	if text == nil || d.plain() || d.sep == '|' {
		return nil, ""
	}
	var what []string
	if d.encoding != "" {
		what = append(what, d.encoding+" text to UTF-8")
	}
	if d.crOnly {
		what = append(what, "carriage-return line endings to CRLF")
	}
	if d.sep == ',' {
		if d.crOnly {
			// detectDialect made every line end LF.
			text = bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))
		}
		return text, strings.Join(what, ", ")
	}
	what = append(what, sepName(d.sep)+" between fields to commas")
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = d.sep
	r.FieldsPerRecord = -1 // the CSV check says which line is short
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "" // not a table after all: refused with the sentence
		}
		if err := w.Write(rec); err != nil {
			return nil, ""
		}
	}
	w.Flush()
	return b.Bytes(), strings.Join(what, ", ")
}

// prepare is what is checked, hashed and uploaded for a file's bytes: the
// bytes themselves, or, in a folder with convert on, their conversion and
// what it did; a workbook's CSV, or why it has none.
func (p *Pipeline) prepare(f *folder, name string, data []byte) (out []byte, done, problem string) {
	if f != nil && isWorkbook(name) {
		return workbookCSV(data, f.cfg.Sheet)
	}
	if f == nil || !f.cfg.Convert {
		return data, "", ""
	}
	if out, done := convertCSV(data); out != nil {
		return out, done, ""
	}
	return data, "", ""
}

// eligible reports whether a file of this name is taken from the folder.
func (f *folder) eligible(name string) bool {
	return watcher.Eligible(name) || (f.cfg.XLSX && watcher.EligibleWorkbook(name))
}

// convertedReason is what the history says of a file imported after a
// conversion; a failed file's reason stays as it is.
func convertedReason(rec state.Record, result state.Result, reason string) string {
	if result == state.Done && reason == "" && rec.Converted != "" {
		return "converted: " + rec.Converted
	}
	return reason
}
