package pipeline

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"unicode/utf8"

	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/talkdesk"
)

// A file over Talkdesk's MaxSize, in a folder with split: true, is
// imported as parts: each part is the header line followed by as many whole
// records as fit in MaxSize, in the file's order. A record is never cut,
// even where a quoted field holds a line break. The UTF-8 byte order mark
// is on no part: every part starts with the same header, and Talkdesk reads
// UTF-8 without it. The cut depends only on the bytes, so a file resumed
// after a restart is cut exactly as before.

// utf8BOM is the byte order mark some programs put before UTF-8 text.
var utf8BOM = []byte("\xEF\xBB\xBF")

// split is a file cut into parts.
type split struct {
	header []byte // the header line, with its line ending, without a BOM
	body   []byte // the file without its BOM
	parts  []part
}

// part is one upload of a split file: records body[start:end], which are
// lines first to last of the file.
type part struct {
	start, end  int
	first, last int
	records     int
}

// splitCSV cuts a CSV into parts of at most limit bytes, header included.
// The problem is a sentence for the failed folder when it cannot be cut.
func splitCSV(data []byte, limit int) (s *split, problem string) {
	body := bytes.TrimPrefix(data, utf8BOM)
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1 // the CSV check, when on, has checked the counts
	r.ReuseRecord = true
	if _, err := r.Read(); err == io.EOF {
		return nil, "This file has no header line and no records."
	} else if err != nil {
		return nil, "This file cannot be cut into parts: " + lowerFirst(csvProblem(err))
	}
	s = &split{body: body, header: body[:r.InputOffset()]}
	if !bytes.HasSuffix(s.header, []byte("\n")) {
		return nil, "This file has a header line but no records."
	}
	if len(s.header) >= limit {
		return nil, fmt.Sprintf("The header line alone is %d bytes; a part of %d bytes (Talkdesk's limit for one upload) must hold it and at least one record, so this file cannot be imported.", len(s.header), limit)
	}
	lines := bytes.Count(s.header, []byte("\n")) // newlines before prev
	prev := len(s.header)
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "This file cannot be cut into parts: " + lowerFirst(csvProblem(err))
		}
		first, _ := r.FieldPos(0)
		end := int(r.InputOffset())
		lines += bytes.Count(body[prev:end], []byte("\n"))
		last := lines // the record's last line holds its terminating newline
		if !bytes.HasSuffix(body[:end], []byte("\n")) {
			last++ // the file's last line, without a line ending
		}
		if size := len(s.header) + end - prev; size > limit {
			if first == last {
				return nil, fmt.Sprintf("The record on line %d is too big to import: with the header line it is %d bytes, over the %d bytes Talkdesk accepts in one upload. Shorten or remove it, then drop the file again.", first, size, limit)
			}
			return nil, fmt.Sprintf("The record on lines %d–%d is too big to import: with the header line it is %d bytes, over the %d bytes Talkdesk accepts in one upload. Shorten or remove it, then drop the file again.", first, last, size, limit)
		}
		n := len(s.parts)
		if n == 0 || len(s.header)+end-s.parts[n-1].start > limit {
			s.parts = append(s.parts, part{start: prev, first: first})
			n++
		}
		p := &s.parts[n-1]
		p.end, p.last = end, last
		p.records++
		prev = end
	}
	if len(s.parts) == 0 {
		return nil, "This file has a header line but no records."
	}
	return s, ""
}

// bytes is what part k (from 0) uploads: the header, then its records.
func (s *split) bytes(k int) []byte {
	p := s.parts[k]
	b := make([]byte, 0, len(s.header)+p.end-p.start)
	return append(append(b, s.header...), s.body[p.start:p.end]...)
}

// remaining is the header and every record from part k (from 0) on: what
// is left to import once the parts before k are in.
func (s *split) remaining(k int) []byte {
	b := make([]byte, 0, len(s.header)+len(s.body)-s.parts[k].start)
	return append(append(b, s.header...), s.body[s.parts[k].start:s.parts[len(s.parts)-1].end]...)
}

// partName is the name part k (from 1) of n gets at Talkdesk: the file's
// name with the part's number and the count, within Talkdesk's 35
// characters ("contacts-part07of40.csv"); the name is shortened, not the
// numbers.
func partName(name string, k, n int) string {
	name = display.Clean(filepath.Base(name))
	ext := filepath.Ext(name)
	if utf8.RuneCountInString(ext) > 8 {
		ext = ""
	}
	width := len(fmt.Sprint(n))
	suffix := fmt.Sprintf("-part%0*dof%d", width, k, n) + ext
	stem := []rune(name[:len(name)-len(ext)])
	if keep := talkdesk.MaxFilename - utf8.RuneCountInString(suffix); len(stem) > keep {
		stem = stem[:max(keep, 0)]
	}
	return string(stem) + suffix
}
