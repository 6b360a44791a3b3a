package pipeline

import (
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

// maxRefusedURLs is how many fresh signed URLs a file may have refused
// (other than for expiry) before it is failed.
const maxRefusedURLs = 3

// upload drives a file from Hashed or Patching to Committed, retrying what
// can be retried. It returns when the file is done, failed, or left for the
// next run because listdrop is stopping.
func (p *Pipeline) upload(f *folder, rec state.Record, data []byte) {
	sum := md5.Sum(data)
	name := filepath.Base(rec.Source)
	var signed string // a credential: kept in memory only, never in the state
	var signedAt time.Time
	refused := 0    // signed URLs refused for another reason than expiry
	stateFails := 0 // write-ahead records the state could not write in a row
	// 409s because the list validates another upload: since when, and the
	// last one.
	var busySince, lastBusy time.Time
	ahead := false     // the state already says this upload's PATCH may be applied
	confirmed := false // the list was seen idle after a 409 that followed a lost answer
	for {
		log := f.fileLog(&rec)
		switch rec.Phase {
		case state.Hashed:
			if signed == "" {
				if p.paceOf(rec.ListID).createWaits {
					// The list refuses upload requests while it validates.
					if _, ok := p.awaitFree(rec.ListID); !ok {
						return
					}
				}
				var ur *talkdesk.UploadRequest
				err := p.call("create", func() (err error) {
					ur, err = p.api.CreateUploadRequest(p.work, talkdesk.CreateRequest{
						ListID: rec.ListID,
						CSV: talkdesk.Metadata{
							Filename: talkdesk.APIFilename(uploadName(name)), ByteSize: len(data),
							Checksum: rec.MD5, ContentType: "text/csv",
						},
						CallbackAction:        callbackOf(f.cfg),
						SendAtlasNotification: f.cfg.SendAtlasNotification,
					})
					return err
				})
				if err != nil {
					if talkdesk.Classify(err) == talkdesk.Conflict {
						if !p.busy(f, &rec, err, &busySince, &lastBusy, nil) {
							return
						}
						continue
					}
					if !p.retry(f, &rec, err) {
						return
					}
					continue
				}
				rec.UploadID, signed, signedAt, ahead = ur.ID, ur.SignedURL, time.Now(), false
				crashpoint.At("upload.created")
				f.fileLog(&rec).Debug("upload request created") // names the new request once
			}
			if err := p.call("put", func() error { return p.api.Put(p.work, signed, data, sum) }); err != nil {
				if talkdesk.Classify(err) == talkdesk.Renew {
					signed = "" // the next try asks for a fresh upload request
					var se *talkdesk.S3Error
					if errors.As(err, &se) && !se.Expired() {
						// A refusal that a fresh URL does not cure (a bad
						// signature) would otherwise leave an abandoned upload
						// request at Talkdesk on every try until give_up_after.
						if refused++; refused >= maxRefusedURLs {
							rec.Attempts++
							sentence, detail := talkdesk.Explain(err, rec.ListID)
							p.fail(f, rec, sentence, detail)
							return
						}
					}
				}
				if !p.retry(f, &rec, err) {
					return
				}
				continue
			}
			crashpoint.At("upload.put")
			rec.Phase, rec.PatchUnknown = state.Patching, false
		case state.Patching:
			// Write down that a PATCH may be applied before sending it: that
			// is what lets a restart read a 409 as "already applied".
			prevUnknown := rec.PatchUnknown
			if !rec.PatchUnknown {
				// Talkdesk refuses a PATCH while the list validates: wait for
				// the end of the validation the list's last PATCH began.
				waited, ok := p.awaitFree(rec.ListID)
				if !ok {
					return
				}
				if (waited || !busySince.IsZero()) && signed != "" && urlExpiring(signedAt, urlLife(signed)) {
					log.Info("the signed URL expired while the list validated; asking for a fresh upload request")
					rec.Phase, rec.UploadID, signed = state.Hashed, "", ""
					continue
				}
				// Last chance to back out: a file removed or rewritten while
				// it was sent must not be committed with its old bytes. A
				// file whose folder went away is not removed: it waits.
				if p.parkIfAway(f, rec) {
					return
				}
				if why := changedSince(rec); why != "" && !(why == "removed" && p.parkIfAway(f, rec)) {
					p.abandon(f, rec, why)
					return
				}
				rec.PatchUnknown = true
				if !ahead {
					// The record and the claim marker both go to disk before
					// the PATCH; written side by side, their syncs overlap.
					marked := make(chan error, 1)
					go func(r state.Record) {
						err := writeMarker(r, p.markerKey)
						if err == nil {
							crashpoint.At("patch.marker-written")
						}
						marked <- err
					}(rec)
					err := p.stateFault("write-ahead")
					if err == nil {
						err = p.store.Put(rec)
					}
					if err == nil {
						crashpoint.At("patch.record-written")
					}
					if merr := <-marked; merr != nil {
						log.Warn("cannot write the claim marker", "error", merr)
					}
					if err != nil {
						// No PATCH while the state cannot say it may be
						// applied; the wait grows like any retry's.
						stateFails++
						d := p.backoff(stateFails, 0)
						log.Error("cannot write state; trying again later", "error", err, "retry_in", d.Round(time.Millisecond))
						if !p.wait(d) {
							return
						}
						rec.PatchUnknown = false
						continue
					}
					stateFails = 0
					ahead = true
				}
			}
			crashpoint.At("patch.sending")
			err := p.call("patch", func() error { return p.api.MarkUploaded(p.work, rec.ListID, rec.UploadID) })
			if err != nil && talkdesk.Classify(err) == talkdesk.Conflict && prevUnknown {
				if !confirmed && (!p.cfg.Verify || p.paceOf(rec.ListID).unsure) {
					// The 409 may be the list validating another upload:
					// once the list is idle, a 409 can only mean "applied".
					log.Info("a PATCH whose answer was lost met 409; asking again once the list is not validating", "error", err)
					if !p.awaitIdle(rec.ListID) {
						return
					}
					confirmed = true
					continue
				}
				log.Info("an earlier attempt to start validation was applied", "error", err)
				err = nil
			}
			if err != nil && talkdesk.Classify(err) == talkdesk.Conflict {
				// Not applied: the list is validating another upload. The
				// state keeps saying "may be applied", which stays safe.
				rec.PatchUnknown = false
				if !p.busy(f, &rec, err, &busySince, &lastBusy, &ahead) {
					return
				}
				continue
			}
			if err != nil {
				// Once any attempt's outcome is unknown, it stays so: a later
				// 503 says nothing about whether that attempt was applied.
				rec.PatchUnknown = prevUnknown || (talkdesk.Classify(err) != talkdesk.Conflict && talkdesk.OutcomeUnknown(err))
				ahead = false // retry writes the record as it now is
				if !p.retry(f, &rec, err) {
					return
				}
				continue
			}
			crashpoint.At("patch.answered")
			now := time.Now()
			if !lastBusy.IsZero() {
				p.busyEnded(rec.ListID, lastBusy, now)
			}
			p.validationStarted(rec.ListID, rec.UploadID, now)
			rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, now
			rec.Dest = freeName(f.cfg.Done, name)
			if !p.commit(log, rec) {
				return
			}
			crashpoint.At("commit.written")
			p.finishDone(f, rec)
			return
		default:
			log.Error("unknown phase in state", "phase", string(rec.Phase))
			return
		}
	}
}

// commit writes that Talkdesk has the file. While the state cannot record
// it (a full disk), the commit alone is tried again, with a wait that grows
// like any retry's; the PATCH is not sent again. It returns false when
// listdrop is stopping: the record on disk then still says the PATCH may
// be applied, and the next start sends it again and reads its 409 as
// "applied".
func (p *Pipeline) commit(log *slog.Logger, rec state.Record) bool {
	for attempt := 1; ; attempt++ {
		err := p.stateFault("commit")
		if err == nil {
			if err = p.store.Commit(rec); err == nil {
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

func callbackOf(fc config.Folder) any {
	if fc.CallbackAction == nil {
		return nil
	}
	cb := map[string]any{"endpoint": fc.CallbackAction.Endpoint, "method": fc.CallbackAction.Method}
	if fc.CallbackAction.Headers != nil {
		cb["headers"] = fc.CallbackAction.Headers
	}
	if fc.CallbackAction.Body != nil {
		cb["body"] = fc.CallbackAction.Body
	}
	return cb
}
