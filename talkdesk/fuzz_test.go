package talkdesk

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz tests feed the answer parsers anything. Their seeds are in
// testdata/fuzz/<name>; .ci/run fuzzes each one briefly. Run one longer
// with, for example:
//
//	go test -run '^$' -fuzz '^FuzzParseCreateAnswer$' -fuzztime 5m ./talkdesk

// maxErrorLen bounds the text of any error made from an answer, however
// large the answer.
const maxErrorLen = 16 << 10

// checkErrorText checks what every error made from an answer must be: one
// line of valid UTF-8, of bounded length.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if len(msg) > maxErrorLen {
		t.Fatalf("error of %d bytes", len(msg))
	}
	if strings.ContainsAny(msg, "\r\n") || !utf8.ValidString(msg) {
		t.Fatalf("error is not one line of UTF-8: %q", msg)
	}
}

// checkText checks one text copied from an answer.
func checkText(t *testing.T, what, s string, limit int) {
	t.Helper()
	if len(s) > limit+len("…") {
		t.Fatalf("%s of %d bytes, over the %d allowed", what, len(s), limit)
	}
	if !utf8.ValidString(s) {
		t.Fatalf("%s is not UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			t.Fatalf("%s holds a control character: %q", what, s)
		}
	}
}

func checkAPIError(t *testing.T, ae *APIError) {
	t.Helper()
	checkText(t, "code", ae.Code, maxText)
	checkText(t, "message", ae.Message, maxText)
	checkText(t, "description", ae.Description, maxText)
	checkText(t, "snippet", ae.Snippet, maxSnippet)
	if len(ae.Fields) > maxFields+1 {
		t.Fatalf("%d field errors kept", len(ae.Fields))
	}
	for _, f := range ae.Fields {
		checkText(t, "field name", f.Name, maxText)
		checkText(t, "field description", f.Description, maxText)
	}
	checkErrorText(t, ae)
}

func FuzzParseTokenAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, raw []byte) {
		ans, err := parseTokenAnswer(status, raw)
		if err != nil {
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TokenError", err)
			}
			checkText(t, "code", te.Code, maxText)
			// A quoted token_type may have escapes: up to 10 bytes a rune.
			checkText(t, "description", te.Description, 4*maxText+len(`unexpected token_type ""`))
			checkErrorText(t, err)
			return
		}
		if status != 200 {
			t.Fatalf("status %d accepted", status)
		}
		if ans.token == "" || !isHeaderText(ans.token) {
			t.Fatalf("token %q accepted", ans.token)
		}
		if ans.lifetime <= 0 || ans.lifetime > maxTokenLifetime {
			t.Fatalf("lifetime %v", ans.lifetime)
		}
	})
}

func FuzzParseCreateAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, raw []byte, apiOnLoopback bool) {
		ur, err := parseCreateAnswer(status, raw, apiOnLoopback)
		if err != nil {
			if ur != nil {
				t.Fatal("both an answer and an error")
			}
			checkErrorText(t, err)
			var ae *APIError
			switch {
			case errors.As(err, &ae):
				checkAPIError(t, ae)
			case errors.Is(err, ErrUnsafeURL):
			default:
				t.Fatalf("error %T is neither an *APIError nor ErrUnsafeURL: %v", err, err)
			}
			return
		}
		if !usableID(ur.ID) {
			t.Fatalf("id %q accepted", ur.ID)
		}
		u, perr := url.Parse(ur.SignedURL)
		if perr != nil || u.Hostname() == "" {
			t.Fatalf("signed_url %q accepted", ur.SignedURL)
		}
		switch u.Scheme {
		case "https":
		case "http":
			if !apiOnLoopback || !isLoopback(u.Hostname()) {
				t.Fatalf("http signed_url %q accepted (API on loopback: %v)", ur.SignedURL, apiOnLoopback)
			}
		default:
			t.Fatalf("signed_url %q accepted", ur.SignedURL)
		}
	})
}

func FuzzParseAPIError(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, raw []byte) {
		ae := parseAPIError("create upload request", status, raw)
		if ae == nil || ae.Status != status {
			t.Fatalf("error %+v for status %d", ae, status)
		}
		checkAPIError(t, ae)
	})
}

func FuzzParseS3Error(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, raw []byte) {
		se := parseS3Error(status, raw)
		if se == nil || se.Status != status {
			t.Fatalf("error %+v for status %d", se, status)
		}
		checkText(t, "code", se.Code, maxText)
		checkText(t, "message", se.Message, maxText)
		checkErrorText(t, se)
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := retryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("retryAfter(%q) = %v", v, d)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 && n <= int64(maxRetryAfter/time.Second) {
			if d != time.Duration(n)*time.Second {
				t.Fatalf("retryAfter(%q) = %v, want %ds", v, d, n)
			}
		}
	})
}
