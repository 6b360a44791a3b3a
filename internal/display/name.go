// Package display is how listdrop shows things to people: text that came
// from outside (file names, record list ids, Talkdesk's messages) made safe
// to show on a terminal, in a note beside a failed file, in the history, in
// a log line; and times.
package display

import (
	"fmt"
	"strings"
	"unicode"
)

// Name returns s with every control character, bidirectional formatting
// character and invalid byte written as an escape (\n, \x1b, \u202e), so
// that a file name cannot clear a terminal, forge a line of a note or of
// the history, or reorder what is shown around it. Printable text,
// including every script's letters and the backslashes of Windows paths,
// is kept as it is.
func Name(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == unicode.ReplacementChar && invalidAt(s, i):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Clean returns s with every control and bidirectional formatting
// character replaced by "_": for names sent to another system, which
// should see a plain name rather than escapes.
func Clean(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if unsafeRune(r) || (r == unicode.ReplacementChar && invalidAt(s, i)) {
			b.WriteByte('_')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i, r := range s {
		if unsafeRune(r) || (r == unicode.ReplacementChar && invalidAt(s, i)) {
			return true
		}
	}
	return false
}

// unsafeRune: C0 and C1 controls, DEL, and the characters that change the
// direction or joining of the text around them (U+200E/F, U+202A–E,
// U+2066–9, U+061C) or are invisible line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029, r == 0xfeff:
		return true
	}
	return false
}

// invalidAt reports whether the ReplacementChar decoded at i stands for an
// invalid byte rather than a real U+FFFD in the text.
func invalidAt(s string, i int) bool {
	return !strings.HasPrefix(s[i:], "\uFFFD")
}
