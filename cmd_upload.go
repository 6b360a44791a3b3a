package main

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/csvsplit"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// uploadTries bounds how often the one-shot upload tries a step that
// failed transiently; the daemon, unlike it, keeps trying for hours.
const uploadTries = 5

// uploadCommand runs `listdrop upload FILE --list ID`: one file, now,
// without the daemon, with the pipeline's checks, recorded in the state so
// that the duplicate check knows it.
type uploadCommand struct {
	// firstWait is the first wait between tries (a second when zero); it
	// doubles. Tests shorten it.
	firstWait time.Duration
	// verifyFor bounds how long a part's validation is followed
	// (verify_timeout).
	verifyFor time.Duration
}

func (uc uploadCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset, cfgPath := newFlagSet("upload", stderr)
	list := fset.String("list", "", "the record list to upload to (required)")
	split := fset.Bool("split", false, "import a file over 20000 bytes in parts, each the header line and whole records (as split: true does for a folder)")
	files, err := parseInterspersed(fset, args)
	if err != nil {
		return errUsage
	}
	if len(files) != 1 || *list == "" {
		fmt.Fprintln(stderr, "listdrop upload: give one FILE and --list ID")
		return errUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	path, err := filepath.Abs(files[0])
	if err != nil {
		return err
	}
	// A folder of the list gives its checks and its upload options; else
	// the top-level csv_check applies.
	folder := config.Folder{RecordListID: *list, CSVCheck: &cfg.CSVCheck}
	mapped := false
	for _, f := range cfg.Folders {
		if f.RecordListID == *list {
			folder, mapped = f, true
			break
		}
	}
	if *split {
		on := true
		folder.Split = &on
	}
	// The daemon would take a file of a drop folder too, and fail it then
	// as a duplicate of this upload.
	for _, f := range cfg.Folders {
		if samePath(f.Path, filepath.Dir(path)) {
			return fmt.Errorf("%s is in the drop folder %s: listdrop uploads it from there when it runs (listdrop run); to upload it with this command, move it out of the folder first", filepath.Base(path), f.Path)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	name := filepath.Base(path)
	fmt.Fprintf(stdout, "checking %s (%d bytes)...\n", name, len(data))
	if len(data) > pipeline.MaxSize && !folder.Splits() {
		return fmt.Errorf("%s is %d bytes, larger than the %d bytes Talkdesk accepts in one upload: add --split to import it in parts", name, len(data), pipeline.MaxSize)
	}
	if uc.verifyFor <= 0 {
		uc.verifyFor = cfg.VerifyTimeout
	}
	if problem := pipeline.CheckFile(data, folder); problem != "" {
		return errors.New(problem)
	}

	store, err := state.Open(cfg.StateFile, readLockTimeout)
	if errors.Is(err, state.ErrLocked) {
		if mapped {
			return fmt.Errorf("the daemon is running and holds the state file, which the upload command needs for the duplicate check: drop the file into %s instead, and the daemon uploads it", folder.Path)
		}
		return fmt.Errorf("the daemon is running and holds the state file, which the upload command needs for the duplicate check: stop it first, or add a folder for record list %s to the configuration and drop the file there", *list)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	sum := md5.Sum(data)
	rec := state.Record{Key: "upload:" + path, Source: path, Dest: path, ListID: *list, Size: int64(len(data)),
		ModTime: fi.ModTime(), MD5: hex.EncodeToString(sum[:]), Phase: state.Hashed, Claimed: time.Now()}
	var parts *csvsplit.File
	if len(data) > pipeline.MaxSize {
		// CheckFile refused it unless it is to be split.
		var problem string
		if parts, problem = csvsplit.Cut(data, pipeline.MaxSize); problem != "" {
			return errors.New(problem)
		}
		rec.Parts, rec.Part, rec.LastLine = len(parts.Parts), 1, parts.Parts[len(parts.Parts)-1].Last
		fmt.Fprintf(stdout, "%s is over one upload's %d bytes: importing it in %d parts, one after the other\n", name, pipeline.MaxSize, rec.Parts)
	}
	// An earlier upload of this path that was interrupted after it was
	// written down (before its PATCH) is finished, not started again.
	earlier, held, err := store.Get(rec.Key)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	resumed := held && earlier.MD5 == rec.MD5 && earlier.ListID == rec.ListID
	if held && !resumed && earlier.Parts > 0 && (len(earlier.PartsIn) > 0 || earlier.Phase == state.Patching) {
		// Parts of the file as it was are in: imported whole now, they
		// would be twice, and the rest cannot be cut from what is there.
		reason := "An earlier import of this file in parts was interrupted, and the file changed since, so the rest of it was not sent. " +
			pipeline.PartsImported(earlier) + " Import the lines not imported from the file as it was (after its header line); to import this file whole anyway, run the same command again."
		if err := finishInterrupted(store, earlier, reason); err != nil {
			return err
		}
		return errors.New(reason)
	}
	if held && !resumed {
		reason := fmt.Sprintf("An earlier upload of this file (upload request %s) was interrupted after its commit was sent; the file changed since, so it was not tried again. Check record list %s for it.", earlier.UploadID, earlier.ListID)
		fmt.Fprintf(stdout, "warning: %s\n", reason)
		if _, err := store.Finish(earlier.Key, state.NewEntry(earlier, state.Failed, reason)); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	if resumed {
		rec = earlier
		fmt.Fprintf(stdout, "finishing the interrupted upload of this file (upload request %s)...\n", rec.UploadID)
	}
	c, dup, err := store.LookupCommit(rec.ListID, rec.MD5)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if dup && !resumed {
		forced, err := store.TakeAllowance(rec.ListID, rec.MD5)
		if err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		if !forced {
			return errors.New(pipeline.DuplicateReason(c))
		}
		fmt.Fprintln(stdout, "the same content was imported before; let through once, as asked with retry --force")
	}

	client, err := newClient(cfg, nil, 1)
	if err != nil {
		return err
	}
	if rec.Phase != state.Committed {
		var reached string // what the state could not record
		if parts != nil {
			if err := uc.sendParts(ctx, client, stdout, folder, parts, &rec, store); err != nil {
				return err
			}
			reached = "every part reached Talkdesk"
		} else {
			fmt.Fprintf(stdout, "uploading to record list %s...\n", rec.ListID)
			if err := uc.send(ctx, client, stdout, folder, data, filepath.Base(rec.Source), &rec, store); err != nil {
				return err
			}
			reached = fmt.Sprintf("the file reached Talkdesk (upload request %s)", rec.UploadID)
		}
		rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, time.Now()
		if err := store.Commit(rec); err != nil {
			return fmt.Errorf("%s, but the state could not record it, so the duplicate check will not know the file: %w", reached, err)
		}
		crashpoint.At("oneshot.committed")
	}
	done := state.NewEntry(rec, state.Done, "")
	done.At, done.Outcome = rec.Committed, partsVerdict(rec)
	if _, err := store.Finish(rec.Key, done); err != nil {
		return fmt.Errorf("the file reached Talkdesk (upload request %s), but the history could not record it: %w", rec.UploadID, err)
	}
	crashpoint.At("oneshot.history-written")
	fmt.Fprintf(stdout, "done: upload request %s\n", rec.UploadID)
	return nil
}

// send takes the file through the upload protocol until its PATCH is
// applied. When it fails after the state was told that the PATCH may be
// applied, the state is told that it was not, unless that is unknown.
func (uc uploadCommand) send(ctx context.Context, api talkdesk.API, out io.Writer, folder config.Folder, data []byte, name string, rec *state.Record, store *state.Store) error {
	h := &oneShot{out: out, rec: rec, store: store, firstWait: uc.firstWait}
	if h.firstWait <= 0 {
		h.firstWait = time.Second
	}
	if rec.PatchUnknown {
		h.aheadFor = rec.UploadID // resumed: the state says so already
	}
	start := talkdesk.Unsent
	if rec.Phase == state.Patching {
		start = talkdesk.Stored
	}
	t := &talkdesk.Transfer{
		API: api,
		Unit: talkdesk.Unit{
			ListID: rec.ListID, Name: name, Data: data, MD5: md5.Sum(data),
			Callback:              (*talkdesk.Callback)(folder.CallbackAction),
			SendAtlasNotification: folder.SendAtlasNotification,
		},
		Hooks:    h,
		Progress: talkdesk.Progress{Phase: start, UploadID: rec.UploadID, PatchUnknown: rec.PatchUnknown},
	}
	err := t.Run(ctx)
	h.sync(t.Progress)
	if err == nil {
		return nil
	}
	if errors.Is(err, talkdesk.ErrURLsRefused) {
		rec.Attempts++
		err = explained(err, rec.ListID, "")
	}
	if t.Progress.PatchUnknown {
		// Talkdesk may be importing the file.
		return fmt.Errorf("%w; whether Talkdesk started importing the file (upload request %s) is unknown: check record list %s before uploading it again", err, rec.UploadID, rec.ListID)
	}
	if h.aheadFor != "" && rec.Parts == 0 {
		// Written down before a PATCH that was refused or not sent:
		// nothing to finish by a later run. (A split file's end is
		// written by sendParts, with its parts.)
		if _, ferr := store.Finish(rec.Key, state.NewEntry(*rec, state.Failed, err.Error())); ferr != nil {
			return fmt.Errorf("%w (and the state could not record that it failed: %v)", err, ferr)
		}
	}
	return err
}

// oneShot is the upload command's decisions in the upload protocol: no
// waiting for the list, a few tries of what failed transiently, and the
// record written to the state before the PATCH.
type oneShot struct {
	out       io.Writer
	rec       *state.Record
	store     *state.Store
	firstWait time.Duration
	tries     int
	// aheadFor is the upload request whose PATCH the state says may be
	// applied: a run interrupted after it is finished by the next one,
	// whose PATCH's 409 then means applied.
	aheadFor string
}

var _ talkdesk.Hooks = (*oneShot)(nil)

var errInterrupted = errors.New("interrupted")

// sync brings the record in step with the upload's progress.
func (u *oneShot) sync(pr talkdesk.Progress) {
	u.rec.UploadID, u.rec.PatchUnknown = pr.UploadID, pr.PatchUnknown
	u.rec.Phase = state.Hashed
	if pr.Phase != talkdesk.Unsent {
		u.rec.Phase = state.Patching
	}
}

// BeforeCreate and BeforePatch do not wait: without the daemon's view of
// the list's validations, a busy list is one more failed try (Busy).
func (u *oneShot) BeforeCreate(context.Context, talkdesk.Progress) error { return nil }

func (u *oneShot) BeforePatch(context.Context, talkdesk.Progress, talkdesk.SignedURL) error {
	return nil
}

func (u *oneShot) WriteAhead(_ context.Context, pr talkdesk.Progress) error {
	u.sync(pr)
	if u.aheadFor == pr.UploadID {
		return nil
	}
	if err := u.store.Put(*u.rec); err != nil {
		return fmt.Errorf("write state before the commit: %w", err)
	}
	crashpoint.At("oneshot.record-written")
	u.aheadFor = pr.UploadID
	fmt.Fprintln(u.out, "starting validation...")
	return nil
}

// Busy: the list validating another upload is one more failed try.
func (u *oneShot) Busy(ctx context.Context, f talkdesk.Failure) error { return u.Retry(ctx, f) }

// ConfirmApplied: without a daemon's view of the list's validations, a 409
// after a PATCH whose answer was lost is read as that PATCH applied.
func (u *oneShot) ConfirmApplied(context.Context, talkdesk.Progress, error) error { return nil }

func (u *oneShot) Retry(ctx context.Context, f talkdesk.Failure) error {
	u.sync(f.Progress)
	u.tries++
	u.rec.Attempts++
	err := f.Err
	if ctx.Err() != nil {
		return errInterrupted
	}
	switch talkdesk.Classify(err) {
	case talkdesk.Permanent:
		return explained(err, u.rec.ListID, "")
	case talkdesk.Auth:
		return fmt.Errorf("listdrop's credentials were refused by Talkdesk; check talkdesk.client_id, the secret or key, and the record-lists:manage scope: %w", err)
	}
	if u.tries >= uploadTries {
		return explained(err, u.rec.ListID, fmt.Sprintf("Gave up after %d tries: ", u.tries))
	}
	d := talkdesk.RetryAfter(err)
	if d <= 0 {
		d = u.firstWait << (u.tries - 1)
	}
	d = min(d, time.Minute)
	fmt.Fprintf(u.out, "trying again in %s: %v\n", d, err)
	if !sleep(ctx, d) {
		return errInterrupted
	}
	return nil
}

// sleep waits d, or less when ctx ends first: then it returns false.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// explained is an upload error as the failed folder's note says it: one
// plain sentence, then the detail.
func explained(err error, listID, prefix string) error {
	sentence, detail := talkdesk.Explain(err, listID)
	return errors.New(strings.TrimRight(prefix+sentence+"\n"+detail, "\n"))
}

// sendParts imports a split file from the part its record names to the
// last, as the daemon does: each part through the upload protocol, then
// followed until Talkdesk's validation of it ends, then its progress
// written, before the next one. A part that fails or that Talkdesk does
// not accept stops the file: what was not imported is written beside it,
// and the error says which lines are in.
func (uc uploadCommand) sendParts(ctx context.Context, api *talkdesk.Client, out io.Writer, folder config.Folder, parts *csvsplit.File, rec *state.Record, store *state.Store) error {
	name := filepath.Base(rec.Source)
	est := time.Duration(0) // how long the last part's validation took
	for {
		part := parts.Parts[rec.Part-1]
		fmt.Fprintf(out, "part %d of %d (lines %d–%d) to record list %s...\n", rec.Part, rec.Parts, part.First, part.Last, rec.ListID)
		if err := uc.send(ctx, api, out, folder, parts.Bytes(rec.Part-1), talkdesk.PartName(name, rec.Part, rec.Parts), rec, store); err != nil {
			if rec.PatchUnknown {
				return err // the next run finishes it
			}
			return uc.partFailed(out, parts, rec, store, err.Error())
		}
		crashpoint.At("oneshot.part-answered")
		outcome, took, err := uc.followValidation(ctx, api, rec.ListID, est)
		est = cmp.Or(took, est)
		if err != nil {
			return fmt.Errorf("part %d (upload request %s) reached Talkdesk, but its validation could not be followed: %w; run the same command again to go on", rec.Part, rec.UploadID, err)
		}
		if outcome == "REJECTED" || outcome == "CORRUPTED" {
			rec.Outcome = outcome
			return uc.partFailed(out, parts, rec, store, talkdesk.ExplainRejectedPart(rec.Part, outcome, part.First, part.Last))
		}
		rec.PartsIn = append(rec.PartsIn, state.PartUpload{UploadID: rec.UploadID, First: part.First, Last: part.Last, Outcome: outcome})
		fmt.Fprintf(out, "part %d of %d imported (%s)\n", rec.Part, rec.Parts, outcome)
		if rec.Part == rec.Parts {
			return nil
		}
		rec.Part, rec.PartSince = rec.Part+1, time.Now()
		rec.Phase, rec.UploadID, rec.PatchUnknown = state.Hashed, "", false
		if err := store.Put(*rec); err != nil {
			return fmt.Errorf("part %d reached Talkdesk, but the state could not record it: %w; run the same command again to go on", rec.Part-1, err)
		}
		crashpoint.At("oneshot.part-recorded")
	}
}

// partFailed ends a split file whose part could not be imported: with
// parts in, the rest is written beside the file and the file counts as
// committed (the same file uploaded again is refused); the error says
// what is in and what is not.
func (uc uploadCommand) partFailed(out io.Writer, parts *csvsplit.File, rec *state.Record, store *state.Store, why string) error {
	why = strings.TrimSuffix(strings.TrimSpace(why), ".")
	e := state.NewEntry(*rec, state.Failed, "")
	n := len(rec.PartsIn)
	if n == 0 {
		e.Reason = fmt.Sprintf("None of this file's %d parts was imported: %s.", rec.Parts, why)
		if _, err := store.Finish(rec.Key, e); err != nil {
			return fmt.Errorf("%s (and the state could not record that it failed: %v)", e.Reason, err)
		}
		return errors.New(e.Reason)
	}
	rest := parts.Remaining(n)
	remaining, err := writeBeside(rec.Source, ".remaining.csv", rest)
	where := "They are in " + remaining + ", after the header line: fix the cause, then upload that file (the lines already imported are not in it)."
	rec.Remaining, e.Remaining = remaining, remaining
	if err != nil {
		where = fmt.Sprintf("They could not be written apart (%v): cut them from the file by hand.", err)
		rec.Remaining, e.Remaining = "", ""
	}
	e.Reason = fmt.Sprintf("Part %d of %d of this file was not imported: %s. Lines %d–%d (parts 1–%d) were imported into record list %s; lines %d–%d were not. %s",
		n+1, rec.Parts, why, rec.PartsIn[0].First, rec.PartsIn[n-1].Last, n, rec.ListID, rec.PartsIn[n-1].Last+1, rec.LastLine, where)
	rec.Phase, rec.Committed = state.Failing, time.Now()
	if err := store.Commit(*rec); err != nil {
		return fmt.Errorf("%s (and the state could not record the parts imported: %v)", e.Reason, err)
	}
	if _, err := store.Finish(rec.Key, e); err != nil {
		return fmt.Errorf("%s (and the history could not record it: %v)", e.Reason, err)
	}
	return errors.New(e.Reason)
}

// finishInterrupted ends the record of an interrupted split import that
// will not go on, with reason: its parts in stay in the commit ledger, so
// the file as it was, uploaded again, is refused as a duplicate.
func finishInterrupted(store *state.Store, rec state.Record, reason string) error {
	rec.Reason = reason
	if len(rec.PartsIn) > 0 {
		rec.Phase, rec.Committed = state.Failing, time.Now()
		if err := store.Commit(rec); err != nil {
			return fmt.Errorf("write state: %w", err)
		}
	}
	if _, err := store.Finish(rec.Key, state.NewEntry(rec, state.Failed, reason)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// writeBeside writes data next to path, named after it with suffix
// instead of its extension (contacts.csv: contacts.remaining.csv), at a
// free name: nothing is replaced.
func writeBeside(path, suffix string, data []byte) (string, error) {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + suffix
	dst := fsutil.FreeName(filepath.Dir(path), name, nil)
	_, err := fsutil.WriteFileNew(dst, data)
	return dst, err
}

// followValidation follows the validation that a PATCH just answered
// began on a list, at most verifyFor, paced as the daemon paces it (est is
// how long the list's last validation took, 0 when not known). It returns
// the verdict ("unknown" when the validation did not end in time) and how
// long the validation took.
func (uc uploadCommand) followValidation(ctx context.Context, api *talkdesk.Client, listID string, est time.Duration) (string, time.Duration, error) {
	verdict, took, err := talkdesk.Follower{
		Get:  func() (*talkdesk.RecordList, error) { return api.GetRecordList(ctx, listID) },
		Wait: func(d time.Duration) bool { return sleep(ctx, d) },
		Backoff: func(err error, n int) (time.Duration, bool) {
			if n >= uploadTries || talkdesk.Classify(err) == talkdesk.Permanent {
				return 0, false
			}
			return min(max(talkdesk.RetryAfter(err), uc.firstWait<<(n-1)), time.Minute), true
		},
		Estimate: est,
		Deadline: time.Now().Add(uc.verifyFor),
	}.Follow(time.Now())
	switch {
	case err != nil:
		return "", 0, err
	case ctx.Err() != nil:
		return "", 0, errInterrupted
	}
	return cmp.Or(verdict, "unknown"), took, nil
}

// partsVerdict is a split file's verdict: the worst of its parts'; for a
// file of one upload, none (the command does not follow it).
func partsVerdict(rec state.Record) string {
	if rec.Parts == 0 {
		return ""
	}
	return state.WorstOutcome(rec.PartsIn)
}
