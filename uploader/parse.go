package uploader

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The functions of this file read the answers of Talkdesk and of S3. They
// are pure, with no I/O and no client state, so that they can be fuzzed.

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
		te := &TokenError{Status: status, Code: body.Error, Description: body.ErrorDescription}
		if jerr != nil {
			te.Description = snippet(raw)
		}
		return tokenAnswer{}, te
	}
	if jerr != nil || body.AccessToken == "" {
		return tokenAnswer{}, &TokenError{Status: status, Description: "answer lacks access_token"}
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		return tokenAnswer{}, &TokenError{Status: status, Description: "unexpected token_type " + strconv.Quote(body.TokenType)}
	}
	lifetime := defaultTokenLifetime
	if n, err := body.ExpiresIn.Int64(); err == nil && n > 0 {
		lifetime = time.Duration(n) * time.Second
	}
	return tokenAnswer{token: body.AccessToken, lifetime: lifetime}, nil
}

// parseCreateAnswer reads the 2xx answer to the creation of an upload
// request. A signed URL that is not https is refused unless both the API
// and the URL are on loopback (tests and local proxies).
func parseCreateAnswer(status int, raw []byte, apiOnLoopback bool) (*UploadRequest, error) {
	const op = "create upload request"
	var ur UploadRequest
	if err := json.Unmarshal(raw, &ur); err != nil || ur.ID == "" || ur.SignedURL == "" {
		return nil, &APIError{Op: op, Status: status, Message: "answer lacks id or signed_url", Snippet: snippet(raw)}
	}
	u, err := url.Parse(ur.SignedURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, &APIError{Op: op, Status: status, Message: "answer has an unusable signed_url"}
	}
	if u.Scheme != "https" && !(apiOnLoopback && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("%s: %w (%s)", op, ErrUnsafeURL, RedactURL(ur.SignedURL))
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
			ae.Code = fmt.Sprint(body.Code)
		}
		ae.Message, ae.Description, ae.Fields = body.Message, body.Description, body.Fields
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
		se.Code, se.Message = x.Code, x.Message
	} else if s := snippet(raw); s != "" {
		se.Message = s
	}
	return se
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// snippet is a short, printable start of an unexpected answer, for errors
// that a person reads.
func snippet(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
