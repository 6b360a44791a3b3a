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

	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// renameFile is renameNoReplace; tests replace it to make cross-volume
// moves without a second volume.
var renameFile = renameNoReplace

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
			if r, d, o := p.take(item{f: f, path: rec.Key, claimed: true}); o == taken {
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
			if r, d, o := p.take(item{f: f, path: rec.Key, claimed: true}); o == taken {
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
