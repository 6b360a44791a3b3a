package pipeline

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// dialect is how a text file was written, as far as its bytes tell.
type dialect struct {
	encoding string // "" for UTF-8, else "UTF-16LE", "UTF-16BE" or "Windows-1252"
	badLine  int    // Windows-1252: the first line with a byte that is not UTF-8
	crOnly   bool   // lines end with a carriage return alone
	sep      rune   // the separator between fields
}

// plain reports whether the file is UTF-8 with commas and LF or CRLF lines.
func (d dialect) plain() bool { return d.encoding == "" && !d.crOnly && d.sep == ',' }

// saveAs is the advice every dialect sentence ends with.
const saveAs = "in Excel, save as 'CSV UTF-8 (Comma delimited)'."

// problems says, one true sentence each, what keeps the file from being the
// comma-separated UTF-8 Talkdesk reads.
func (d dialect) problems() []string {
	var out []string
	switch d.encoding {
	case "UTF-16LE", "UTF-16BE":
		out = append(out, "This file is UTF-16 text (as Excel's \"Unicode Text\" writes); Talkdesk needs UTF-8: "+saveAs)
	case "Windows-1252":
		out = append(out, fmt.Sprintf("This file is not UTF-8: it appears to be Windows-1252 text (as Excel's \"CSV (Comma delimited)\" writes; line %d has the first character that is not UTF-8), and its accented letters would reach Talkdesk garbled: %s", d.badLine, saveAs))
	}
	if d.crOnly {
		out = append(out, "This file ends its lines with a carriage return alone (old Mac line endings, as Excel's \"CSV (Macintosh)\" writes); Talkdesk needs Windows (CRLF) or Unix (LF) line endings: "+saveAs)
	}
	if d.sep != ',' {
		out = append(out, fmt.Sprintf("This file uses %s between fields; Talkdesk needs commas: %s", sepName(d.sep), saveAs))
	}
	return out
}

func sepName(r rune) string {
	switch r {
	case ';':
		return "semicolons"
	case '\t':
		return "tabs"
	case '|':
		return "vertical bars (|)"
	}
	return fmt.Sprintf("%q", r)
}

// detectDialect reads a file's encoding, line endings and separator. text
// is the file as UTF-8 without a byte-order mark, or nil when the file is
// neither UTF-8, UTF-16 nor Windows-1252.
func detectDialect(data []byte) (d dialect, text []byte) {
	d.sep = ','
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || (!bytes.HasPrefix(data, []byte{0xFE, 0xFF}) && looksUTF16(data, 1)):
		d.encoding = "UTF-16LE"
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || looksUTF16(data, 0):
		d.encoding = "UTF-16BE"
	}
	switch {
	case d.encoding == "UTF-16LE":
		text = decodeWith(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder().Bytes, data)
	case d.encoding == "UTF-16BE":
		text = decodeWith(unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder().Bytes, data)
	case utf8.Valid(data):
		text = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	case windows1252(data):
		d.encoding = "Windows-1252"
		d.badLine = 1 + bytes.Count(data[:firstInvalid(data)], []byte("\n"))
		text = decodeWith(charmap.Windows1252.NewDecoder().Bytes, data)
	}
	if text == nil {
		return d, nil
	}
	if bytes.IndexByte(text, '\r') >= 0 && bytes.IndexByte(text, '\n') < 0 {
		d.crOnly = true
		text = bytes.ReplaceAll(text, []byte("\r"), []byte("\n"))
	}
	d.sep = sniffSeparator(text)
	return d, text
}

func decodeWith(decode func([]byte) ([]byte, error), data []byte) []byte {
	out, err := decode(data)
	if err != nil {
		return nil
	}
	return out
}

// looksUTF16 reports whether data without a byte-order mark reads as UTF-16
// text of mostly Latin letters: the byte at zero (0 for big-endian, 1 for
// little-endian) of each pair is almost always NUL, the other almost never.
func looksUTF16(data []byte, zero int) bool {
	n := min(len(data), 4096) &^ 1
	if n < 4 {
		return false
	}
	zeros, others := 0, 0
	for i := 0; i < n; i += 2 {
		if data[i+zero] == 0 {
			zeros++
		}
		if data[i+1-zero] == 0 {
			others++
		}
	}
	pairs := n / 2
	return zeros*10 >= pairs*9 && others == 0
}

// windows1252 reports whether data, not UTF-8, reads as Windows-1252 text:
// no NUL and none of the five bytes Windows-1252 leaves undefined.
func windows1252(data []byte) bool {
	for _, c := range data {
		switch c {
		case 0, 0x81, 0x8D, 0x8F, 0x90, 0x9D:
			return false
		}
	}
	return true
}

// sniffSeparator picks the separator that reads the first lines as a table:
// a header of two fields or more and as many in each record. Comma wins
// when it does; a file no separator reads as a table is taken as commas,
// for the CSV check to say what is wrong with it.
func sniffSeparator(text []byte) rune {
	best, bestFields := ',', 0
	for _, sep := range []rune{',', ';', '\t', '|'} {
		n := tableFields(text, sep)
		if sep == ',' && n >= 2 {
			return ','
		}
		if n > bestFields {
			best, bestFields = sep, n
		}
	}
	return best
}

// tableFields is the number of fields of the header when the first records
// read with sep as a table, else 0.
func tableFields(text []byte, sep rune) int {
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = sep
	r.FieldsPerRecord = 0
	header, err := r.Read()
	if err != nil || len(header) < 2 {
		return 0
	}
	for range 50 {
		if _, err := r.Read(); err == io.EOF {
			break
		} else if err != nil {
			return 0
		}
	}
	return len(header)
}

// dialectProblem is the sentences of the file's dialect problems, or "".
func dialectProblem(data []byte) string {
	d, text := detectDialect(data)
	if text == nil {
		return ""
	}
	return strings.Join(d.problems(), " ")
}
