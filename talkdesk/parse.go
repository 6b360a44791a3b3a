package talkdesk

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The functions of this file read the answers of Talkdesk and of S3. They
// are pure, with no I/O and no client state, so that they can be fuzzed.
// Whatever an answer holds, the text they copy from it into an error is
// one line, printable and cut short: errors end up in logs and in the
// explanations beside failed files.

// Bounds on what is kept of an answer.
const (
	maxText    = 200 // bytes of one text (code, message, field) of an answer
	maxSnippet = 120 // bytes of the start of an answer that was not understood
	maxFields  = 20  // field errors kept from one answer
	maxIDLen   = 256 // bytes of an upload request id; Talkdesk's are UUIDs
	// maxTokenLifetime and maxRetryAfter bound durations read from answers,
	// which would otherwise overflow time.Duration.
	maxTokenLifetime = 24 * time.Hour
	maxRetryAfter    = 24 * time.Hour
)

// tokenAnswer is what a successful answer of the token endpoint gives.
type tokenAnswer struct {
	token    string
	lifetime time.Duration
}

// defaultTokenLifetime is used when a token answer has no expires_in: the
// lifetime is not documented.
const defaultTokenLifetime = 5 * time.Minute

// parseTokenAnswer reads the token endpoint's answer to a client
// credentials grant. Errors are *TokenError.
func parseTokenAnswer(status int, raw []byte) (tokenAnswer, error) {
	var body struct {
		AccessToken      string          `json:"access_token"`
		TokenType        string          `json:"token_type"`
		ExpiresIn        json.Number     `json:"expires_in"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
		Scope            json.RawMessage `json:"scope"`
	}
	jerr := json.Unmarshal(raw, &body)
	if status != http.StatusOK {
		te := &TokenError{Status: status, Code: clip(body.Error, maxText), Description: clip(body.ErrorDescription, maxText)}
		if jerr != nil {
			te.Description = snippet(raw)
		}
		return tokenAnswer{}, te
	}
	if jerr != nil || body.AccessToken == "" {
		return tokenAnswer{}, &TokenError{Status: status, Description: "answer lacks access_token"}
	}
	if !isHeaderText(body.AccessToken) {
		// It goes into an Authorization header; never echo it.
		return tokenAnswer{}, &TokenError{Status: status, Description: "answer has an access_token that is not printable ASCII"}
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		return tokenAnswer{}, &TokenError{Status: status, Description: "unexpected token_type " + strconv.Quote(clip(body.TokenType, maxText))}
	}
	if granted, ok := grantedScopes(body.Scope); ok && !slices.Contains(granted, Scope) {
		// A token without the scope would only be refused by every call.
		return tokenAnswer{}, &TokenError{Status: status, Code: "invalid_scope", Description: "the token was granted without scope " + Scope}
	}
	lifetime := defaultTokenLifetime
	if n, err := body.ExpiresIn.Int64(); err == nil && n > 0 {
		lifetime = time.Duration(min(n, int64(maxTokenLifetime/time.Second))) * time.Second
	}
	return tokenAnswer{token: body.AccessToken, lifetime: lifetime}, nil
}

// grantedScopes reads the scope of a token answer, a string of names
// separated by spaces (or commas); ok is false when the answer has none
// in that form, and then nothing is concluded from it.
func grantedScopes(raw json.RawMessage) (scopes []string, ok bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" {
		return nil, false
	}
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }), true
}

// parseCreateAnswer reads the 2xx answer to the creation of an upload
// request. A signed URL that is not https is refused unless both the API
// and the URL are on loopback (tests and local proxies). The id goes into
// the PATCH's URL, escaped, and into logs and explanations: "." and "..",
// which would change the URL's path, and control characters are refused.
func parseCreateAnswer(status int, raw []byte, apiOnLoopback bool) (*UploadRequest, error) {
	const op = "create upload request"
	var ur UploadRequest
	if err := json.Unmarshal(raw, &ur); err != nil || ur.ID == "" || ur.SignedURL == "" {
		return nil, &APIError{Op: op, Status: status, Message: "answer lacks id or signed_url", Snippet: snippet(raw)}
	}
	if !usableID(ur.ID) {
		return nil, &APIError{Op: op, Status: status, Message: "answer has an unusable id"}
	}
	u, err := url.Parse(ur.SignedURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, &APIError{Op: op, Status: status, Message: "answer has an unusable signed_url"}
	}
	if u.Scheme != "https" && !(apiOnLoopback && isLoopback(u.Hostname())) {
		// Only the scheme and host: the rest of a signed URL is a credential.
		return nil, fmt.Errorf("%s: %w (%s)", op, ErrUnsafeURL, clip(u.Scheme+"://"+u.Host, maxText))
	}
	return &ur, nil
}

// parseAPIError reads an error answer of the Record Lists API: the
// documented JSON body, or anything else (an HTML page from a proxy), of
// which the error keeps a snippet.
func parseAPIError(op string, status int, raw []byte) *APIError {
	ae := &APIError{Op: op, Status: status}
	var body struct {
		Code        any          `json:"code"`
		Message     string       `json:"message"`
		Description string       `json:"description"`
		Fields      []FieldError `json:"fields"`
	}
	if json.Unmarshal(raw, &body) == nil && (body.Code != nil || body.Message != "") {
		if body.Code != nil {
			ae.Code = clip(fmt.Sprint(body.Code), maxText)
		}
		ae.Message, ae.Description = clip(body.Message, maxText), clip(body.Description, maxText)
		for i, f := range body.Fields {
			if i == maxFields {
				ae.Fields = append(ae.Fields, FieldError{Name: "…", Description: fmt.Sprintf("%d more not shown", len(body.Fields)-maxFields)})
				break
			}
			ae.Fields = append(ae.Fields, FieldError{Name: clip(f.Name, maxText), Description: clip(f.Description, maxText)})
		}
	} else {
		ae.Snippet = snippet(raw)
	}
	return ae
}

// parseS3Error reads an error answer of S3: XML <Error><Code>…, or a
// snippet of anything else.
func parseS3Error(status int, raw []byte) *S3Error {
	se := &S3Error{Status: status}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(raw, &x) == nil {
		se.Code, se.Message = clip(x.Code, maxText), clip(x.Message, maxText)
	} else if s := snippet(raw); s != "" {
		se.Message = s
	}
	return se
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date. The
// result is between 0 (absent or unreadable) and maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// snippet is a short, printable start of an unexpected answer, for errors
// that a person reads.
func snippet(raw []byte) string {
	return clip(string(raw), maxSnippet)
}

// clip makes s one printable line of at most n bytes and an ellipsis: runs
// of spaces and control characters become one space, invisible formatting
// characters (such as a right-to-left override) are dropped, and bytes that
// are not UTF-8 become "?".
func clip(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = b.Len() > 0
			continue
		case unicode.Is(unicode.Cf, r):
			continue
		case r == utf8.RuneError:
			r = '?'
		}
		size := utf8.RuneLen(r)
		if space {
			size++
		}
		if b.Len()+size > n {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// usableID reports whether an upload request id can be used as one escaped
// path segment and shown in a log line: not empty, not "." or "..", no
// control characters, valid UTF-8, and not absurdly long.
func usableID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > maxIDLen || !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// isHeaderText reports whether s is printable ASCII without spaces, as a
// bearer token must be (RFC 6750).
func isHeaderText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// redacted stands for a credential cut out of an answer or an error.
const redacted = "[redacted]"

// scrubbed returns raw with every credential replaced.
func scrubbed(raw []byte, creds []string) []byte {
	for _, c := range creds {
		if c != "" {
			raw = bytes.ReplaceAll(raw, []byte(c), []byte(redacted))
		}
	}
	return raw
}

// scrub replaces every credential in the texts of err, an error of this
// package, in place; it catches what scrubbed missed in an answer that
// escaped them (JSON's "\/", XML's entities). It returns err.
func scrub(err error, creds []string) error {
	clean := func(s *string) {
		for _, c := range creds {
			if c != "" {
				*s = strings.ReplaceAll(*s, c, redacted)
			}
		}
	}
	var ae *APIError
	if errors.As(err, &ae) {
		clean(&ae.Code)
		clean(&ae.Message)
		clean(&ae.Description)
		clean(&ae.Snippet)
		for i := range ae.Fields {
			clean(&ae.Fields[i].Name)
			clean(&ae.Fields[i].Description)
		}
	}
	var te *TokenError
	if errors.As(err, &te) {
		clean(&te.Code)
		clean(&te.Description)
	}
	var se *S3Error
	if errors.As(err, &se) {
		clean(&se.Code)
		clean(&se.Message)
	}
	return err
}
