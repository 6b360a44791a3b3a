package pipeline

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// sidecarSuffix names the explanation written beside a failed file.
const sidecarSuffix = ".error.txt"

// importedField starts the line of a failed file's note that says which
// parts of it were imported: what ImportedInPart looks for.
const importedField = "Imported:        "

// maxNote bounds the note ImportedInPart reads: listdrop's notes are a
// few kilobytes.
const maxNote = 64 << 10

// ImportedInPart reports whether the note beside the failed file at path
// says that parts of it were imported before it failed: put back, it would
// import them again (listdrop retry and the page refuse it without
// force). The note is read as a dropped file is, never through a link:
// the failed folder is one other users may write to.
func ImportedInPart(path string) bool {
	note, _, err := fsutil.ReadDropped(path+sidecarSuffix, maxNote)
	return err == nil && partlyImported(note)
}

// partlyImported reports whether a note has the line importedField begins.
func partlyImported(note []byte) bool {
	return bytes.Contains(note, []byte("\n"+importedField+"part"))
}

// sidecar is the text of <name>.error.txt: one plain sentence first, then
// what an administrator or Talkdesk support needs. It never holds a secret:
// errors carry no token, and signed URLs are never kept.
func sidecar(rec state.Record, now time.Time) []byte {
	var b strings.Builder
	// The reason and the name are one line each: a name that holds a line
	// break must not forge a line of the note.
	b.WriteString(display.Name(rec.Reason))
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "File:            %s\n", display.Name(filepath.Base(rec.Source)))
	fmt.Fprintf(&b, "Dropped in:      %s\n", rec.Folder)
	fmt.Fprintf(&b, "Record list:     %s\n", rec.ListID)
	if rec.Size > 0 || rec.MD5 != "" {
		fmt.Fprintf(&b, "Size:            %d bytes\n", rec.Size)
	}
	if rec.MD5 != "" {
		fmt.Fprintf(&b, "MD5:             %s\n", rec.MD5)
	}
	if rec.UploadID != "" {
		fmt.Fprintf(&b, "Upload request:  %s\n", rec.UploadID)
	}
	n := len(rec.PartsIn)
	if n > 0 {
		which := "part 1"
		if n > 1 {
			which = fmt.Sprintf("parts 1–%d", n)
		}
		fmt.Fprintf(&b, "%s%s of %d (lines %d–%d) into record list %s\n", importedField, which, rec.Parts, rec.PartsIn[0].First, rec.PartsIn[n-1].Last, rec.ListID)
	}
	b.WriteString(rec.Detail)
	if rec.Attempts > 0 {
		fmt.Fprintf(&b, "Failed attempts: %d\n", rec.Attempts)
	}
	if !rec.Claimed.IsZero() {
		fmt.Fprintf(&b, "Taken at:        %s\n", display.Time(rec.Claimed))
	}
	if !rec.FirstFailure.IsZero() {
		fmt.Fprintf(&b, "First failure:   %s\n", display.Time(rec.FirstFailure))
	}
	fmt.Fprintf(&b, "Failed at:       %s\n", display.Time(now))
	switch {
	case rec.Duplicate:
		b.WriteString("\nlistdrop compares content, not names: renaming the file does not make it new.\n")
	case n > 0:
		// Put back, even fixed, it would be imported whole: its first
		// parts twice.
		fmt.Fprintf(&b, "\nDo not put this file back: its first %d of %d parts are in record list %s, and would be imported again", n, rec.Parts, rec.ListID)
		if rec.Remaining != "" {
			fmt.Fprintf(&b, "; fix and drop %s instead, which holds the rest", display.Name(filepath.Base(rec.Remaining)))
		}
		b.WriteString(". To import the whole file again anyway: listdrop retry --force.\n")
	default:
		b.WriteString("\nTo try again, fix the cause, then move the file back into the drop folder (and delete this note).\n")
	}
	return []byte(b.String())
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || (n < len(s) && unicode.IsUpper(rune(s[n]))) || strings.HasPrefix(s, "Talkdesk") {
		return s // keep acronyms and names as they are
	}
	return string(unicode.ToLower(r)) + s[n:]
}
