package talkdesk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"400 invalid", &APIError{Status: 400}, Permanent},
		{"404 no list", &APIError{Status: 404}, Permanent},
		{"413 too large", &APIError{Status: 413}, Permanent},
		{"401 after renewal", &APIError{Status: 401}, Auth},
		{"403 scope", &APIError{Status: 403}, Auth},
		{"409 busy", &APIError{Status: 409}, Conflict},
		{"429", &APIError{Status: 429}, Transient},
		{"500", &APIError{Status: 500}, Transient},
		{"503", &APIError{Status: 503}, Transient},
		{"garbled 201", &APIError{Status: 201, Snippet: "<html>"}, Transient},
		{"token refused", &TokenError{Status: 401, Code: "invalid_client"}, Auth},
		{"token endpoint down", &TokenError{Err: errors.New("connection refused")}, Auth},
		{"s3 expired", &S3Error{Status: 403, Message: "Request has expired"}, Renew},
		{"s3 signature", &S3Error{Status: 403, Code: "SignatureDoesNotMatch"}, Renew},
		{"s3 bad digest", &S3Error{Status: 400, Code: "BadDigest"}, Permanent},
		{"s3 503", &S3Error{Status: 503, Code: "SlowDown"}, Transient},
		{"s3 501 chunked", &S3Error{Status: 501}, Permanent},
		{"network", errors.New("read: connection reset by peer"), Transient},
		{"timeout", context.DeadlineExceeded, Transient},
		{"wrapped", fmt.Errorf("x: %w", &APIError{Status: 400}), Permanent},
		{"unsafe url", fmt.Errorf("x: %w", ErrUnsafeURL), Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOutcomeUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("timeout awaiting response headers"), true},
		{&APIError{Status: 504}, true},
		{&APIError{Status: 502}, true},
		{&APIError{Status: 503}, false},
		{&APIError{Status: 409}, false},
		{&APIError{Status: 400}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := OutcomeUnknown(tt.err); got != tt.want {
			t.Errorf("OutcomeUnknown(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	in := "https://bucket.s3.amazonaws.com/u/1/a.csv?X-Amz-Credential=AKIA%2F&X-Amz-Signature=deadbeef"
	got := RedactURL(in)
	if strings.Contains(got, "deadbeef") || strings.Contains(got, "AKIA") {
		t.Fatalf("RedactURL kept the credential: %s", got)
	}
	if !strings.HasPrefix(got, "https://bucket.s3.amazonaws.com/u/1/a.csv") {
		t.Fatalf("RedactURL lost the path: %s", got)
	}
	if got := RedactURL("https://user:pw@h/x"); strings.Contains(got, "pw") {
		t.Fatalf("RedactURL kept user info: %s", got)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if got := retryAfter("7", now); got != 7*time.Second {
		t.Fatalf("seconds form: %v", got)
	}
	if got := retryAfter("Sat, 28 Nov 2026 12:00:30 GMT", now); got != 30*time.Second {
		t.Fatalf("date form: %v", got)
	}
	if got := retryAfter("soon", now); got != 0 {
		t.Fatalf("garbage: %v", got)
	}
}
