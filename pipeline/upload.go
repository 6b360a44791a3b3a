package pipeline

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// upload drives a file from Hashed or Patching to Committed through the
// upload protocol, retrying what can be retried. It returns when the file
// is done, failed, or left for the next run because listdrop is stopping.
// A split file goes part by part (uploadParts).
func (p *Pipeline) upload(f *folder, rec state.Record, data []byte) {
	if rec.Parts > 0 {
		p.uploadParts(f, rec, data)
		return
	}
	name := filepath.Base(rec.Source)
	if !p.send(f, &rec, data, uploadName(name)) {
		return
	}
	p.commitDone(f, rec)
}

// commitDone writes that a file, or every part of a split one, is in, then
// moves it to done/.
func (p *Pipeline) commitDone(f *folder, rec state.Record) {
	rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, time.Now()
	rec.Dest = freeName(f.cfg.Done, filepath.Base(rec.Source))
	if !p.commit(f.fileLog(&rec), rec) {
		return
	}
	crashpoint.At("commit.written")
	p.finishDone(f, rec)
}

// send takes one upload of rec's, the file or the part of it that
// rec.Part names, through the upload protocol until its PATCH is applied,
// keeping rec in step. It returns false when the file has failed, is kept
// for the next start or waits: the hooks did what that needed.
func (p *Pipeline) send(f *folder, rec *state.Record, data []byte, name string) bool {
	var start talkdesk.Phase
	switch rec.Phase {
	case state.Hashed:
		start = talkdesk.Unsent
	case state.Patching:
		start = talkdesk.Stored
	default:
		f.fileLog(rec).Error("unknown phase in state", "phase", string(rec.Phase))
		return false
	}
	h := &daemonHooks{p: p, f: f, rec: rec}
	t := &talkdesk.Transfer{
		API: callingAPI{p},
		Unit: talkdesk.Unit{
			ListID: rec.ListID, Name: name, Data: data, MD5: md5.Sum(data),
			Callback:              (*talkdesk.Callback)(f.cfg.CallbackAction),
			SendAtlasNotification: f.cfg.SendAtlasNotification,
		},
		Hooks:    h,
		Progress: talkdesk.Progress{Phase: start, UploadID: rec.UploadID, PatchUnknown: rec.PatchUnknown},
		Log:      f.fileLog(rec),
	}
	err := t.Run(p.work)
	h.sync(t.Progress)
	if errors.Is(err, talkdesk.ErrURLsRefused) {
		rec.Attempts++
		sentence, detail := talkdesk.Explain(err, rec.ListID)
		p.fail(f, *rec, sentence, detail)
		return false
	}
	if err != nil {
		// A hook that stopped the upload has done what its reason asks.
		if !errors.Is(err, errStopped) {
			f.fileLog(rec).Error("upload stopped", "error", err)
		}
		return false
	}
	now := time.Now()
	if !h.lastBusy.IsZero() {
		p.busyEnded(rec.ListID, h.lastBusy, now)
	}
	p.validationStarted(rec.ListID, rec.UploadID, now)
	return true
}

// errStopped stops an upload whose file is failed, kept for the next
// start, or left waiting: what to do was done where it was decided.
var errStopped = errors.New("upload stopped")

// callingAPI runs each request of an upload in one of the workers' slots
// (Pipeline.call).
type callingAPI struct{ p *Pipeline }

var _ talkdesk.API = callingAPI{}

func (a callingAPI) CreateUploadRequest(ctx context.Context, req talkdesk.CreateRequest) (ur *talkdesk.UploadRequest, err error) {
	err = a.p.call("create", func() error { ur, err = a.p.api.CreateUploadRequest(ctx, req); return err })
	return ur, err
}

func (a callingAPI) Put(ctx context.Context, signedURL string, body []byte, md5sum [16]byte) error {
	return a.p.call("put", func() error { return a.p.api.Put(ctx, signedURL, body, md5sum) })
}

func (a callingAPI) MarkUploaded(ctx context.Context, listID, uploadID string) error {
	return a.p.call("patch", func() error { return a.p.api.MarkUploaded(ctx, listID, uploadID) })
}

// daemonHooks are the daemon's decisions in the upload protocol: waits
// paced by the list's validations, the error backoff until
// retry.give_up_after, and the write-ahead record with its claim marker.
type daemonHooks struct {
	p   *Pipeline
	f   *folder
	rec *state.Record // kept in step with the upload's progress

	stateFails int // write-ahead records the state could not write in a row
	// 409s because the list validates another upload: since when, and the
	// last one.
	busySince, lastBusy time.Time
	ahead               bool // the state already says this upload's PATCH may be applied
	confirmed           bool // the list was seen idle after a 409 that followed a lost answer
}

var _ talkdesk.Hooks = (*daemonHooks)(nil)

// sync brings the record in step with the upload's progress.
func (h *daemonHooks) sync(pr talkdesk.Progress) {
	if pr.UploadID != h.rec.UploadID {
		h.ahead = false // a fresh upload request: nothing says its PATCH may be applied
	}
	h.rec.UploadID, h.rec.PatchUnknown = pr.UploadID, pr.PatchUnknown
	switch pr.Phase {
	case talkdesk.Unsent:
		h.rec.Phase = state.Hashed
	case talkdesk.Stored:
		h.rec.Phase = state.Patching
	}
}

func (h *daemonHooks) BeforeCreate(_ context.Context, pr talkdesk.Progress) error {
	h.sync(pr)
	if h.p.paceOf(h.rec.ListID).createWaits {
		// The list refuses upload requests while it validates.
		if _, ok := h.p.awaitFree(h.rec.ListID); !ok {
			return errStopped
		}
	}
	return nil
}

func (h *daemonHooks) BeforePatch(_ context.Context, pr talkdesk.Progress, u talkdesk.SignedURL) error {
	h.sync(pr)
	p, f, rec := h.p, h.f, *h.rec
	// Talkdesk refuses a PATCH while the list validates: wait for the end
	// of the validation the list's last PATCH began.
	waited, ok := p.awaitFree(rec.ListID)
	if !ok {
		return errStopped
	}
	if (waited || !h.busySince.IsZero()) && u.URL != "" && urlExpiring(u.At, urlLife(u.URL)) {
		f.fileLog(&rec).Info("the signed URL expired while the list validated; asking for a fresh upload request")
		return talkdesk.ErrRenew
	}
	// Last chance to back out: a file removed or rewritten while it was
	// sent must not be committed with its old bytes. A file whose folder
	// went away is not removed: it waits.
	if p.parkIfAway(f, rec) {
		return errStopped
	}
	// Once parts of a split file are in, the rest is sent as it was read:
	// taken afresh, the file would import those parts twice.
	if why := changedSince(rec); why != "" && len(rec.PartsIn) == 0 && !(why == "removed" && p.parkIfAway(f, rec)) {
		p.abandon(f, rec, why)
		return errStopped
	}
	return nil
}

// WriteAhead writes the record and the claim marker, both saying that the
// PATCH may be applied, unless the state says so already.
func (h *daemonHooks) WriteAhead(_ context.Context, pr talkdesk.Progress) error {
	h.sync(pr)
	if h.ahead {
		return nil
	}
	p := h.p
	// Written side by side, their syncs overlap.
	marked := make(chan error, 1)
	go func(r state.Record) {
		err := writeMarker(r, p.markerKey)
		if err == nil {
			crashpoint.At("patch.marker-written")
		}
		marked <- err
	}(*h.rec)
	err := p.stateFault("write-ahead")
	if err == nil {
		err = p.store.Put(*h.rec)
	}
	if err == nil {
		crashpoint.At("patch.record-written")
	}
	if merr := <-marked; merr != nil {
		h.f.fileLog(h.rec).Warn("cannot write the claim marker", "error", merr)
	}
	if err != nil {
		return err
	}
	h.stateFails = 0
	h.ahead = true
	return nil
}

// Busy waits after a 409 that says the list validates another upload
// (Pipeline.busy).
func (h *daemonHooks) Busy(_ context.Context, fl talkdesk.Failure) error {
	h.sync(fl.Progress)
	var ahead *bool
	if fl.Step == talkdesk.StepPatch {
		ahead = &h.ahead
	}
	if !h.p.busy(h.f, h.rec, fl.Err, &h.busySince, &h.lastBusy, ahead) {
		return errStopped
	}
	return nil
}

func (h *daemonHooks) ConfirmApplied(_ context.Context, pr talkdesk.Progress, err error) error {
	h.sync(pr)
	p, log := h.p, h.f.fileLog(h.rec)
	if !h.confirmed && (!p.cfg.Verify || p.paceOf(h.rec.ListID).unsure) {
		// The 409 may be the list validating another upload: once the
		// list is idle, a 409 can only mean "applied".
		log.Info("a PATCH whose answer was lost met 409; asking again once the list is not validating", "error", err)
		if !p.awaitIdle(h.rec.ListID) {
			return errStopped
		}
		h.confirmed = true
		return talkdesk.ErrAskAgain
	}
	log.Info("an earlier attempt to start validation was applied", "error", err)
	return nil
}

func (h *daemonHooks) Retry(_ context.Context, fl talkdesk.Failure) error {
	h.sync(fl.Progress)
	if fl.Step == talkdesk.StepWriteAhead {
		// No PATCH while the state cannot say it may be applied; the wait
		// grows like any retry's.
		h.stateFails++
		d := h.p.backoff(h.stateFails, 0)
		h.f.fileLog(h.rec).Error("cannot write state; trying again later", "error", fl.Err, "retry_in", d.Round(time.Millisecond))
		if !h.p.wait(d) {
			return errStopped
		}
		return nil
	}
	if fl.Step == talkdesk.StepPatch {
		h.ahead = false // retry writes the record as it now is
	}
	if !h.p.retry(h.f, h.rec, fl.Err) {
		return errStopped
	}
	return nil
}

// commit writes that Talkdesk has the file. While the state cannot record
// it (a full disk), the commit alone is tried again, with a wait that grows
// like any retry's; the PATCH is not sent again. It returns false when
// listdrop is stopping: the record on disk then still says the PATCH may
// be applied, and the next start sends it again and reads its 409 as
// "applied".
func (p *Pipeline) commit(log *slog.Logger, rec state.Record) bool {
	return p.writeAfterPatch(log, "commit", func() error { return p.store.Commit(rec) })
}

// writeAfterPatch writes what follows an applied PATCH (op names it for
// the tests' faults), trying it alone again while the state cannot write
// it. It returns false when listdrop is stopping first.
func (p *Pipeline) writeAfterPatch(log *slog.Logger, op string, write func() error) bool {
	for attempt := 1; ; attempt++ {
		err := p.stateFault(op)
		if err == nil {
			if err = write(); err == nil {
				return true
			}
		}
		d := p.backoff(attempt, 0)
		log.Error("cannot write state; trying again later", "error", err, "retry_in", d.Round(time.Millisecond))
		if !p.wait(d) {
			return false
		}
	}
}

// stateFault is the fault a test asked for before a state write, or nil.
func (p *Pipeline) stateFault(op string) error {
	if p.faultBefore == nil {
		return nil
	}
	return p.faultBefore(op)
}

// busy waits after a 409 that says the list validates another upload.
// When that upload is this list's last, PATCHed by this process, the 409 is
// no failure of the file: it is not counted, nothing is written, and the
// wait follows the validation, not the error backoff, until
// retry.give_up_after. A 409 that no upload of this process explains (one
// from before a restart, another client's, or one validating for longer
// than verify_timeout) is a busy list as before: a failed try, written to
// the state and shown by status, and the error backoff. ahead (nil for an
// upload request) is cleared when the record is written. It returns false
// when the file has failed or listdrop is stopping.
func (p *Pipeline) busy(f *folder, rec *state.Record, err error, since, last *time.Time, ahead *bool) bool {
	now := time.Now()
	if since.IsZero() {
		*since = now
	}
	*last = now
	p.refusedWhileValidating(rec.ListID, ahead == nil)
	limit := p.cfg.VerifyTimeout
	if limit <= 0 {
		limit = config.DefaultVerifyTimeout
	}
	patched := p.paceOf(rec.ListID).patched
	giveUp := p.cfg.Retry.GiveUpAfter
	if patched.IsZero() || now.Sub(patched) > limit || (giveUp > 0 && now.Sub(*since) >= giveUp) {
		if rec.FirstFailure.IsZero() || since.Before(rec.FirstFailure) {
			rec.FirstFailure = *since
		}
		if ahead != nil {
			*ahead = false
		}
		return p.retry(f, rec, err)
	}
	f.fileLog(rec).Debug("the list is validating an earlier upload; waiting for its end", "error", err)
	return p.waitBusy(rec.ListID, *since)
}

// retry decides what an upload error means for the file. It returns true
// when the step should be tried again (after waiting), false when the file
// has been failed or listdrop is stopping.
func (p *Pipeline) retry(f *folder, rec *state.Record, err error) bool {
	log := f.fileLog(rec)
	if p.work.Err() != nil {
		// The error is listdrop's own shutdown, not the file's.
		log.Info("stopping: file kept for the next start", "phase", string(rec.Phase))
		p.persist(log, rec)
		return false
	}
	class := talkdesk.Classify(err)
	if class != talkdesk.Permanent {
		p.metrics.Retry(class.String())
	}
	rec.Attempts++
	rec.LastError = err.Error()
	now := time.Now()
	switch class {
	case talkdesk.Permanent:
		sentence, detail := talkdesk.Explain(err, rec.ListID)
		p.fail(f, *rec, sentence, detail)
		return false
	case talkdesk.Auth:
		// Not the file's fault: it waits however long this takes.
		log.Error("Talkdesk refused listdrop's credentials; the file waits", "error", err)
	default:
		if rec.FirstFailure.IsZero() {
			rec.FirstFailure = now
		}
		if giveUp := p.cfg.Retry.GiveUpAfter; giveUp > 0 && now.Sub(rec.FirstFailure) >= giveUp {
			sentence, detail := talkdesk.Explain(err, rec.ListID)
			p.fail(f, *rec, fmt.Sprintf("listdrop tried for %s and gave up: %s", giveUp, lowerFirst(sentence)), detail)
			return false
		}
	}
	d := p.backoff(rec.Attempts, talkdesk.RetryAfter(err))
	if class != talkdesk.Auth {
		log.Warn("upload failed; will try again", "error", err, "retry_in", d.Round(time.Millisecond), "attempts", rec.Attempts)
	}
	p.persist(log, rec)
	return p.wait(d)
}

func (p *Pipeline) persist(log *slog.Logger, rec *state.Record) {
	if err := p.store.Put(*rec); err != nil {
		log.Error("cannot write state", "error", err)
	}
}

// backoff is exponential with jitter, capped at retry.max_backoff; a server's
// Retry-After wins.
func (p *Pipeline) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, time.Hour)
	}
	limit := p.cfg.Retry.MaxBackoff
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	d := limit
	if attempt < 30 {
		d = min(p.base<<max(attempt-1, 0), limit)
	}
	return d/2 + rand.N(d/2+1)
}

// wait sleeps for d unless listdrop is stopping.
func (p *Pipeline) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop.Done():
		return false
	}
}
