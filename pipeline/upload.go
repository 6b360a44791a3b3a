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
	"github.com/listdrop/listdrop/uploader"
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
	refused := 0      // signed URLs refused for another reason than expiry
	for {
		log := f.fileLog(&rec)
		switch rec.Phase {
		case state.Hashed:
			if signed == "" {
				var ur *uploader.UploadRequest
				err := p.call("create", func() (err error) {
					ur, err = p.api.CreateUploadRequest(p.work, uploader.CreateRequest{
						ListID: rec.ListID,
						CSV: uploader.Metadata{
							Filename: uploader.APIFilename(name), ByteSize: len(data),
							Checksum: rec.MD5, ContentType: "text/csv",
						},
						CallbackAction:        callbackOf(f.cfg),
						SendAtlasNotification: f.cfg.SendAtlasNotification,
					})
					return err
				})
				if err != nil {
					if !p.retry(f, &rec, err) {
						return
					}
					continue
				}
				rec.UploadID, signed = ur.ID, ur.SignedURL
				crashpoint.At("upload.created")
				log.Debug("upload request created", "upload_id", ur.ID)
			}
			if err := p.call("put", func() error { return p.api.Put(p.work, signed, data, sum) }); err != nil {
				if uploader.Classify(err) == uploader.Renew {
					signed = "" // the next try asks for a fresh upload request
					var se *uploader.S3Error
					if errors.As(err, &se) && !se.Expired() {
						// A refusal that a fresh URL does not cure (a bad
						// signature) would otherwise leave an abandoned upload
						// request at Talkdesk on every try until give_up_after.
						if refused++; refused >= maxRefusedURLs {
							rec.Attempts++
							sentence, detail := explain(err, rec.ListID)
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
				// Last chance to back out: a file removed or rewritten while
				// it was sent must not be committed with its old bytes.
				if why := changedSince(rec); why != "" {
					p.abandon(f, rec, why)
					return
				}
				rec.PatchUnknown = true
				// The record and the claim marker both go to disk before the
				// PATCH; written side by side, their syncs overlap.
				marked := make(chan error, 1)
				go func(r state.Record) {
					err := writeMarker(r)
					if err == nil {
						crashpoint.At("patch.marker-written")
					}
					marked <- err
				}(rec)
				err := p.store.Put(rec)
				if err == nil {
					crashpoint.At("patch.record-written")
				}
				if merr := <-marked; merr != nil {
					log.Warn("cannot write the claim marker", "error", merr)
				}
				if err != nil {
					log.Error("cannot write state; trying again later", "error", err)
					if !p.wait(p.backoff(rec.Attempts, 0)) {
						return
					}
					rec.PatchUnknown = false
					continue
				}
			}
			crashpoint.At("patch.sending")
			err := p.call("patch", func() error { return p.api.MarkUploaded(p.work, rec.ListID, rec.UploadID) })
			if err != nil && uploader.Classify(err) == uploader.Conflict && prevUnknown {
				log.Info("an earlier attempt to start validation was applied", "error", err)
				err = nil
			}
			if err == nil {
				crashpoint.At("patch.answered")
			}
			if err != nil {
				// Once any attempt's outcome is unknown, it stays so: a later
				// 503 says nothing about whether that attempt was applied.
				rec.PatchUnknown = prevUnknown || (uploader.Classify(err) != uploader.Conflict && uploader.OutcomeUnknown(err))
				if !p.retry(f, &rec, err) {
					return
				}
				continue
			}
			rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, time.Now()
			rec.Dest = freeName(f.cfg.Done, name)
			if err := p.store.Commit(rec); err != nil {
				// Talkdesk has the file but the state does not say so: keep
				// the record as it is (a resend gets 409: applied) and retry.
				log.Error("cannot write state; trying again later", "error", err)
				rec.Phase, rec.PatchUnknown = state.Patching, true
				if !p.wait(p.backoff(rec.Attempts, 0)) {
					return
				}
				continue
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
	class := uploader.Classify(err)
	if class != uploader.Permanent {
		p.metrics.Retry(class.String())
	}
	rec.Attempts++
	rec.LastError = err.Error()
	now := time.Now()
	switch class {
	case uploader.Permanent:
		sentence, detail := explain(err, rec.ListID)
		p.fail(f, *rec, sentence, detail)
		return false
	case uploader.Auth:
		// Not the file's fault: it waits however long this takes.
		log.Error("Talkdesk refused listdrop's credentials; the file waits", "error", err)
	default:
		if rec.FirstFailure.IsZero() {
			rec.FirstFailure = now
		}
		if giveUp := p.cfg.Retry.GiveUpAfter; giveUp > 0 && now.Sub(rec.FirstFailure) >= giveUp {
			sentence, detail := explain(err, rec.ListID)
			p.fail(f, *rec, fmt.Sprintf("listdrop tried for %s and gave up: %s", giveUp, lowerFirst(sentence)), detail)
			return false
		}
	}
	d := p.backoff(rec.Attempts, uploader.RetryAfter(err))
	if class != uploader.Auth {
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
