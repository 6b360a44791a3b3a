package watcher

import (
	"io/fs"
	"os"
	"path/filepath"
)

// ignoredReason says why a *.csv entry that is not a regular file is left
// alone.
func ignoredReason(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSymlink != 0:
		// The pipeline's words for a link met at the claim: one warning
		// whichever sees it first.
		return "it is a link; listdrop does not follow links: copy the file into the folder instead"
	case mode&fs.ModeNamedPipe != 0:
		return "it is a named pipe (FIFO), not a file; listdrop reads only regular files"
	case mode.IsDir():
		return "it is a folder, not a file; listdrop does not look into subfolders"
	}
	return "it is not a regular file (a device or a socket); listdrop reads only regular files"
}

// noteIgnored logs once that path, named like a CSV file, is left alone,
// and tells Options.Ignored; forgetIgnored undoes it when the entry goes
// away or becomes a regular file.
func (r *run) noteIgnored(f *folder, path string, info os.FileInfo) {
	why := ignoredReason(info.Mode())
	if r.ignored[path] == why {
		return
	}
	r.ignored[path] = why
	if r.w.onIgnored != nil {
		// The consumer logs it, once with what it says of the same file.
		r.w.onIgnored(f.name, path, why)
		return
	}
	f.log.Warn("file left alone: "+why, "file", filepath.Base(path))
}

func (r *run) forgetIgnored(f *folder, path string) {
	if _, ok := r.ignored[path]; !ok {
		return
	}
	delete(r.ignored, path)
	if r.w.onIgnored != nil {
		r.w.onIgnored(f.name, path, "")
	}
}

// pruneIgnored forgets the entries of f that a scan no longer finds: on a
// network share no event says they went away.
func (r *run) pruneIgnored(f *folder, entries []os.DirEntry) {
	if len(r.ignored) == 0 {
		return
	}
	here := make(map[string]bool, len(entries))
	for _, e := range entries {
		here[filepath.Join(f.path, e.Name())] = true
	}
	for path := range r.ignored {
		if filepath.Dir(path) == f.path && !here[path] {
			r.forgetIgnored(f, path)
		}
	}
}
