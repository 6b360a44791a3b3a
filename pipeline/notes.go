package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// FileNote is a file in a drop folder that listdrop knows a problem with:
// one it leaves alone (a link, a FIFO, a folder named *.csv), or one it
// cannot take or read yet.
type FileNote struct {
	File   string    `json:"file"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

type fileNote struct {
	folder    string
	reason    string
	since     time.Time
	unhealthy bool // the service cannot do its work: /healthz says so
}

// setNote remembers why a file in a drop folder waits; "" forgets it.
func (p *Pipeline) setNote(folder, path, reason string, unhealthy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if reason == "" {
		delete(p.notes, path)
		return
	}
	if p.notes == nil {
		p.notes = map[string]fileNote{}
	}
	n, ok := p.notes[path]
	if !ok || n.reason != reason {
		n = fileNote{folder: folder, reason: reason, since: time.Now(), unhealthy: unhealthy}
	}
	p.notes[path] = n
}

// folderNotes are the notes of files still in folder, oldest first, and
// the problems among them for the health check.
func (p *Pipeline) folderNotes(folder string) (notes []FileNote, problems []string) {
	p.mu.Lock()
	var paths []string
	var all []fileNote
	for path, n := range p.notes {
		if n.folder == folder {
			paths, all = append(paths, path), append(all, n)
		}
	}
	p.mu.Unlock()
	for i, path := range paths {
		if _, err := os.Lstat(path); err != nil {
			continue // gone: nothing waits any more
		}
		notes = append(notes, FileNote{File: filepath.Base(path), Reason: all[i].reason, Since: all[i].since})
		if all[i].unhealthy {
			problems = append(problems, "file "+filepath.Base(path)+" in folder "+folder+" "+all[i].reason)
		}
	}
	sort.Slice(notes, func(i, j int) bool { return notes[i].Since.Before(notes[j].Since) })
	sort.Strings(problems)
	return notes, problems
}

// stuck reports whether a held file waits because it cannot be moved to
// done/ or failed/ (no permission, disk full): retryFS keeps the error.
func stuck(r state.Record) bool {
	return (r.Phase == state.Committed || r.Phase == state.Failing) && r.LastError != ""
}

// ignored is told by the watcher of a *.csv entry it leaves alone (a link,
// a FIFO, a folder), and of its end (reason ""). It says so once, also
// when the claim met the same link first.
func (p *Pipeline) ignored(folder, path, reason string) {
	if reason == "" {
		// Only the status forgets it: a link moved by a claim and given
		// back is not warned about again.
		p.setNote(folder, path, "", false)
		return
	}
	p.setNote(folder, path, reason, false)
	if f := p.folders[folder]; f != nil && p.noteTrouble(path) {
		f.log.Warn("file left alone: "+reason, "file", filepath.Base(path))
	}
}

// cannotOpen deals with a dropped file that cannot even be opened (no
// permission, an I/O error), and reports whether that was the failure: it
// is not a link or a special file, and not gone. It waits in the folder,
// said once in the log, shown in the status and as a health problem.
func (p *Pipeline) cannotOpen(f *folder, source string, err error) bool {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fsutil.ErrLink), errors.Is(err, fsutil.ErrHardLinked), errors.Is(err, fsutil.ErrNotRegular):
		return false
	}
	if p.noteTrouble(source) {
		f.log.Warn("cannot read the file; will keep trying", "file", filepath.Base(source), "error", err)
	}
	p.setNote(f.cfg.Path, source, "cannot be read: "+plainIOError(err), true)
	return true
}
