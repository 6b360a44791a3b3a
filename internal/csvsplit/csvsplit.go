// Package csvsplit cuts a CSV into parts that each fit one upload: the
// header line, then as many whole records as fit, in the file's order.
package csvsplit

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// A record is never cut, even where a quoted field holds a line break. The
// UTF-8 byte order mark is on no part: every part starts with the same
// header, and Talkdesk reads UTF-8 without it. The cut depends only on the
// bytes and the limit, so a file resumed after a restart is cut exactly as
// before.

// BOM is the byte order mark some programs put before UTF-8 text.
var BOM = []byte("\xEF\xBB\xBF")

// File is a CSV cut into parts.
type File struct {
	Header []byte // the header line, with its line ending, without a BOM
	Body   []byte // the file without its BOM
	Parts  []Part
}

// Part is one upload of a file: records Body[Start:End], which are lines
// First to Last of the file.
type Part struct {
	Start, End  int
	First, Last int
	Records     int
}

// Cut cuts a CSV into parts of at most limit bytes, header included. When
// it cannot, the problem is a sentence saying why, for the person who
// dropped the file.
func Cut(data []byte, limit int) (s *File, problem string) {
	body := bytes.TrimPrefix(data, BOM)
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1 // the CSV check, when on, has checked the counts
	r.ReuseRecord = true
	if _, err := r.Read(); err == io.EOF {
		return nil, "This file has no header line and no records."
	} else if err != nil {
		return nil, "This file cannot be cut into parts: " + lowerFirst(Problem(err))
	}
	s = &File{Body: body, Header: body[:r.InputOffset()]}
	if !bytes.HasSuffix(s.Header, []byte("\n")) {
		return nil, "This file has a header line but no records."
	}
	if len(s.Header) >= limit {
		return nil, fmt.Sprintf("The header line alone is %d bytes; a part of %d bytes (Talkdesk's limit for one upload) must hold it and at least one record, so this file cannot be imported.", len(s.Header), limit)
	}
	lines := bytes.Count(s.Header, []byte("\n")) // newlines before prev
	prev := len(s.Header)
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "This file cannot be cut into parts: " + lowerFirst(Problem(err))
		}
		first, _ := r.FieldPos(0)
		end := int(r.InputOffset())
		lines += bytes.Count(body[prev:end], []byte("\n"))
		last := lines // the record's last line holds its terminating newline
		if !bytes.HasSuffix(body[:end], []byte("\n")) {
			last++ // the file's last line, without a line ending
		}
		if size := len(s.Header) + end - prev; size > limit {
			if first == last {
				return nil, fmt.Sprintf("The record on line %d is too big to import: with the header line it is %d bytes, over the %d bytes Talkdesk accepts in one upload. Shorten or remove it, then drop the file again.", first, size, limit)
			}
			return nil, fmt.Sprintf("The record on lines %d–%d is too big to import: with the header line it is %d bytes, over the %d bytes Talkdesk accepts in one upload. Shorten or remove it, then drop the file again.", first, last, size, limit)
		}
		n := len(s.Parts)
		if n == 0 || len(s.Header)+end-s.Parts[n-1].Start > limit {
			s.Parts = append(s.Parts, Part{Start: prev, First: first})
			n++
		}
		p := &s.Parts[n-1]
		p.End, p.Last = end, last
		p.Records++
		prev = end
	}
	if len(s.Parts) == 0 {
		return nil, "This file has a header line but no records."
	}
	return s, ""
}

// Bytes is what part k (from 0) uploads: the header, then its records.
func (s *File) Bytes(k int) []byte {
	p := s.Parts[k]
	b := make([]byte, 0, len(s.Header)+p.End-p.Start)
	return append(append(b, s.Header...), s.Body[p.Start:p.End]...)
}

// Remaining is the header and every record from part k (from 0) on: what
// is left to import once the parts before k are in.
func (s *File) Remaining(k int) []byte {
	b := make([]byte, 0, len(s.Header)+len(s.Body)-s.Parts[k].Start)
	return append(append(b, s.Header...), s.Body[s.Parts[k].Start:s.Parts[len(s.Parts)-1].End]...)
}

// Problem says in plain words what a CSV reading error means.
func Problem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrFieldCount):
			return fmt.Sprintf("Line %d does not have as many fields as the header line.", pe.Line)
		case errors.Is(pe.Err, csv.ErrQuote), errors.Is(pe.Err, csv.ErrBareQuote):
			return fmt.Sprintf("Line %d has a misplaced quote (\") at column %d.", pe.Line, pe.Column)
		}
		return fmt.Sprintf("Line %d cannot be read as CSV: %v.", pe.Line, pe.Err)
	}
	return "This file cannot be read as CSV: " + err.Error() + "."
}

// lowerFirst lower-cases the first letter of a sentence put after a colon.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}
