package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// sidecarSuffix names the explanation written beside a failed file.
const sidecarSuffix = ".error.txt"

// explain turns an upload error into one plain sentence for the person who
// reads the failed folder, and the technical detail that follows it.
func explain(err error, listID string) (sentence, detail string) {
	var b strings.Builder
	var ae *talkdesk.APIError
	var se *talkdesk.S3Error
	switch {
	case errors.As(err, &ae):
		switch ae.Status {
		case 400:
			sentence = "Talkdesk refused this file's upload as invalid"
		case 404:
			sentence = fmt.Sprintf("Talkdesk says record list %s does not exist or this account cannot use it; check record_list_id in the configuration", listID)
		case 413:
			sentence = "Talkdesk refused this file as too large"
		case 409:
			sentence = "Talkdesk kept answering that the record list is busy with another upload"
		case 429:
			sentence = "Talkdesk kept asking listdrop to slow down"
		default:
			if ae.Status >= 500 {
				sentence = fmt.Sprintf("Talkdesk kept answering with a server error (HTTP %d)", ae.Status)
			} else {
				sentence = fmt.Sprintf("Talkdesk answered HTTP %d", ae.Status)
			}
		}
		if ae.Message != "" && ae.Status != 404 {
			sentence += ": " + strings.TrimSuffix(ae.Message, ".")
		}
		fmt.Fprintf(&b, "Step:            %s\n", ae.Op)
		fmt.Fprintf(&b, "HTTP status:     %d\n", ae.Status)
		if ae.Code != "" {
			fmt.Fprintf(&b, "API code:        %s\n", ae.Code)
		}
		if ae.Message != "" {
			fmt.Fprintf(&b, "API message:     %s\n", ae.Message)
		}
		if ae.Description != "" {
			fmt.Fprintf(&b, "API description: %s\n", ae.Description)
		}
		for _, fe := range ae.Fields {
			fmt.Fprintf(&b, "Field error:     %s: %s\n", fe.Name, fe.Description)
		}
		if ae.Snippet != "" {
			fmt.Fprintf(&b, "Answer:          %s\n", ae.Snippet)
		}
	case errors.As(err, &se):
		switch {
		case se.Code == "BadDigest" || se.Code == "InvalidDigest":
			sentence = "The file storage refused the upload because the file's checksum did not match its content; the file may have changed while it was sent"
		case se.Code == "SignatureDoesNotMatch":
			sentence = "The file storage refused the upload link Talkdesk gave (signature does not match)"
		case se.Status == 403:
			sentence = "The file storage kept refusing the upload links Talkdesk gave"
		default:
			sentence = fmt.Sprintf("The file storage refused the upload (HTTP %d)", se.Status)
		}
		fmt.Fprintf(&b, "Step:            upload file to storage\n")
		fmt.Fprintf(&b, "HTTP status:     %d\n", se.Status)
		if se.Code != "" {
			fmt.Fprintf(&b, "Storage code:    %s\n", se.Code)
		}
		if se.Message != "" {
			fmt.Fprintf(&b, "Storage message: %s\n", se.Message)
		}
	case errors.Is(err, talkdesk.ErrUnsafeURL):
		sentence = "Talkdesk gave an upload link that is not encrypted (not https), so listdrop did not send the file"
	default:
		sentence = "listdrop could not reach Talkdesk"
		fmt.Fprintf(&b, "Error:           %s\n", err)
	}
	return sentence + ".", b.String()
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
	b.WriteString(rec.Detail)
	if rec.Attempts > 0 {
		fmt.Fprintf(&b, "Failed attempts: %d\n", rec.Attempts)
	}
	if !rec.Claimed.IsZero() {
		fmt.Fprintf(&b, "Taken at:        %s\n", formatTime(rec.Claimed))
	}
	if !rec.FirstFailure.IsZero() {
		fmt.Fprintf(&b, "First failure:   %s\n", formatTime(rec.FirstFailure))
	}
	fmt.Fprintf(&b, "Failed at:       %s\n", formatTime(now))
	if rec.Duplicate {
		b.WriteString("\nlistdrop compares content, not names: renaming the file does not make it new.\n")
	} else {
		b.WriteString("\nTo try again, fix the cause, then move the file back into the drop folder (and delete this note).\n")
	}
	return []byte(b.String())
}

func formatTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") }

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || (n < len(s) && unicode.IsUpper(rune(s[n]))) {
		return s // keep acronyms and names as they are
	}
	return string(unicode.ToLower(r)) + s[n:]
}
