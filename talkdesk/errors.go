package talkdesk

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Class says what the caller should do about an error from this package.
type Class int

const (
	// Permanent: the API or S3 refused the file itself; trying again will
	// not help, so the file belongs in failed/.
	Permanent Class = iota
	// Transient: a network fault, an overloaded or restarting service, an
	// answer garbled by a proxy; try again later with backoff.
	Transient
	// Auth: the credentials or their scope do not work. Not the file's
	// fault: keep it and try again later, however long that takes.
	Auth
	// Renew: S3 refused or expired the signed URL; a fresh upload request
	// brings a fresh URL.
	Renew
	// Conflict: the API answered 409. On a PATCH this is the list being busy,
	// or, when an earlier attempt's outcome is unknown, that attempt having
	// been applied; only the caller knows which.
	Conflict
)

func (c Class) String() string {
	switch c {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Auth:
		return "auth"
	case Renew:
		return "renew"
	case Conflict:
		return "conflict"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// FieldError is one entry of the API's "fields" list.
type FieldError struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// APIError is an error answer from the Talkdesk API (any status >= 400), or
// a 2xx answer that could not be understood.
type APIError struct {
	Op          string // "create upload request", "mark uploaded"
	Status      int
	Code        string
	Message     string
	Description string
	Fields      []FieldError
	RetryAfter  time.Duration // from a Retry-After header; 0 when absent
	Snippet     string        // start of a body that was not the documented JSON
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " code %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Description != "" && e.Description != e.Message {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Name, f.Description)
	}
	if e.Snippet != "" {
		fmt.Fprintf(&b, ": unexpected answer %q", e.Snippet)
	}
	return b.String()
}

// S3Error is an error answer to the PUT of the file's bytes.
type S3Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *S3Error) Error() string {
	msg := fmt.Sprintf("upload file to storage: HTTP %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Expired reports whether S3 said the signed URL has expired.
func (e *S3Error) Expired() bool {
	return e.Status == 403 && strings.Contains(strings.ToLower(e.Message), "expired")
}

// TokenError is a failure to obtain an access token.
type TokenError struct {
	Status      int // 0 when no answer came
	Code        string
	Description string
	Err         error // the transport error, when no answer came
}

func (e *TokenError) Error() string {
	if e.Err != nil {
		return "get access token: " + e.Err.Error()
	}
	msg := fmt.Sprintf("get access token: HTTP %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

func (e *TokenError) Unwrap() error { return e.Err }

// ErrUnsafeURL is returned when the API hands out a signed URL that is not
// https while the API itself is not on loopback.
var ErrUnsafeURL = errors.New("signed URL is not https")

// Classify tells the caller what to do about err.
func Classify(err error) Class {
	var te *TokenError
	if errors.As(err, &te) {
		return Auth
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 401 || ae.Status == 403:
			return Auth
		case ae.Status == 409:
			return Conflict
		case ae.Status == 429 || ae.Status >= 500:
			return Transient
		case ae.Status >= 200 && ae.Status < 300:
			return Transient // garbled or incomplete success answer
		case ae.Status >= 400:
			return Permanent
		}
		return Transient
	}
	var se *S3Error
	if errors.As(err, &se) {
		switch {
		case se.Status == 403:
			return Renew
		case se.Status == 429 || se.Status >= 500 && se.Status != 501:
			return Transient
		case se.Status >= 200 && se.Status < 300:
			return Transient
		}
		return Permanent
	}
	if errors.Is(err, ErrUnsafeURL) {
		return Permanent
	}
	// Network errors, timeouts and resets: the request may come through on
	// another try.
	return Transient
}

// RetryAfter returns the wait the server asked for, or 0.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	var se *S3Error
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// OutcomeUnknown reports whether a request that failed with err may still
// have been applied by the server: no answer came, or a gateway answered in
// the server's place.
func OutcomeUnknown(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status == 502 || ae.Status == 504 || (ae.Status >= 200 && ae.Status < 300)
	}
	// No answer at all (timeout, reset, cancelled mid-flight): the request
	// may have reached the server.
	return true
}

// RedactURL drops the query string (a presigned URL's query is a credential)
// and any user info from u, for logs and messages.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i] + "?REDACTED"
		}
		return u
	}
	p.User = nil
	if p.RawQuery != "" {
		p.RawQuery = "REDACTED"
	}
	p.Fragment = ""
	return p.String()
}
