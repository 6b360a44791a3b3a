package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
)

// fail moves a file to failed/ with its explanation.
func (p *Pipeline) fail(f *folder, rec state.Record, sentence, detail string) {
	p.failRecord(f, rec, sentence, detail, true)
}

// failAsIs fails rec with reason as its note's first line, unchanged, and
// writes no records beside it: for a split file whose records not
// imported are no longer in it (changedSplitNote).
func (p *Pipeline) failAsIs(f *folder, rec state.Record, reason, detail string) {
	p.failRecord(f, rec, reason, detail, false)
}

// failRecord is fail; withRest says whether a split file's note and the
// records not imported are made here (partsFailed, writeRemaining).
func (p *Pipeline) failRecord(f *folder, rec state.Record, sentence, detail string, withRest bool) {
	rec.Phase = state.Failing
	rec.Reason, rec.Detail = sentence, detail
	rec.Dest = freeName(f.cfg.Failed, filepath.Base(rec.Source), sidecarSuffix)
	write := p.store.Put
	switch {
	case len(rec.PartsIn) > 0:
		// Some parts are in: the rest is written beside the file, and the
		// file counts as committed, so that dropping it again whole is
		// refused rather than imported twice. A process that stopped while
		// failing it may have written its note there already, and the rest
		// (an adopter does not know the names it chose): a lone note that
		// says what this one would is this file's to join, and
		// writeRemaining keeps the rest once, under the first name that
		// holds it or is free.
		first := rec
		first.Dest = filepath.Join(f.cfg.Failed, filepath.Base(rec.Source))
		if withRest {
			first.Remaining = remainingName(first.Dest)
			first.Reason = partsFailed(first, sentence)
		}
		if ownNote(first) && noteBegins(first.Dest+sidecarSuffix, first.Reason) {
			rec.Dest = first.Dest
		}
		if withRest {
			rec.Remaining = remainingName(rec.Dest)
			rec.Reason = partsFailed(rec, sentence)
		}
		if rec.Committed.IsZero() {
			rec.Committed = time.Now()
		}
		write = p.store.Commit
	case rec.Parts > 0 && withRest && !rec.Duplicate:
		// (A duplicate is refused before any part is sent: its reason
		// stands alone, and starts as every duplicate's does.)
		rec.Reason = fmt.Sprintf("None of this file's %d parts was imported: %s", rec.Parts, lowerFirst(sentence))
	}
	if err := write(rec); err != nil {
		f.log.Error("cannot write state; the file stays for the next start", "file", filepath.Base(rec.Source), "error", err)
		return
	}
	crashpoint.At("fail.recorded")
	p.finishFailed(f, rec)
}

func (p *Pipeline) finishFailed(f *folder, rec state.Record) {
	if p.parkIfAway(f, rec) {
		return
	}
	if exists(rec.Key) {
		ok := p.retryFS(f, &rec, func() error {
			if err := os.MkdirAll(f.cfg.Failed, 0o755); err != nil {
				return err
			}
			if rec.Remaining != "" {
				if err := p.writeRemaining(f, &rec); err != nil {
					return err
				}
			}
			if ownNote(rec) {
				// Its note was written before a crash: the file joins it
				// instead of taking a second name beside a lone note.
				if err := moveFile(rec.Key, rec.Dest); !errors.Is(err, fs.ErrExist) {
					return err
				}
			}
			dest, err := f.failToFree(rec.Key, f.cfg.Failed, filepath.Base(rec.Source), sidecar(rec, time.Now()))
			rec.Dest = dest
			return err
		})
		if !ok {
			return
		}
		crashpoint.At("failed.moved")
	}
	f.fileLog(&rec).Info("file failed", "dest", rec.Dest, "reason", rec.Reason)
	p.finish(f, rec, state.Failed, rec.Reason)
}

// ownNote reports whether the note at a failing record's destination is
// the one written for this file (same name and MD5) and the file is not
// beside it yet.
func ownNote(rec state.Record) bool {
	if rec.Dest == "" || rec.MD5 == "" || exists(rec.Dest) {
		return false
	}
	note, err := os.ReadFile(rec.Dest + sidecarSuffix)
	if err != nil {
		return false
	}
	return bytes.Contains(note, []byte("\nMD5:             "+rec.MD5+"\n")) &&
		bytes.Contains(note, []byte("\nFile:            "+display.Name(filepath.Base(rec.Source))+"\n"))
}

// noteBegins reports whether the note at path begins with reason's line.
func noteBegins(path, reason string) bool {
	note, err := os.ReadFile(path)
	return err == nil && bytes.HasPrefix(note, []byte(display.Name(reason)+"\n"))
}

func (p *Pipeline) finishDone(f *folder, rec state.Record) {
	if p.parkIfAway(f, rec) {
		return
	}
	if exists(rec.Key) {
		ok := p.retryFS(f, &rec, func() error {
			if err := os.MkdirAll(f.cfg.Done, 0o755); err != nil {
				return err
			}
			// Chosen again at each try: the name picked at commit time may
			// have been taken, or picked while done/ was unusable.
			dest, err := f.moveToFree(rec.Key, f.cfg.Done, filepath.Base(rec.Source))
			rec.Dest = dest
			return err
		})
		if !ok {
			return
		}
		crashpoint.At("done.moved")
	}
	f.fileLog(&rec).Info("file uploaded", "dest", rec.Dest, "size", rec.Size)
	// A split file's parts were each followed before the next was sent:
	// its verdict is known already.
	if key := p.finish(f, rec, state.Done, ""); p.cfg.Verify && rec.Parts == 0 {
		// Beside the lane: the list's next file is prepared meanwhile.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.verify(f, rec, key)
		}()
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

// finish writes the end of a file's life to the state. The list's next
// file does not wait for that write to reach the disk: it joins the next
// shared transaction, and if a crash loses it, the file's record (committed,
// or failing) finishes it again at the next start. The channel gets the
// history entry's key once it is written (nil when it could not be).
func (p *Pipeline) finish(f *folder, rec state.Record, result state.Result, reason string) <-chan []byte {
	e := entryOf(rec, result, reason)
	removeMarker(rec.Key)
	onDisk := make(chan struct{})
	p.mu.Lock()
	p.finishing[rec.Key] = onDisk
	p.mu.Unlock()
	written := p.store.FinishAsync(rec.Key, e)
	key := make(chan []byte, 1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r := <-written
		p.mu.Lock()
		if p.finishing[rec.Key] == onDisk {
			delete(p.finishing, rec.Key)
		}
		p.mu.Unlock()
		close(onDisk)
		if r.Err != nil {
			f.log.Error("cannot write state", "file", filepath.Base(rec.Source), "error", r.Err)
			key <- nil
			return
		}
		crashpoint.At("history.written")
		p.metrics.FileFinished(rec.Folder, string(result), e.At)
		p.addRecent(e)
		if p.onFinish != nil {
			p.onFinish(e)
		}
		key <- r.Key
	}()
	return key
}

// entryOf is the history entry that ends a record's life.
func entryOf(rec state.Record, result state.Result, reason string) state.Entry {
	e := state.NewEntry(rec, result, convertedReason(rec, result, reason))
	if o := partsOutcome(rec, result); o != "" {
		e.Outcome = o
	}
	return e
}

// partsOutcome is a split file's verdict once every part is in: the worst
// of its parts'. Talkdesk's verdict on a file of one upload comes later,
// from verify.
func partsOutcome(rec state.Record, result state.Result) string {
	if result != state.Done || rec.Parts == 0 {
		return ""
	}
	return state.WorstOutcome(rec.PartsIn)
}

// awaitFinish waits until the end of the last file claimed at path is on
// disk. A file of the same name must not be claimed there before: after a
// crash, the earlier file's record would be taken for this file's, and
// this file moved to done/ or failed/ without being uploaded.
func (p *Pipeline) awaitFinish(path string) {
	p.mu.Lock()
	onDisk := p.finishing[path]
	p.mu.Unlock()
	if onDisk != nil {
		<-onDisk
	}
}
