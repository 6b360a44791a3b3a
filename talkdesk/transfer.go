package talkdesk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
)

// The upload protocol: one upload unit taken through an upload request,
// the PUT of its bytes to the signed URL and the PATCH that starts
// Talkdesk's validation, with the rules that make it happen once. The
// daemon and `listdrop upload` both drive their files through it; what
// they decide differently (how long to wait, when to give up, where the
// write-ahead record goes) they decide in their Hooks.

// MaxRefusedURLs is how many fresh signed URLs an upload may have refused
// (other than for expiry) before it stops: a refusal that a fresh URL does
// not cure (a bad signature) would otherwise leave an abandoned upload
// request at Talkdesk on every try.
const MaxRefusedURLs = 3

// ErrURLsRefused stops a Transfer whose fresh signed URLs the storage kept
// refusing; it wraps the last refusal, which says why.
var ErrURLsRefused = errors.New("the storage refused every fresh upload link")

// ErrRenew, returned by Hooks.BeforePatch, replaces the upload request: the
// bytes go again to the signed URL of a fresh one before the PATCH.
var ErrRenew = errors.New("renew the upload request")

// ErrAskAgain, returned by Hooks.ConfirmApplied, sends the PATCH again
// before its 409 is read as applied.
var ErrAskAgain = errors.New("send the PATCH again")

// Phase is how far an upload has come.
type Phase int

const (
	// Unsent: no bytes are stored yet; an upload request and the PUT come
	// first.
	Unsent Phase = iota
	// Stored: the bytes are stored under Progress.UploadID; the PATCH is
	// left.
	Stored
	// Applied: the PATCH was applied; Talkdesk validates the upload.
	Applied
)

func (p Phase) String() string {
	switch p {
	case Unsent:
		return "unsent"
	case Stored:
		return "stored"
	case Applied:
		return "applied"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Progress is what the caller keeps of an upload between runs: a Transfer
// starts from it and updates it as it goes.
type Progress struct {
	Phase Phase
	// UploadID is the upload request the bytes went or go to.
	UploadID string
	// PatchUnknown says a PATCH of UploadID may have been applied: it was
	// about to be sent, or sent, and no answer said it was not applied.
	// A 409 to the next PATCH then means "applied". Once an attempt's
	// outcome is unknown it stays so: a later 503 says nothing about it.
	PatchUnknown bool
}

// Unit is what one upload sends.
type Unit struct {
	ListID string
	// Name is the file's name as Talkdesk shows it; APIFilename fits it to
	// what the API accepts.
	Name string
	Data []byte
	MD5  [16]byte
	// Callback, when set, is called by Talkdesk when validation ends.
	Callback              *Callback
	SendAtlasNotification *bool
}

// Callback is a callback_action as the configuration gives it.
type Callback struct {
	Endpoint string
	Method   string
	Headers  map[string]string
	Body     map[string]any
}

// value is the callback as the API takes it: headers and body only when
// set.
func (c *Callback) value() any {
	if c == nil {
		return nil
	}
	cb := map[string]any{"endpoint": c.Endpoint, "method": c.Method}
	if c.Headers != nil {
		cb["headers"] = c.Headers
	}
	if c.Body != nil {
		cb["body"] = c.Body
	}
	return cb
}

// API is what a Transfer needs of the Talkdesk client.
type API interface {
	CreateUploadRequest(ctx context.Context, req CreateRequest) (*UploadRequest, error)
	Put(ctx context.Context, signedURL string, body []byte, md5sum [16]byte) error
	MarkUploaded(ctx context.Context, listID, uploadID string) error
}

var _ API = (*Client)(nil)

// Step names the step of an upload that failed.
type Step int

const (
	StepCreate     Step = iota // creating the upload request
	StepPut                    // the PUT of the bytes
	StepWriteAhead             // Hooks.WriteAhead: no PATCH was sent
	StepPatch                  // the PATCH
)

func (s Step) String() string {
	switch s {
	case StepCreate:
		return "create"
	case StepPut:
		return "put"
	case StepWriteAhead:
		return "write-ahead"
	case StepPatch:
		return "patch"
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// Failure is a failed step, with the progress as it stands after it.
type Failure struct {
	Step     Step
	Err      error
	Progress Progress
}

// SignedURL is the signed URL the bytes were PUT to and when it came. It is
// a credential: never logged, never written down.
type SignedURL struct {
	URL string
	At  time.Time
}

// Hooks are the caller's decisions. Each returns nil to go on; any other
// error stops the Transfer, and Run returns that error as it is, except
// ErrRenew and ErrAskAgain where they are documented and an error of
// WriteAhead, which goes to Retry.
type Hooks interface {
	// BeforeCreate runs before each upload request is created.
	BeforeCreate(ctx context.Context, p Progress) error
	// BeforePatch runs before a PATCH while p says none may be applied:
	// the last chance to wait or back out. ErrRenew replaces the upload
	// request first; url is the zero value after a restart.
	BeforePatch(ctx context.Context, p Progress, url SignedURL) error
	// WriteAhead writes down p, which says the PATCH may be applied,
	// before that PATCH is sent: it is what lets a later run read a 409
	// as "applied". It runs before every PATCH whose progress did not
	// already say so. An error means no PATCH: it goes to Retry as a
	// failure of StepWriteAhead.
	WriteAhead(ctx context.Context, p Progress) error
	// Busy is a 409 that says the list validates another upload, to a
	// create or to a PATCH that no earlier attempt may have applied; nil
	// tries the step again.
	Busy(ctx context.Context, f Failure) error
	// ConfirmApplied is a 409 to a PATCH after one whose outcome is
	// unknown: nil reads it as applied; ErrAskAgain sends the PATCH again
	// first (once the list cannot be busy with another upload, a 409 can
	// only mean applied).
	ConfirmApplied(ctx context.Context, p Progress, err error) error
	// Retry is any other failure; nil tries again.
	Retry(ctx context.Context, f Failure) error
}

// Transfer drives one upload unit from wherever its Progress stands until
// its PATCH is applied. It writes nothing and moves nothing: the caller
// records the progress, through its Hooks and once Run returns.
type Transfer struct {
	API   API
	Unit  Unit
	Hooks Hooks
	// Progress is where the upload starts, and where it stands.
	Progress Progress
	// Log, when set, gets the lines about the upload's own steps.
	Log *slog.Logger

	// The signed URL is a credential: kept in memory only.
	url     SignedURL
	refused int // signed URLs refused for another reason than expiry
}

// Run returns nil once the PATCH is applied (Progress.Phase is Applied),
// ErrURLsRefused (wrapping the last refusal), or the error a hook stopped
// it with.
func (t *Transfer) Run(ctx context.Context) error {
	for {
		var err error
		switch t.Progress.Phase {
		case Unsent:
			err = t.send(ctx)
		case Stored:
			err = t.patch(ctx)
		case Applied:
			return nil
		default:
			return fmt.Errorf("upload in unknown phase %v", t.Progress.Phase)
		}
		if err != nil {
			return err
		}
	}
}

// send creates an upload request, unless one is at hand, and PUTs the
// bytes. It returns nil when the step is to be taken (again).
func (t *Transfer) send(ctx context.Context) error {
	if t.url.URL == "" {
		if err := t.Hooks.BeforeCreate(ctx, t.Progress); err != nil {
			return err
		}
		ur, err := t.API.CreateUploadRequest(ctx, CreateRequest{
			ListID: t.Unit.ListID,
			CSV: Metadata{
				Filename: APIFilename(t.Unit.Name), ByteSize: len(t.Unit.Data),
				Checksum: fmt.Sprintf("%x", t.Unit.MD5), ContentType: "text/csv",
			},
			CallbackAction:        t.Unit.Callback.value(),
			SendAtlasNotification: t.Unit.SendAtlasNotification,
		})
		if err != nil {
			f := Failure{Step: StepCreate, Err: err, Progress: t.Progress}
			if Classify(err) == Conflict {
				return t.Hooks.Busy(ctx, f)
			}
			return t.Hooks.Retry(ctx, f)
		}
		t.Progress.UploadID, t.Progress.PatchUnknown = ur.ID, false
		t.url = SignedURL{URL: ur.SignedURL, At: time.Now()}
		crashpoint.At("upload.created")
		if t.Log != nil {
			t.Log.Debug("upload request created", "upload_id", ur.ID) // names the new request once
		}
	}
	if err := t.API.Put(ctx, t.url.URL, t.Unit.Data, t.Unit.MD5); err != nil {
		if Classify(err) == Renew {
			t.url = SignedURL{} // the next try asks for a fresh upload request
			var se *S3Error
			if errors.As(err, &se) && !se.Expired() {
				if t.refused++; t.refused >= MaxRefusedURLs {
					return fmt.Errorf("%w: %w", ErrURLsRefused, err)
				}
			}
		}
		return t.Hooks.Retry(ctx, Failure{Step: StepPut, Err: err, Progress: t.Progress})
	}
	crashpoint.At("upload.put")
	t.Progress.Phase, t.Progress.PatchUnknown = Stored, false
	return nil
}

// patch sends the PATCH, written ahead unless the progress already says it
// may be applied. It returns nil when the PATCH is applied or is to be
// tried (again).
func (t *Transfer) patch(ctx context.Context) error {
	h := t.Hooks
	prevUnknown := t.Progress.PatchUnknown
	if !prevUnknown {
		if err := h.BeforePatch(ctx, t.Progress, t.url); errors.Is(err, ErrRenew) {
			t.Progress = Progress{Phase: Unsent}
			t.url = SignedURL{}
			return nil
		} else if err != nil {
			return err
		}
		t.Progress.PatchUnknown = true
		if err := h.WriteAhead(ctx, t.Progress); err != nil {
			// No PATCH while nothing says it may be applied.
			t.Progress.PatchUnknown = false
			return h.Retry(ctx, Failure{Step: StepWriteAhead, Err: err, Progress: t.Progress})
		}
	}
	crashpoint.At("patch.sending")
	err := t.API.MarkUploaded(ctx, t.Unit.ListID, t.Progress.UploadID)
	if err != nil && Classify(err) == Conflict && prevUnknown {
		if cerr := h.ConfirmApplied(ctx, t.Progress, err); errors.Is(cerr, ErrAskAgain) {
			return nil
		} else if cerr != nil {
			return cerr
		}
		err = nil
	}
	if err != nil && Classify(err) == Conflict {
		// Not applied: the list is validating another upload, and no
		// earlier attempt may have been applied.
		t.Progress.PatchUnknown = false
		return h.Busy(ctx, Failure{Step: StepPatch, Err: err, Progress: t.Progress})
	}
	if err != nil {
		t.Progress.PatchUnknown = prevUnknown || OutcomeUnknown(err)
		return h.Retry(ctx, Failure{Step: StepPatch, Err: err, Progress: t.Progress})
	}
	crashpoint.At("patch.answered")
	t.Progress.Phase, t.Progress.PatchUnknown = Applied, false
	return nil
}
