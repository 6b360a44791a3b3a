package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/state"
)

// fail moves a file to failed/ with its explanation.
func (p *Pipeline) fail(f *folder, rec state.Record, sentence, detail string) {
	rec.Phase = state.Failing
	rec.Reason, rec.Detail = sentence, detail
	rec.Dest = freeName(f.cfg.Failed, filepath.Base(rec.Source), sidecarSuffix)
	if err := p.store.Put(rec); err != nil {
		f.log.Error("cannot write state; the file stays for the next start", "file", filepath.Base(rec.Source), "error", err)
		return
	}
	p.finishFailed(f, rec)
}

func (p *Pipeline) finishFailed(f *folder, rec state.Record) {
	if exists(rec.Key) {
		ok := p.retryFS(f, &rec, func() error {
			if err := os.MkdirAll(f.cfg.Failed, 0o755); err != nil {
				return err
			}
			if exists(rec.Dest) {
				rec.Dest = freeName(f.cfg.Failed, filepath.Base(rec.Source), sidecarSuffix)
			}
			if err := writeFileAtomic(rec.Dest+sidecarSuffix, sidecar(rec, time.Now())); err != nil {
				return fmt.Errorf("write explanation: %w", err)
			}
			return moveFile(rec.Key, rec.Dest)
		})
		if !ok {
			return
		}
	}
	f.fileLog(&rec).Info("file failed", "dest", rec.Dest, "reason", rec.Reason)
	p.finish(f, rec, state.Failed, rec.Reason)
}

func (p *Pipeline) finishDone(f *folder, rec state.Record) {
	if exists(rec.Key) {
		ok := p.retryFS(f, &rec, func() error {
			if err := os.MkdirAll(f.cfg.Done, 0o755); err != nil {
				return err
			}
			// Chosen again at each try: the name picked at commit time may
			// have been taken, or picked while done/ was unusable.
			rec.Dest = freeName(f.cfg.Done, filepath.Base(rec.Source))
			return moveFile(rec.Key, rec.Dest)
		})
		if !ok {
			return
		}
	}
	f.fileLog(&rec).Info("file uploaded", "dest", rec.Dest, "size", rec.Size)
	if key := p.finish(f, rec, state.Done, ""); key != nil && p.cfg.Verify {
		p.verify(f, rec, key)
	}
}

// retryFS runs a move until it works: a full disk or a folder without write
// permission must not lose the file, which stays claimed and recorded.
func (p *Pipeline) retryFS(f *folder, rec *state.Record, move func() error) bool {
	for attempt := 1; ; attempt++ {
		err := move()
		if err == nil {
			return true
		}
		if rec.LastError != err.Error() {
			// The state says why the file is still held.
			rec.LastError = err.Error()
			if perr := p.store.Put(*rec); perr != nil {
				f.log.Error("cannot write state", "error", perr)
			}
		}
		d := p.backoff(attempt, 0)
		p.metrics.Retry("filesystem")
		f.log.Error("cannot move the file; will try again", "file", filepath.Base(rec.Source), "error", err, "retry_in", d.Round(time.Millisecond))
		if !p.wait(d) {
			return false
		}
	}
}

// finish writes the end of a file's life to the state and returns the
// history entry's key (nil when the state could not be written).
func (p *Pipeline) finish(f *folder, rec state.Record, result state.Result, reason string) []byte {
	e := state.Entry{
		At: time.Now(), Folder: rec.Folder, Source: rec.Source, Dest: rec.Dest, ListID: rec.ListID,
		Size: rec.Size, MD5: rec.MD5, Result: result, Reason: reason, UploadID: rec.UploadID, Attempts: rec.Attempts,
	}
	removeMarker(rec.Key)
	key, err := p.store.Finish(rec.Key, e)
	if err != nil {
		f.log.Error("cannot write state", "file", filepath.Base(rec.Source), "error", err)
		return nil
	}
	p.metrics.FileFinished(rec.Folder, string(result), e.At)
	if p.onFinish != nil {
		p.onFinish(e)
	}
	return key
}
