package talkdesk

import (
	"errors"
	"fmt"
	"strings"
)

// Explain turns an error of this package into one plain sentence for the
// person who reads a failed file's note or the upload command's output, and
// the technical detail that follows it.
func Explain(err error, listID string) (sentence, detail string) {
	var b strings.Builder
	var ae *APIError
	var se *S3Error
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
	case errors.Is(err, ErrUnsafeURL):
		sentence = "Talkdesk gave an upload link that is not encrypted (not https), so listdrop did not send the file"
	default:
		sentence = "listdrop could not reach Talkdesk"
		fmt.Fprintf(&b, "Error:           %s\n", err)
	}
	return sentence + ".", b.String()
}

// ExplainRejectedPart says that Talkdesk's validation did not accept a part
// of a split file (its verdict: REJECTED or CORRUPTED), and what to check.
// Talkdesk does not say which record was wrong, and the header line is sent
// with every part: both are named.
func ExplainRejectedPart(part int, verdict string, first, last int) string {
	return fmt.Sprintf("Talkdesk's validation did not accept part %d (%s): check the header line and the records on lines %d–%d against the record-list template in Talkdesk (first name, last name, a phone number in E.164 form).",
		part, verdict, first, last)
}
