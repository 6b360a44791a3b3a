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
		fi, err := os.Lstat(it.path)
		if err != nil || !fi.Mode().IsRegular() {
			return state.Record{}, nil, false // gone, or replaced by something that is not a file
		}
		if fi.Size() != it.seen.Size || !fi.ModTime().Equal(it.seen.ModTime) {
			log.Debug("file changed after it settled; waiting for it to settle again")
			return state.Record{}, nil, false
		}
		if err := p.ensureDirs(f); err != nil {
			log.Error("cannot prepare folder", "error", err)
			return state.Record{}, nil, false
		}
		claimPath = filepath.Join(f.claimDir, name)
		if exists(claimPath) {
			log.Debug("a file of the same name is still being handled; taking this one after it")
			return state.Record{}, nil, false
		}
		if err := os.Rename(it.path, claimPath); err != nil {
			// Still open in another program (Windows), or no permission:
			// the file stays and the next rescan offers it again.
			log.Warn("cannot take the file yet", "error", err)
			return state.Record{}, nil, false
		}
	}
	rec := state.Record{Key: claimPath, Folder: f.cfg.Path, Source: source, ListID: f.cfg.RecordListID, Claimed: time.Now()}
	before, err := os.Stat(claimPath)
	if err != nil {
		log.Warn("claimed file vanished", "error", err)
		return rec, nil, false
	}
	rec.Size = before.Size()
	switch {
	case before.Size() == 0:
		p.fail(f, rec, "This file is empty (0 bytes), so there is nothing to import.", "")
		return rec, nil, false
	case before.Size() > MaxSize:
		p.fail(f, rec, fmt.Sprintf("This file is %d bytes, larger than the %d bytes Talkdesk accepts in one upload; split it into smaller files.", before.Size(), MaxSize), "")
		return rec, nil, false
	}
	data, err := os.ReadFile(claimPath)
	if err != nil {
		log.Warn("cannot read the file; trying again later", "error", err)
		p.release(f, claimPath, source)
		return rec, nil, false
	}
	after, err := os.Stat(claimPath)
	if err != nil || after.Size() != int64(len(data)) || !after.ModTime().Equal(before.ModTime()) ||
		(!it.claimed && !after.ModTime().Equal(it.seen.ModTime)) {
		// A writer still has the file open and wrote while it was read.
		log.Info("file is still being written; waiting for it to settle again")
		p.release(f, claimPath, source)
		return rec, nil, false
	}
	sum := md5.Sum(data)
	rec.MD5 = hex.EncodeToString(sum[:])
	rec.Phase = state.Hashed

	if c, dup, err := p.store.LookupCommit(rec.ListID, rec.MD5); err != nil {
		log.Error("cannot read state; trying again later", "error", err)
		return rec, nil, false
	} else if dup {
		rec.Duplicate = true
		p.fail(f, rec, fmt.Sprintf("This file has the same content as %s, which was already imported into record list %s on %s (upload request %s), so it was not imported again.",
			filepath.Base(c.File), c.ListID, formatTime(c.At), c.UploadID), "")
		return rec, nil, false
	}
	if err := p.store.Put(rec); err != nil {
		log.Error("cannot write state; trying again later", "error", err)
		p.release(f, claimPath, source)
		return rec, nil, false
	}
	log.Debug("file taken", "size", rec.Size, "md5", rec.MD5)
	return rec, data, true
}

// release gives a claimed file back to its drop folder, to be taken again
// once it has settled. When a new file of the same name is already there,
// the claimed one waits in the claim folder for the next start-up.
func (p *Pipeline) release(f *folder, claimPath, source string) {
	if exists(source) {
		f.log.Warn("file left in the claim folder until the next start", "file", filepath.Base(source))
		return
	}
	if err := os.Rename(claimPath, source); err != nil {
		f.log.Warn("cannot give the file back to its folder", "file", filepath.Base(source), "error", err)
	}
}

// resume continues a file recorded by an earlier run.
func (p *Pipeline) resume(f *folder, rec state.Record) {
	log := f.fileLog(&rec)
	switch rec.Phase {
	case state.Committed:
		p.finishDone(f, rec)
		return
	case state.Failing:
		p.finishFailed(f, rec)
		return
	}
	data, err := os.ReadFile(rec.Key)
	if errors.Is(err, fs.ErrNotExist) {
		log.Error("a file listdrop held has disappeared from the claim folder", "file", rec.Key)
		p.finish(f, rec, state.Failed, "The file disappeared while listdrop held it.")
		return
	}
	if err != nil {
		log.Error("cannot read a held file; it stays for the next start", "error", err)
		return
	}
	sum := md5.Sum(data)
	if hex.EncodeToString(sum[:]) != rec.MD5 {
		if rec.Phase == state.Hashed {
			// Changed while held and never committed: take it as a new file.
			if err := p.store.Finish(rec.Key, state.Entry{At: time.Now(), Folder: rec.Folder, Source: rec.Source, ListID: rec.ListID, Result: state.Failed, Reason: "content changed while held; taken again"}); err != nil {
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
