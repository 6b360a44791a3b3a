package main

import (
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
}

func (uc uploadCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset, cfgPath := newFlagSet("upload", stderr)
	list := fset.String("list", "", "the record list to upload to (required)")
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
	// An earlier upload of this path that was interrupted after it was
	// written down (before its PATCH) is finished, not started again.
	earlier, held, err := store.Get(rec.Key)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	resumed := held && earlier.MD5 == rec.MD5 && earlier.ListID == rec.ListID
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
		fmt.Fprintf(stdout, "uploading to record list %s...\n", rec.ListID)
		if err := uc.send(ctx, client, stdout, folder, data, &rec, store); err != nil {
			return err
		}
		rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, time.Now()
		if err := store.Commit(rec); err != nil {
			return fmt.Errorf("the file reached Talkdesk (upload request %s), but the state could not record it, so the duplicate check will not know it: %w", rec.UploadID, err)
		}
		crashpoint.At("oneshot.committed")
	}
	done := state.NewEntry(rec, state.Done, "")
	done.At = rec.Committed
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
func (uc uploadCommand) send(ctx context.Context, api talkdesk.API, out io.Writer, folder config.Folder, data []byte, rec *state.Record, store *state.Store) error {
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
			ListID: rec.ListID, Name: filepath.Base(rec.Source), Data: data, MD5: md5.Sum(data),
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
	if h.aheadFor != "" {
		// Written down before a PATCH that was refused or not sent:
		// nothing to finish by a later run.
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
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return errInterrupted
	}
}

// explained is an upload error as the failed folder's note says it: one
// plain sentence, then the detail.
func explained(err error, listID, prefix string) error {
	sentence, detail := talkdesk.Explain(err, listID)
	return errors.New(strings.TrimRight(prefix+sentence+"\n"+detail, "\n"))
}
