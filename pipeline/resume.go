package pipeline

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/listdrop/listdrop/state"
)

// resume continues a file recorded by an earlier run, from the step its
// record names.
func (p *Pipeline) resume(f *folder, rec state.Record) {
	if !p.usable(f) && p.park(f, item{f: f, path: rec.Key, claimed: true, rec: &rec}) {
		return
	}
	if rec.Phase == state.Committed || rec.Phase == state.Failing {
		p.resumeEnd(f, rec)
		return
	}
	data, ok := p.readHeld(f, rec)
	if !ok {
		return
	}
	data, _, _ = p.prepare(f, rec.Key, data)
	if sum := md5.Sum(data); hex.EncodeToString(sum[:]) != rec.MD5 {
		p.changedWhileHeld(f, rec, data)
		return
	}
	p.upload(f, rec, data)
}

// resumeEnd moves a committed or failing file where its record says.
func (p *Pipeline) resumeEnd(f *folder, rec state.Record) {
	if !p.sameFile(rec) {
		// The record's file was moved and a later file of the same name
		// claimed in its place before the record's end reached the disk:
		// end the record, and take the file as new.
		f.fileLog(&rec).Warn("the held file is not the one its record names; the record is finished and the file taken as a new one")
		result := state.Done
		if rec.Phase == state.Failing {
			result = state.Failed
		}
		p.takeAgain(f, rec, entryOf(rec, result, rec.Reason))
		return
	}
	if rec.Phase == state.Committed {
		p.finishDone(f, rec)
	} else {
		p.finishFailed(f, rec)
	}
}

// readHeld reads a held file to resume its upload. Another program may
// hold it for a while (on Windows, also a process of ours that has just
// been ended): tried again with a growing wait, not left until the next
// start. It reports false when the file cannot be resumed now.
func (p *Pipeline) readHeld(f *folder, rec state.Record) ([]byte, bool) {
	log := f.fileLog(&rec)
	data, _, err := p.readDropped(rec.Key, f.readLimit(rec.Key))
	for attempt := 1; err != nil && !errors.Is(err, fs.ErrNotExist) && !refusedKind(err); attempt++ {
		if attempt == 1 {
			log.Warn("cannot read a held file yet; will keep trying", "error", err)
		}
		if !p.wait(p.backoff(attempt, 0)) {
			return nil, false
		}
		data, _, err = p.readDropped(rec.Key, f.readLimit(rec.Key))
	}
	if errors.Is(err, fs.ErrNotExist) {
		log.Error("a file listdrop held has disappeared from the claim folder", "file", rec.Key)
		p.finish(f, rec, state.Failed, "The file disappeared while listdrop held it.")
		return nil, false
	}
	if err != nil {
		log.Error("cannot read a held file; it stays for the next start", "error", err)
		return nil, false
	}
	return data, true
}

// changedWhileHeld resumes a held file whose content is no longer what
// its record's MD5 says.
func (p *Pipeline) changedWhileHeld(f *folder, rec state.Record, data []byte) {
	log := f.fileLog(&rec)
	switch {
	case len(rec.PartsIn) > 0 || (rec.Parts > 0 && rec.Phase == state.Patching):
		// Parts of it may be in: taken afresh it would import them twice,
		// and what is left of the file as it was cannot be cut from what
		// is there now.
		log.Error("a split file changed in the claim folder while its parts were imported; the rest is not sent")
		p.failAsIs(f, rec, changedSplitNote(rec), "")
	case rec.Phase == state.Hashed:
		// Never committed: take it as a new file.
		p.takeAgain(f, rec, state.Entry{At: time.Now(), Folder: rec.Folder, Source: rec.Source, ListID: rec.ListID, Result: state.Failed, Reason: "content changed while held; taken again"})
	default:
		log.Warn("held file changed after its bytes were uploaded; committing what was uploaded")
		p.upload(f, rec, data)
	}
}

// changedSplitNote is the note of a split file whose bytes changed in the
// claim folder between its parts. The records not imported are not in
// the file that goes to failed/ (it is the changed one), so the note says
// which lines of the file as dropped were imported and which were not.
func changedSplitNote(rec state.Record) string {
	return "This file changed in listdrop's claim folder while it was imported in parts, so the rest of it was not sent; the file beside this note is the changed one, not the one dropped. " +
		PartsImported(rec) + " Import the lines not imported from the file as it was dropped (after its header line), not from this one."
}

// PartsImported says which lines of a split file whose import stopped
// part-way are in its record list and which are not, naming the part whose
// PATCH was in flight, if one was: one sentence, of the file as it was cut.
func PartsImported(rec state.Record) string {
	var b strings.Builder
	if n := len(rec.PartsIn); n > 0 {
		in := fmt.Sprintf("Part 1 (lines %d–%d of the file as dropped) was", rec.PartsIn[0].First, rec.PartsIn[0].Last)
		if n > 1 {
			in = fmt.Sprintf("Parts 1–%d (lines %d–%d of the file as dropped) were", n, rec.PartsIn[0].First, rec.PartsIn[n-1].Last)
		}
		fmt.Fprintf(&b, "%s imported into record list %s; lines %d–%d were not", in, rec.ListID, rec.PartsIn[n-1].Last+1, rec.LastLine)
	} else {
		fmt.Fprintf(&b, "None of its %d parts was imported into record list %s", rec.Parts, rec.ListID)
	}
	if rec.Phase == state.Patching {
		// Its PATCH went out; whether Talkdesk applied it is not known.
		fmt.Fprintf(&b, ", though part %d (upload request %s) was sent to Talkdesk just before listdrop stopped and may be in the list: check the list for its records", rec.Part, rec.UploadID)
	}
	b.WriteString(".")
	return b.String()
}

// takeAgain ends a record with e and takes its file as a new one.
func (p *Pipeline) takeAgain(f *folder, rec state.Record, e state.Entry) {
	if _, err := p.store.Finish(rec.Key, e); err != nil {
		f.fileLog(&rec).Error("cannot write state", "error", err)
		return
	}
	if r, d, o := p.take(item{f: f, path: rec.Key, claimed: true}); o == taken {
		p.upload(f, r, d)
	}
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
