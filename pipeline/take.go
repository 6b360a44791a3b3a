package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

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
