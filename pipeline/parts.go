package pipeline

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/csvsplit"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// A split file's parts go one after the other, each an upload with the
// guarantees of a file: a write-ahead record before its PATCH, and its
// progress written once the PATCH is answered and Talkdesk's validation of
// it has ended. The next part is sent only then: a part Talkdesk rejects
// stops the file, and what was not imported is written beside it in
// failed/ as NAME.remaining.csv, which completes the import when dropped
// back. The file counts as one for the duplicate check, as it was
// dropped; its parts are not compared with anything.

// remainingSuffix names the records of a split file not imported.
const remainingSuffix = ".remaining.csv"

// remainderName matches the names remainingName gives, and the free names
// made from them when they were taken (contacts.remaining-1.csv).
var remainderName = regexp.MustCompile(`\.remaining(-[0-9]+)?\.csv$`)

// IsRemainder reports whether name, in a failed folder with no note beside
// it (noted false), holds the records of a split file that were not
// imported: not a failed file, but a file to put back.
func IsRemainder(name string, noted bool) bool {
	return !noted && remainderName.MatchString(name)
}

// remainingName is the name of the remaining records of a file that fails
// at dest: contacts.csv gives contacts.remaining.csv.
func remainingName(dest string) string {
	ext := filepath.Ext(dest)
	if !strings.EqualFold(ext, ".csv") && !strings.EqualFold(ext, ".xlsx") {
		ext = ""
	}
	return strings.TrimSuffix(dest, ext) + remainingSuffix
}

// partsFailed says, for a split file failing with some parts in, what was
// imported, what was not and why, and where the rest is.
func partsFailed(rec state.Record, why string) string {
	n := len(rec.PartsIn)
	in := fmt.Sprintf("Part 1 (lines %d–%d) was", rec.PartsIn[0].First, rec.PartsIn[0].Last)
	if n > 1 {
		in = fmt.Sprintf("Parts 1–%d (lines %d–%d) were", n, rec.PartsIn[0].First, rec.PartsIn[n-1].Last)
	}
	rest := fmt.Sprintf("lines %d–%d", rec.PartsIn[n-1].Last+1, rec.LastLine)
	return fmt.Sprintf("Part %d of %d of this file was not imported: %s. %s imported into record list %s; %s were not. They are in %s beside this note, after the header line: fix the cause, then drop that file into the folder to import them (the lines already imported are not in it).",
		n+1, rec.Parts, lowerFirst(strings.TrimSuffix(why, ".")), in, rec.ListID, rest, filepath.Base(rec.Remaining))
}

// writeRemaining writes, before a split file that failed part-way is moved
// to failed/, the header and the records not imported beside where it goes.
// A file already there with the same bytes was written by an earlier try;
// another one is never replaced: the records go to a free name, and the
// note says which. An error means the file stays held, to be tried again.
func (p *Pipeline) writeRemaining(f *folder, rec *state.Record) error {
	log := f.fileLog(rec)
	data, _, err := p.readDropped(rec.Key, f.readLimit(rec.Key))
	if err == nil {
		data, _, _ = p.prepare(f, rec.Key, data)
	}
	changed := false
	if sum := md5.Sum(data); err == nil && hex.EncodeToString(sum[:]) != rec.MD5 {
		err, changed = errors.New("the held file changed"), true
	}
	var s *csvsplit.File
	problem := ""
	if err == nil {
		s, problem = csvsplit.Cut(data, MaxSize)
	}
	if err != nil || problem != "" || len(s.Parts) != rec.Parts {
		// The records cannot be cut from the file: the note names their
		// lines instead, and where they are.
		log.Error("cannot write the records not imported; the note names their lines instead", "error", err, "problem", problem)
		if i := strings.Index(rec.Reason, " They are in "); i >= 0 {
			where := "listdrop could not read it again: cut them from the file beside this note by hand"
			if changed {
				where = "the file changed while listdrop held it, and the file beside this note is the changed one: take them from the file as it was dropped"
			}
			rec.Reason = rec.Reason[:i] + " They could not be written apart, as " + where + ", after its header line, and drop them into the folder to import them."
		}
		rec.Remaining = ""
		return nil
	}
	rest := s.Remaining(len(rec.PartsIn))
	for range maxNameTries {
		if old, err := os.ReadFile(rec.Remaining); err == nil && bytes.Equal(old, rest) {
			return nil
		}
		err := writeFileNew(rec.Remaining, rest)
		if err == nil {
			crashpoint.At("remaining.written")
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write the records not imported: %w", err)
		}
		// Another file took the name: a free one, said in the note.
		was := filepath.Base(rec.Remaining)
		rec.Remaining = freeName(filepath.Dir(rec.Remaining), was)
		rec.Reason = strings.Replace(rec.Reason, was, filepath.Base(rec.Remaining), 1)
		if err := p.store.Put(*rec); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	return fmt.Errorf("write the records not imported: %d names in a row were taken", maxNameTries)
}

// uploadParts imports a split file from the part its record names to the
// last, one at a time: each through the upload protocol, then followed
// until Talkdesk's validation of it has ended (whether verify is on or
// not), then its progress written, before the next part is sent.
func (p *Pipeline) uploadParts(f *folder, rec state.Record, data []byte) {
	s, problem := csvsplit.Cut(data, MaxSize)
	if problem == "" && len(s.Parts) != rec.Parts {
		problem = fmt.Sprintf("This file is now cut into %d parts, not the %d its import began with, so the rest could not be sent.", len(s.Parts), rec.Parts)
	}
	if problem != "" {
		p.fail(f, rec, problem, "")
		return
	}
	// A record adopted from another process's claim marker lacks it; the
	// cut, which depends only on the bytes, says it.
	rec.LastLine = s.Parts[len(s.Parts)-1].Last
	name := uploadName(filepath.Base(rec.Source))
	for {
		part := s.Parts[rec.Part-1]
		if !p.send(f, &rec, s.Bytes(rec.Part-1), talkdesk.PartName(name, rec.Part, rec.Parts)) {
			return
		}
		crashpoint.At("part.answered")
		log := f.fileLog(&rec)
		outcome := p.followValidation(f, rec, time.Now())
		if outcome == "unknown" && p.stop.Err() != nil {
			// The record says the part's PATCH may be applied: the next
			// start sends it again, reads its 409 as applied, and follows
			// the validation again.
			return
		}
		if outcome == "REJECTED" || outcome == "CORRUPTED" {
			log.Warn("Talkdesk did not accept a part; the parts after it are not sent", "outcome", outcome)
			rec.Attempts++
			rec.Outcome = outcome
			p.fail(f, rec, talkdesk.ExplainRejectedPart(rec.Part, outcome, part.First, part.Last), fmt.Sprintf("Part rejected:   %d of %d, lines %d–%d, upload request %s, %s\n", rec.Part, rec.Parts, part.First, part.Last, rec.UploadID, outcome))
			return
		}
		rec.PartsIn = append(rec.PartsIn, state.PartUpload{UploadID: rec.UploadID, First: part.First, Last: part.Last, Outcome: outcome})
		p.metrics.PartIn(rec.Folder)
		log.Info("part imported", "outcome", outcome, "lines", fmt.Sprintf("%d-%d", part.First, part.Last))
		if rec.Part == rec.Parts {
			break
		}
		rec.Part, rec.PartSince = rec.Part+1, time.Now()
		rec.Phase, rec.UploadID, rec.PatchUnknown = state.Hashed, "", false
		rec.Attempts, rec.FirstFailure, rec.LastError = 0, time.Time{}, ""
		if !p.recordPart(log, rec) {
			return
		}
		crashpoint.At("part.recorded")
	}
	p.commitDone(f, rec)
}

// recordPart writes that a part is in and the next is to be sent. Like a
// commit, it alone is tried again while the state cannot write it; it
// returns false when listdrop is stopping, and the record on disk then
// still says the part's PATCH may be applied.
func (p *Pipeline) recordPart(log *slog.Logger, rec state.Record) bool {
	return p.writeAfterPatch(log, "part", func() error { return p.store.Put(rec) })
}
