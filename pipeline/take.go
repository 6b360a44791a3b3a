package pipeline

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/csvsplit"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// take claims a file, checks it, hashes it and refuses duplicates. It
// returns the record to upload, or false when the file was dealt with (or
// left for later).
func (p *Pipeline) take(it item) (state.Record, []byte, bool) {
	f := it.f
	name := filepath.Base(it.path)
	log := f.log.With("file", name)
	claimPath := it.path
	source := filepath.Join(f.cfg.Path, name)
	if !it.claimed {
		if !p.usable(f) {
			return state.Record{}, nil, false // offered again by a rescan once it is back
		}
		fi, err := fsutil.Check(it.path)
		if err != nil && p.cannotOpen(f, source, err) {
			return state.Record{}, nil, false
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				p.refuseLink(f, source, err)
			}
			return state.Record{}, nil, false // gone, or not a file listdrop reads
		}
		if fi.Size != it.seen.Size || !fi.ModTime.Equal(it.seen.ModTime) {
			log.Debug("file changed after it settled; waiting for it to settle again")
			p.recheck(it.path)
			return state.Record{}, nil, false
		}
		// Only the claim folder is needed now; done/ and failed/ are made
		// when the file is moved, and their trouble keeps the file held.
		if err := os.MkdirAll(f.claimDir, 0o755); err != nil {
			if p.noteTrouble(f.claimDir) {
				log.Error("cannot make the claim folder; files wait in the drop folder", "error", err)
			}
			return state.Record{}, nil, false
		}
		claimPath = filepath.Join(f.claimDir, name)
		if p.beforeClaim != nil {
			p.beforeClaim(it.path)
		}
		p.awaitFinish(claimPath)
		if exists(claimPath) {
			log.Debug("a file of the same name is still being handled; taking this one after it")
			return state.Record{}, nil, false
		}
		if err := renameNoReplace(it.path, claimPath); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return state.Record{}, nil, false // another listdrop took it first
			}
			if errors.Is(err, fs.ErrExist) {
				// The same name in another case, on a case-insensitive
				// share: taken after the file being handled.
				log.Debug("a file of the same name is still being handled; taking this one after it")
				return state.Record{}, nil, false
			}
			// Still open in another program (Windows), or no permission:
			// the file stays and the next rescan offers it again. Said
			// once per file, not on every rescan.
			if p.noteTrouble(source) {
				log.Warn("cannot take the file yet; will keep trying", "error", err)
			} else {
				log.Debug("cannot take the file yet", "error", err)
			}
			p.setNote(f.cfg.Path, source, "cannot be taken yet: "+plainIOError(err), false)
			return state.Record{}, nil, false
		}
		crashpoint.At("claim.renamed")
	}
	rec := state.Record{Key: claimPath, Folder: f.cfg.Path, Source: source, ListID: f.cfg.RecordListID, Claimed: time.Now()}
	// One open, without following links, and a read through the size
	// limit: what is checked is what is read, and a file that grows is
	// never read whole.
	data, info, err := p.readDropped(claimPath, f.readLimit(name))
	rec.Size, rec.ModTime = info.Size, info.ModTime
	switch {
	case errors.Is(err, fsutil.ErrTooBig) && info.Grew:
		// Still being written: looked at again once it has settled, when
		// its size alone tells whether it can be imported.
		log.Info("file grew while it was read; waiting for it to settle again")
		p.release(f, claimPath, source)
		return rec, nil, false
	case errors.Is(err, fsutil.ErrTooBig):
		p.fail(f, rec, f.rawSizeProblem(name, info.Size), "")
		return rec, nil, false
	case errors.Is(err, fsutil.ErrLink), errors.Is(err, fsutil.ErrHardLinked), errors.Is(err, fsutil.ErrNotRegular):
		// Swapped in after the check: given back, never read.
		p.refuseLink(f, source, err)
		p.release(f, claimPath, source)
		return rec, nil, false
	case errors.Is(err, fs.ErrNotExist):
		log.Warn("claimed file vanished", "error", err)
		return rec, nil, false
	case err != nil:
		first := p.noteTrouble(source)
		if since := p.troubleSince(source); p.cfg.Retry.GiveUpAfter > 0 && since >= p.cfg.Retry.GiveUpAfter {
			p.clearTrouble(source)
			rec.LastError = err.Error()
			p.fail(f, rec, fmt.Sprintf("listdrop could not read this file for %s and gave up: %s.", p.cfg.Retry.GiveUpAfter, plainIOError(err)), fmt.Sprintf("Error:           %s\n", err))
			return rec, nil, false
		}
		if first {
			log.Warn("cannot read the file; will keep trying", "error", err)
		}
		p.setNote(f.cfg.Path, source, "cannot be read: "+plainIOError(err), true)
		p.release(f, claimPath, source)
		return rec, nil, false
	}
	if problem := f.rawSizeProblem(name, info.Size); problem != "" {
		p.failUnlessChanged(f, rec, claimPath, source, data, problem)
		return rec, nil, false
	}
	p.clearTrouble(source)
	after, err := os.Lstat(claimPath)
	if err != nil || after.Size() != int64(len(data)) || !after.ModTime().Equal(info.ModTime) ||
		(!it.claimed && !after.ModTime().Equal(it.seen.ModTime)) {
		// A writer still has the file open and wrote while it was read.
		log.Info("file is still being written; waiting for it to settle again")
		p.release(f, claimPath, source)
		return rec, nil, false
	}
	upload, converted, problem := p.prepare(f, name, data)
	if problem != "" {
		p.failUnlessChanged(f, rec, claimPath, source, data, problem)
		return rec, nil, false
	}
	sum := md5.Sum(upload)
	rec.MD5 = hex.EncodeToString(sum[:])
	rec.Phase = state.Hashed
	rec.Converted = converted
	crashpoint.At("take.hashed")

	if problem := CheckFile(upload, f.cfg); problem != "" {
		p.failUnlessChanged(f, rec, claimPath, source, data, problem)
		return rec, nil, false
	}
	crashpoint.At("take.checked")
	c, dup, err := p.store.LookupCommit(rec.ListID, rec.MD5)
	var forced bool
	if err == nil && dup {
		// retry --force lets one copy through.
		if forced, err = p.store.TakeAllowance(rec.ListID, rec.MD5); forced {
			log.Info("duplicate let through once, as asked")
			dup = false
		}
	}
	if err != nil {
		log.Error("cannot read state; trying again later", "error", err)
		p.release(f, claimPath, source)
		return rec, nil, false
	} else if dup {
		rec.Duplicate = true
		p.failUnlessChanged(f, rec, claimPath, source, data, DuplicateReason(c))
		return rec, nil, false
	}
	if len(upload) > MaxSize {
		// The folder splits (CheckFile refused it otherwise): a record that
		// cannot fit a part fails the file before anything is sent.
		s, problem := csvsplit.Cut(upload, MaxSize)
		if problem != "" {
			p.failUnlessChanged(f, rec, claimPath, source, data, problem)
			return rec, nil, false
		}
		rec.Parts, rec.Part, rec.LastLine = len(s.Parts), 1, s.Parts[len(s.Parts)-1].Last
		log.Info("file over one upload's size; importing it in parts", "parts", rec.Parts, "size", len(upload))
	}
	// Not written to the state yet: until its PATCH nothing sent for it
	// counts, and a claimed file without a record is taken afresh after a
	// crash. The first write is the one before the PATCH (or a failure).
	// Except for a file let through by retry --force: its allowance is used
	// up, so after a crash it must be resumed, not taken afresh and refused
	// as a duplicate.
	if forced {
		if err := p.store.Put(rec); err != nil {
			log.Error("cannot write state; trying again later", "error", err)
			p.release(f, claimPath, source)
			return rec, nil, false
		}
		crashpoint.At("take.allowance-recorded")
	}
	log.Debug("file taken", "size", rec.Size, "md5", rec.MD5)
	if converted != "" {
		log.Info("file converted before the upload", "converted", converted)
	}
	return rec, upload, true
}

// refuseLink leaves alone a file that is a link, has other hard links or
// is not a regular file, and says so once: a service running as root in a
// folder others write to must read only what was dropped there.
func (p *Pipeline) refuseLink(f *folder, source string, err error) {
	if !p.noteTrouble(source) {
		return
	}
	why := "it is not a regular file"
	switch {
	case errors.Is(err, fsutil.ErrLink):
		why = "it is a link; listdrop does not follow links: copy the file into the folder instead"
	case errors.Is(err, fsutil.ErrHardLinked):
		why = "it has more than one hard link, so its content belongs to another file too; copy the file into the folder instead of linking it"
	}
	f.log.Warn("file left alone: "+why, "file", filepath.Base(source))
}

// refusedKind: what is at the path is not a file listdrop reads, and
// waiting will not change that.
func refusedKind(err error) bool {
	return errors.Is(err, fsutil.ErrLink) || errors.Is(err, fsutil.ErrHardLinked) || errors.Is(err, fsutil.ErrNotRegular)
}

// noteTrouble records that a file could not be taken; it reports whether
// this is the first time, so the log says it once.
func (p *Pipeline) noteTrouble(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.trouble[path]; ok {
		return false
	}
	p.trouble[path] = time.Now()
	return true
}

func (p *Pipeline) troubleSince(path string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.trouble[path]; ok {
		return time.Since(t)
	}
	return 0
}

func (p *Pipeline) clearTrouble(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.trouble, path)
	delete(p.notes, path)
}

// plainIOError says in words what a file-system error means.
func plainIOError(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied (the account listdrop runs as may not read it)"
	case errors.Is(err, fs.ErrNotExist):
		return "the file disappeared"
	}
	return err.Error()
}

// changedSince reports whether a claimed file was removed or rewritten
// after listdrop read it, in words, or "".
func changedSince(rec state.Record) string {
	fi, err := os.Lstat(rec.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return "removed"
	}
	if err != nil {
		return ""
	}
	if fi.Size() != rec.Size || (!rec.ModTime.IsZero() && !fi.ModTime().Equal(rec.ModTime)) {
		return "changed"
	}
	return ""
}

// abandon drops an upload before its commit because the file was removed
// or rewritten while it was sent. A rewritten file goes back to its folder
// and is uploaded again with its new content once it has settled.
func (p *Pipeline) abandon(f *folder, rec state.Record, why string) {
	log := f.fileLog(&rec)
	removeMarker(rec.Key)
	if why == "removed" {
		log.Warn("file removed while it was uploaded; it was not imported")
		rec.Dest = ""
		p.finish(f, rec, state.Failed, "The file was removed while it was being uploaded, so it was not imported.")
		return
	}
	log.Warn("file changed while it was uploaded; its old content was not imported, the new one will be")
	e := state.Entry{At: time.Now(), Folder: rec.Folder, Source: rec.Source, ListID: rec.ListID, Size: rec.Size, MD5: rec.MD5,
		Result: state.Failed, Reason: "The file changed while it was being uploaded; the old content was not imported and the file was taken again.", UploadID: rec.UploadID, Attempts: rec.Attempts}
	if _, err := p.store.Finish(rec.Key, e); err != nil {
		log.Error("cannot write state", "error", err)
		return
	}
	p.release(f, rec.Key, rec.Source)
}

// release gives a claimed file back to its drop folder, to be taken again
// once it has settled. When a new file of the same name is already there,
// the claimed one waits in the claim folder for the next start-up.
func (p *Pipeline) release(f *folder, claimPath, source string) {
	if !p.usable(f) && p.park(f, item{f: f, path: claimPath, claimed: true}) {
		return
	}
	if exists(source) {
		f.log.Warn("file left in the claim folder until the next start", "file", filepath.Base(source))
		return
	}
	if err := renameNoReplace(claimPath, source); err != nil {
		f.log.Warn("cannot give the file back to its folder", "file", filepath.Base(source), "error", err)
		return
	}
	p.recheck(source)
}

// resume continues a file recorded by an earlier run.
func (p *Pipeline) resume(f *folder, rec state.Record) {
	if !p.usable(f) && p.park(f, item{f: f, path: rec.Key, claimed: true, rec: &rec}) {
		return
	}
	log := f.fileLog(&rec)
	switch rec.Phase {
	case state.Committed, state.Failing:
		if !p.sameFile(rec) {
			// The record's file was moved and a later file of the same
			// name claimed in its place before the record's end reached
			// the disk: end the record, and take the file as new.
			log.Warn("the held file is not the one its record names; the record is finished and the file taken as a new one")
			result := state.Done
			if rec.Phase == state.Failing {
				result = state.Failed
			}
			if _, err := p.store.Finish(rec.Key, entryOf(rec, result, rec.Reason)); err != nil {
				log.Error("cannot write state", "error", err)
				return
			}
			if r, d, ok := p.take(item{f: f, path: rec.Key, claimed: true}); ok {
				p.upload(f, r, d)
			}
			return
		}
		if rec.Phase == state.Committed {
			p.finishDone(f, rec)
		} else {
			p.finishFailed(f, rec)
		}
		return
	}
	data, _, err := p.readDropped(rec.Key, f.readLimit(rec.Key))
	// Another program may hold it for a while (on Windows, also a process
	// of ours that has just been ended): tried again with a growing wait,
	// not left until the next start.
	for attempt := 1; err != nil && !errors.Is(err, fs.ErrNotExist) && !refusedKind(err); attempt++ {
		if attempt == 1 {
			log.Warn("cannot read a held file yet; will keep trying", "error", err)
		}
		if !p.wait(p.backoff(attempt, 0)) {
			return
		}
		data, _, err = p.readDropped(rec.Key, f.readLimit(rec.Key))
	}
	if errors.Is(err, fs.ErrNotExist) {
		log.Error("a file listdrop held has disappeared from the claim folder", "file", rec.Key)
		p.finish(f, rec, state.Failed, "The file disappeared while listdrop held it.")
		return
	}
	if err != nil {
		log.Error("cannot read a held file; it stays for the next start", "error", err)
		return
	}
	data, _, _ = p.prepare(f, rec.Key, data)
	sum := md5.Sum(data)
	if hex.EncodeToString(sum[:]) != rec.MD5 {
		if len(rec.PartsIn) > 0 || (rec.Parts > 0 && rec.Phase == state.Patching) {
			// Parts of it may be in: taken afresh it would import them
			// twice, and what is left of the file as it was cannot be cut
			// from what is there now.
			log.Error("a split file changed in the claim folder while its parts were imported; the rest is not sent")
			why := "The file changed in listdrop's claim folder while its parts were imported, so the rest could not be sent."
			if rec.Phase == state.Patching {
				why += fmt.Sprintf(" Part %d (upload request %s) may be in record list %s too: check the list before importing those lines again.", rec.Part, rec.UploadID, rec.ListID)
			}
			p.fail(f, rec, why, "")
			return
		}
		if rec.Phase == state.Hashed {
			// Changed while held and never committed: take it as a new file.
			if _, err := p.store.Finish(rec.Key, state.Entry{At: time.Now(), Folder: rec.Folder, Source: rec.Source, ListID: rec.ListID, Result: state.Failed, Reason: "content changed while held; taken again"}); err != nil {
				log.Error("cannot write state", "error", err)
				return
			}
			if r, d, ok := p.take(item{f: f, path: rec.Key, claimed: true}); ok {
				p.upload(f, r, d)
			}
			return
		}
		log.Warn("held file changed after its bytes were uploaded; committing what was uploaded")
	}
	p.upload(f, rec, data)
}

// sameFile reports whether the file at a record's claimed path is the one
// the record names, or is gone (moved already): same size and, when the
// record has one, same MD5. A file that cannot be read counts as the same:
// moving it is what the record asks.
func (p *Pipeline) sameFile(rec state.Record) bool {
	fi, err := os.Stat(rec.Key)
	if err != nil {
		return true
	}
	if fi.Size() != rec.Size {
		return false
	}
	if rec.MD5 == "" {
		return true
	}
	f := p.folders[rec.Folder]
	data, _, err := p.readDropped(rec.Key, f.readLimit(rec.Key))
	if err != nil {
		return true
	}
	data, _, _ = p.prepare(f, rec.Key, data)
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:]) == rec.MD5
}
