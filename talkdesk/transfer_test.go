package talkdesk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// scriptAPI answers each request with the next error of its script (nil
// once the script is used up) and logs what was asked.
type scriptAPI struct {
	log                 *[]string
	creates, puts, pats []error
	n                   int // upload requests created
}

func (a *scriptAPI) CreateUploadRequest(_ context.Context, req CreateRequest) (*UploadRequest, error) {
	*a.log = append(*a.log, "create")
	if err := next(&a.creates); err != nil {
		return nil, err
	}
	a.n++
	return &UploadRequest{ID: fmt.Sprintf("U%d", a.n), SignedURL: fmt.Sprintf("https://s3.example/u%d?X-Amz-Expires=300", a.n)}, nil
}

func (a *scriptAPI) Put(_ context.Context, url string, _ []byte, _ [16]byte) error {
	*a.log = append(*a.log, "put "+url[strings.LastIndex(url, "/")+1:strings.Index(url, "?")])
	return next(&a.puts)
}

func (a *scriptAPI) MarkUploaded(_ context.Context, _, uploadID string) error {
	*a.log = append(*a.log, "patch "+uploadID)
	return next(&a.pats)
}

func next(script *[]error) error {
	if len(*script) == 0 {
		return nil
	}
	err := (*script)[0]
	*script = (*script)[1:]
	return err
}

// logHooks logs each call with the progress it was given, and answers with
// the function set for it, or nil.
type logHooks struct {
	log        *[]string
	beforePat  func() error
	writeAhead func() error
	confirm    func() error
	retry      func(Failure) error
}

func (h *logHooks) add(s string, p Progress) {
	unknown := ""
	if p.PatchUnknown {
		unknown = " unknown"
	}
	*h.log = append(*h.log, fmt.Sprintf("%s [%s %s%s]", s, p.Phase, p.UploadID, unknown))
}

func call(f func() error) error {
	if f == nil {
		return nil
	}
	return f()
}

func (h *logHooks) BeforeCreate(_ context.Context, p Progress) error {
	h.add("before-create", p)
	return nil
}

func (h *logHooks) BeforePatch(_ context.Context, p Progress, u SignedURL) error {
	h.add("before-patch", p)
	return call(h.beforePat)
}

func (h *logHooks) WriteAhead(_ context.Context, p Progress) error {
	h.add("write-ahead", p)
	return call(h.writeAhead)
}

func (h *logHooks) Busy(_ context.Context, f Failure) error {
	h.add("busy "+f.Step.String(), f.Progress)
	return nil
}

func (h *logHooks) ConfirmApplied(_ context.Context, p Progress, _ error) error {
	h.add("confirm", p)
	return call(h.confirm)
}

func (h *logHooks) Retry(_ context.Context, f Failure) error {
	h.add("retry "+f.Step.String(), f.Progress)
	if h.retry == nil {
		return nil
	}
	return h.retry(f)
}

var (
	lost     = &APIError{Op: "mark uploaded", Status: 504}
	busy     = &APIError{Op: "mark uploaded", Status: 409}
	down     = &APIError{Op: "mark uploaded", Status: 503}
	badSig   = &S3Error{Status: 403, Code: "SignatureDoesNotMatch"}
	expired  = &S3Error{Status: 403, Code: "AccessDenied", Message: "Request has expired"}
	errStop  = errors.New("stop")
	errDisk  = errors.New("disk full")
	applied  = Progress{Phase: Applied, UploadID: "U1"}
	resumeAt = Progress{Phase: Stored, UploadID: "U7", PatchUnknown: true}
)

func TestTransfer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		from      Progress
		api       scriptAPI
		hooks     logHooks
		want      []string
		wantErr   error
		wantFinal Progress
	}{
		{
			name: "new: the write-ahead comes before the PATCH and says it may be applied",
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1"},
		},
		{
			name:  "a failed write-ahead sends no PATCH, and the checks come again",
			hooks: logHooks{writeAhead: once(errDisk)},
			want: []string{"before-create [unsent ]", "create", "put u1",
				"before-patch [stored U1]", "write-ahead [stored U1 unknown]", "retry write-ahead [stored U1]",
				"before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1"},
		},
		{
			name: "a 409 after a lost answer is read as applied when the hook says so",
			api:  scriptAPI{pats: []error{lost, busy}},
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1",
				"retry patch [stored U1 unknown]", "patch U1", "confirm [stored U1 unknown]"},
		},
		{
			name:  "the hook may ask the PATCH again before reading its 409 as applied",
			api:   scriptAPI{pats: []error{lost, busy}},
			hooks: logHooks{confirm: once(ErrAskAgain)},
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1",
				"retry patch [stored U1 unknown]", "patch U1", "confirm [stored U1 unknown]", "patch U1"},
		},
		{
			name: "once an attempt's outcome is unknown it stays so after a 503",
			api:  scriptAPI{pats: []error{lost, down, busy}},
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1",
				"retry patch [stored U1 unknown]", "patch U1", "retry patch [stored U1 unknown]", "patch U1", "confirm [stored U1 unknown]"},
		},
		{
			name: "a 409 when no attempt may be applied is a busy list, and the write-ahead runs again",
			api:  scriptAPI{pats: []error{busy}},
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1",
				"busy patch [stored U1]", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1"},
		},
		{
			name: "a 503 to a PATCH that was written ahead leaves it known as not applied",
			api:  scriptAPI{pats: []error{down}},
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1",
				"retry patch [stored U1]", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1"},
		},
		{
			name: "resumed after a PATCH that may be applied: no checks, no write-ahead, its 409 confirmed",
			from: resumeAt,
			api:  scriptAPI{pats: []error{busy}},
			want: []string{"patch U7", "confirm [stored U7 unknown]"},
			// The upload request of the earlier run is kept.
			wantFinal: Progress{Phase: Applied, UploadID: "U7"},
		},
		{
			name: "a refused URL brings a fresh upload request; an expired one does not count",
			api:  scriptAPI{puts: []error{expired, badSig, expired, badSig}},
			want: []string{"before-create [unsent ]", "create", "put u1", "retry put [unsent U1]",
				"before-create [unsent U1]", "create", "put u2", "retry put [unsent U2]",
				"before-create [unsent U2]", "create", "put u3", "retry put [unsent U3]",
				"before-create [unsent U3]", "create", "put u4", "retry put [unsent U4]",
				"before-create [unsent U4]", "create", "put u5",
				"before-patch [stored U5]", "write-ahead [stored U5 unknown]", "patch U5"},
			wantFinal: Progress{Phase: Applied, UploadID: "U5"},
		},
		{
			name: "URLs refused MaxRefusedURLs times stop the upload",
			api:  scriptAPI{puts: []error{badSig, badSig, badSig}},
			want: []string{"before-create [unsent ]", "create", "put u1", "retry put [unsent U1]",
				"before-create [unsent U1]", "create", "put u2", "retry put [unsent U2]",
				"before-create [unsent U2]", "create", "put u3"},
			wantErr:   ErrURLsRefused,
			wantFinal: Progress{Phase: Unsent, UploadID: "U3"},
		},
		{
			name:  "ErrRenew before the PATCH sends the bytes again under a fresh upload request",
			hooks: logHooks{beforePat: once(ErrRenew)},
			want: []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]",
				"before-create [unsent ]", "create", "put u2", "before-patch [stored U2]", "write-ahead [stored U2 unknown]", "patch U2"},
			wantFinal: Progress{Phase: Applied, UploadID: "U2"},
		},
		{
			name:      "a hook's error stops the upload where it stands",
			api:       scriptAPI{pats: []error{lost}},
			hooks:     logHooks{retry: func(Failure) error { return errStop }},
			want:      []string{"before-create [unsent ]", "create", "put u1", "before-patch [stored U1]", "write-ahead [stored U1 unknown]", "patch U1", "retry patch [stored U1 unknown]"},
			wantErr:   errStop,
			wantFinal: Progress{Phase: Stored, UploadID: "U1", PatchUnknown: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			api, hooks := tc.api, tc.hooks
			api.log, hooks.log = &log, &log
			tr := &Transfer{API: &api, Hooks: &hooks, Progress: tc.from,
				Unit: Unit{ListID: "L1", Name: "contacts.csv", Data: []byte("a,b\n")}}
			err := tr.Run(context.Background())
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Errorf("Run: %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(log, tc.want) {
				t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(log, "\n  "), strings.Join(tc.want, "\n  "))
			}
			want := tc.wantFinal
			if want == (Progress{}) {
				want = applied
			}
			if tr.Progress != want {
				t.Errorf("progress %+v, want %+v", tr.Progress, want)
			}
		})
	}
}

// once returns err the first time it is called, then nil.
func once(err error) func() error {
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		return err
	}
}

// TestTransferErrURLsRefusedKeepsTheCause: the refusal that stopped the
// upload stays reachable, for the explanation.
func TestTransferErrURLsRefusedKeepsTheCause(t *testing.T) {
	t.Parallel()
	var log []string
	tr := &Transfer{API: &scriptAPI{log: &log, puts: []error{badSig, badSig, badSig}}, Hooks: &logHooks{log: &log},
		Unit: Unit{ListID: "L1", Name: "contacts.csv", Data: []byte("a,b\n")}}
	err := tr.Run(context.Background())
	var se *S3Error
	if !errors.As(err, &se) || se.Code != "SignatureDoesNotMatch" {
		t.Fatalf("Run: %v, want the storage's refusal within", err)
	}
	if sentence, _ := Explain(err, "L1"); !strings.Contains(sentence, "signature does not match") {
		t.Fatalf("explained as %q", sentence)
	}
}
