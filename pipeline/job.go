package pipeline

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/csvsplit"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// A file's life, from the drop folder to its upload, step by step: claim,
// read, prepare (convert, hash, check), cut into parts when it is big,
// dedupe. Each step hands the file on, or ends its turn with an outcome
// that says how. What follows is upload.go (the upload protocol, a part at
// a time for a split file: parts.go) and finish.go (done/ or failed/).

// outcome is how taking a file ended.
type outcome int

const (
	// taken: claimed, read, checked and hashed; to be uploaded.
	taken outcome = iota
	// later: left where it is (changed since it settled, in use, its
	// folder away, a state it cannot read yet); a rescan or a recheck
	// offers it again.
	later
	// released: given back to its drop folder, to be taken again once it
	// has settled.
	released
	// failed: on its way to failed/ with its note.
	failed
	// gone: removed, or taken by another listdrop first.
	gone
)

// job is one file being taken.
type job struct {
	p         *Pipeline
	f         *folder
	it        item
	name      string // the file's name
	source    string // where it was dropped
	claimPath string // where it is held
	log       *slog.Logger
	rec       state.Record
	data      []byte // as read
	upload    []byte // as uploaded: after a conversion
	converted string // what was converted, in words
	info      fsutil.Info
}

// take claims a file, reads, checks and hashes it, cuts it into parts when
// it is big and refuses duplicates. With taken, it returns the record and
// the bytes to upload.
func (p *Pipeline) take(it item) (state.Record, []byte, outcome) {
	name := filepath.Base(it.path)
	j := &job{p: p, f: it.f, it: it, name: name, source: filepath.Join(it.f.cfg.Path, name), claimPath: it.path,
		log: it.f.log.With("file", name)}
	for _, step := range []func() outcome{j.claim, j.read, j.prepare, j.cut, j.dedupe} {
		if o := step(); o != taken {
			return j.rec, nil, o
		}
	}
	j.log.Debug("file taken", "size", j.rec.Size, "md5", j.rec.MD5)
	if j.converted != "" {
		j.log.Info("file converted before the upload", "converted", j.converted)
	}
	return j.rec, j.upload, taken
}

// claim moves a settled file from its drop folder into this process's
// claim folder, in one rename: from then on it is this listdrop's. A file
// claimed already (resumed at start-up, adopted) is taken as it is.
func (j *job) claim() outcome {
	p, f := j.p, j.f
	if j.it.claimed {
		return taken
	}
	if !p.usable(f) {
		return later // offered again by a rescan once it is back
	}
	fi, err := fsutil.Check(j.it.path)
	if err != nil && p.cannotOpen(f, j.source, err) {
		return later
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.refuseLink(f, j.source, err)
		}
		return gone // gone, or not a file listdrop reads
	}
	if fi.Size != j.it.seen.Size || !fi.ModTime.Equal(j.it.seen.ModTime) {
		j.log.Debug("file changed after it settled; waiting for it to settle again")
		p.recheck(j.it.path)
		return later
	}
	// Only the claim folder is needed now; done/ and failed/ are made
	// when the file is moved, and their trouble keeps the file held.
	if err := os.MkdirAll(f.claimDir, 0o755); err != nil {
		if p.noteTrouble(f.claimDir) {
			j.log.Error("cannot make the claim folder; files wait in the drop folder", "error", err)
		}
		return later
	}
	j.claimPath = filepath.Join(f.claimDir, j.name)
	if p.beforeClaim != nil {
		p.beforeClaim(j.it.path)
	}
	p.awaitFinish(j.claimPath)
	if exists(j.claimPath) {
		j.log.Debug("a file of the same name is still being handled; taking this one after it")
		return later
	}
	return j.rename()
}

// rename is the claim's rename, and what its refusal means.
func (j *job) rename() outcome {
	p, f := j.p, j.f
	err := renameNoReplace(j.it.path, j.claimPath)
	switch {
	case err == nil:
		crashpoint.At("claim.renamed")
		return taken
	case errors.Is(err, fs.ErrNotExist):
		return gone // another listdrop took it first
	case errors.Is(err, fs.ErrExist):
		// The same name in another case, on a case-insensitive share:
		// taken after the file being handled.
		j.log.Debug("a file of the same name is still being handled; taking this one after it")
		return later
	}
	// Still open in another program (Windows), or no permission: the file
	// stays and the next rescan offers it again. Said once per file, not
	// on every rescan.
	if p.noteTrouble(j.source) {
		j.log.Warn("cannot take the file yet; will keep trying", "error", err)
	} else {
		j.log.Debug("cannot take the file yet", "error", err)
	}
	p.setNote(f.cfg.Path, j.source, "cannot be taken yet: "+plainIOError(err), false)
	return later
}

// read reads the claimed file: one open, without following links, and a
// read through the size limit, so what is checked is what is read and a
// file that grows is never read whole.
func (j *job) read() outcome {
	p, f := j.p, j.f
	j.rec = state.Record{Key: j.claimPath, Folder: f.cfg.Path, Source: j.source, ListID: f.cfg.RecordListID, Claimed: time.Now()}
	data, info, err := p.readDropped(j.claimPath, f.readLimit(j.name))
	j.data, j.info = data, info
	j.rec.Size, j.rec.ModTime = info.Size, info.ModTime
	if err != nil {
		return j.unread(err)
	}
	if problem := f.rawSizeProblem(j.name, info.Size); problem != "" {
		return j.fail(problem)
	}
	p.clearTrouble(j.source)
	after, err := os.Lstat(j.claimPath)
	if err != nil || after.Size() != int64(len(data)) || !after.ModTime().Equal(info.ModTime) ||
		(!j.it.claimed && !after.ModTime().Equal(j.it.seen.ModTime)) {
		// A writer still has the file open and wrote while it was read.
		j.log.Info("file is still being written; waiting for it to settle again")
		return j.release()
	}
	return taken
}

// unread is what a claimed file that could not be read becomes.
func (j *job) unread(err error) outcome {
	p, f := j.p, j.f
	switch {
	case errors.Is(err, fsutil.ErrTooBig) && j.info.Grew:
		// Still being written: looked at again once it has settled, when
		// its size alone tells whether it can be imported.
		j.log.Info("file grew while it was read; waiting for it to settle again")
		return j.release()
	case errors.Is(err, fsutil.ErrTooBig):
		p.fail(f, j.rec, f.rawSizeProblem(j.name, j.info.Size), "")
		return failed
	case refusedKind(err):
		// Swapped in after the check: given back, never read.
		p.refuseLink(f, j.source, err)
		return j.release()
	case errors.Is(err, fs.ErrNotExist):
		j.log.Warn("claimed file vanished", "error", err)
		return gone
	}
	first := p.noteTrouble(j.source)
	if since := p.troubleSince(j.source); p.cfg.Retry.GiveUpAfter > 0 && since >= p.cfg.Retry.GiveUpAfter {
		p.clearTrouble(j.source)
		j.rec.LastError = err.Error()
		p.fail(f, j.rec, fmt.Sprintf("listdrop could not read this file for %s and gave up: %s.", p.cfg.Retry.GiveUpAfter, plainIOError(err)), fmt.Sprintf("Error:           %s\n", err))
		return failed
	}
	if first {
		j.log.Warn("cannot read the file; will keep trying", "error", err)
	}
	p.setNote(f.cfg.Path, j.source, "cannot be read: "+plainIOError(err), true)
	return j.release()
}

// prepare converts what the folder converts, hashes what is to be
// uploaded, and checks it.
func (j *job) prepare() outcome {
	upload, converted, problem := j.p.prepare(j.f, j.name, j.data)
	if problem != "" {
		return j.fail(problem)
	}
	sum := md5.Sum(upload)
	j.upload, j.converted = upload, converted
	j.rec.MD5, j.rec.Phase, j.rec.Converted = hex.EncodeToString(sum[:]), state.Hashed, converted
	crashpoint.At("take.hashed")
	if problem := CheckFile(upload, j.f.cfg); problem != "" {
		return j.fail(problem)
	}
	crashpoint.At("take.checked")
	return taken
}

// cut finds the parts of a file over one upload's size (the folder
// splits: CheckFile refused it otherwise). A record that cannot fit a part
// fails the file before anything is sent.
func (j *job) cut() outcome {
	if len(j.upload) <= MaxSize {
		return taken
	}
	s, problem := csvsplit.Cut(j.upload, MaxSize)
	if problem != "" {
		return j.fail(problem)
	}
	j.rec.Parts, j.rec.Part, j.rec.LastLine = len(s.Parts), 1, s.Parts[len(s.Parts)-1].Last
	j.log.Info("file over one upload's size; importing it in parts", "parts", j.rec.Parts, "size", len(j.upload))
	return taken
}

// dedupe refuses content the list has committed already, unless
// `retry --force` let one copy through.
func (j *job) dedupe() outcome {
	p, rec := j.p, &j.rec
	c, dup, err := p.store.LookupCommit(rec.ListID, rec.MD5)
	forced := false
	if err == nil && dup {
		if forced, err = p.store.TakeAllowance(rec.ListID, rec.MD5); forced {
			j.log.Info("duplicate let through once, as asked")
			dup = false
		}
	}
	if err != nil {
		j.log.Error("cannot read state; trying again later", "error", err)
		return j.release()
	}
	if dup {
		rec.Duplicate = true
		return j.fail(DuplicateReason(c))
	}
	// Not written to the state yet: until its PATCH nothing sent for it
	// counts, and a claimed file without a record is taken afresh after a
	// crash. The first write is the one before the PATCH (or a failure).
	// Except for a file let through by retry --force: its allowance is used
	// up, so after a crash it must be resumed, not taken afresh and refused
	// as a duplicate.
	if forced {
		if err := p.store.Put(*rec); err != nil {
			j.log.Error("cannot write state; trying again later", "error", err)
			return j.release()
		}
		crashpoint.At("take.allowance-recorded")
	}
	return taken
}

// fail fails the file with a sentence, unless it changed since it was
// read (failUnlessChanged): then it is given back.
func (j *job) fail(problem string) outcome {
	if j.p.failUnlessChanged(j.f, j.rec, j.claimPath, j.source, j.data, problem) {
		return failed
	}
	return released
}

func (j *job) release() outcome {
	j.p.release(j.f, j.claimPath, j.source)
	return released
}
