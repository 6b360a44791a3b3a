package pipeline

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/listdrop/listdrop/state"
)

// failUnlessChanged fails a file taken from its folder, unless it changed
// since it was read: a writer that had not finished (an empty file its
// program fills later, a pause longer than settle) gets its file back, to be
// taken again once it has settled, rather than a note about a content that
// is no longer there. data is what was read (nil for an empty file). It
// reports whether the file was failed.
func (p *Pipeline) failUnlessChanged(f *folder, rec state.Record, claimPath, source string, data []byte, problem string) bool {
	fi, err := os.Lstat(claimPath)
	changed := err == nil && (fi.Size() != rec.Size || !fi.ModTime().Equal(rec.ModTime))
	if !changed && err == nil {
		again, _, rerr := p.readDropped(claimPath, f.readLimit(claimPath))
		changed = rerr == nil && !bytes.Equal(again, data)
	}
	if changed {
		f.log.Info("file changed after it was read; waiting for it to settle again", "file", filepath.Base(source))
		p.release(f, claimPath, source)
		return false
	}
	p.fail(f, rec, problem, "")
	return true
}
