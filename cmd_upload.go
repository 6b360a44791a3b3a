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

// uploadBackoff is the first wait between tries; it doubles. A variable
// for tests.
var uploadBackoff = time.Second

// uploadCommand runs `listdrop upload FILE --list ID`: one file, now,
// without the daemon, with the pipeline's checks, recorded in the state so
// that the duplicate check knows it.
func uploadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
		if _, err := store.Finish(earlier.Key, state.Entry{At: time.Now(), Source: earlier.Source, Dest: earlier.Dest, ListID: earlier.ListID,
			Size: earlier.Size, MD5: earlier.MD5, Result: state.Failed, Reason: reason, UploadID: earlier.UploadID, Attempts: earlier.Attempts}); err != nil {
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
		u := &oneShot{ctx: ctx, api: client, out: stdout, folder: folder, data: data, md5: sum, rec: &rec, store: store}
		if err := u.run(); err != nil {
			if rec.PatchUnknown && !u.applied {
				// Written down before a PATCH that was refused or not
				// sent: nothing to finish by a later run.
				if _, ferr := store.Finish(rec.Key, state.Entry{At: time.Now(), Source: rec.Source, Dest: rec.Dest, ListID: rec.ListID,
					Size: rec.Size, MD5: rec.MD5, Result: state.Failed, Reason: err.Error(), UploadID: rec.UploadID, Attempts: rec.Attempts}); ferr != nil {
					return fmt.Errorf("%w (and the state could not record that it failed: %v)", err, ferr)
				}
			}
			return err
		}
		crashpoint.At("oneshot.answered")

		rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, time.Now()
		if err := store.Commit(rec); err != nil {
			return fmt.Errorf("the file reached Talkdesk (upload request %s), but the state could not record it, so the duplicate check will not know it: %w", rec.UploadID, err)
		}
		crashpoint.At("oneshot.committed")
	}
	if _, err := store.Finish(rec.Key, state.Entry{At: rec.Committed, Source: rec.Source, Dest: rec.Dest, ListID: rec.ListID,
		Size: rec.Size, MD5: rec.MD5, Result: state.Done, UploadID: rec.UploadID, Attempts: rec.Attempts}); err != nil {
		return fmt.Errorf("the file reached Talkdesk (upload request %s), but the history could not record it: %w", rec.UploadID, err)
	}
	crashpoint.At("oneshot.history-written")
	fmt.Fprintf(stdout, "done: upload request %s\n", rec.UploadID)
	return nil
}

// oneShot drives one file through create, PUT and PATCH, trying transient
// failures again a few times.
type oneShot struct {
	ctx    context.Context
	api    pipeline.API
	out    io.Writer
	folder config.Folder
	data   []byte
	md5    [16]byte
	rec    *state.Record
	// store gets the record before the PATCH: a run interrupted after it
	// is finished by the next one, whose PATCH's 409 then means applied.
	store *state.Store
	// applied says, once run failed, that a PATCH may have been applied.
	applied bool
}

func (u *oneShot) run() error {
	var signed string
	patchUnknown := u.rec.PatchUnknown // a PATCH was sent and its answer not read
	tries := 0
	for {
		err := u.step(&signed, &patchUnknown)
		if err == nil {
			return nil
		}
		tries++
		u.rec.Attempts++
		class := talkdesk.Classify(err)
		if u.ctx.Err() != nil {
			return u.unfinished(patchUnknown, errors.New("interrupted"))
		}
		switch class {
		case talkdesk.Permanent:
			return u.unfinished(patchUnknown, explained(err, u.rec.ListID, ""))
		case talkdesk.Auth:
			return u.unfinished(patchUnknown, fmt.Errorf("listdrop's credentials were refused by Talkdesk; check talkdesk.client_id, the secret or key, and the record-lists:manage scope: %w", err))
		}
		if tries >= uploadTries {
			return u.unfinished(patchUnknown, explained(err, u.rec.ListID, fmt.Sprintf("Gave up after %d tries: ", tries)))
		}
		d := talkdesk.RetryAfter(err)
		if d <= 0 {
			d = uploadBackoff << (tries - 1)
		}
		d = min(d, time.Minute)
		fmt.Fprintf(u.out, "trying again in %s: %v\n", d, err)
		select {
		case <-time.After(d):
		case <-u.ctx.Done():
			return u.unfinished(patchUnknown, errors.New("interrupted"))
		}
	}
}

// step takes the file one step further; it returns nil once the PATCH is
// through.
func (u *oneShot) step(signed *string, patchUnknown *bool) error {
	if u.rec.Phase == state.Hashed {
		if *signed == "" {
			ur, err := u.api.CreateUploadRequest(u.ctx, talkdesk.CreateRequest{
				ListID: u.rec.ListID,
				CSV: talkdesk.Metadata{Filename: talkdesk.APIFilename(filepath.Base(u.rec.Source)), ByteSize: len(u.data),
					Checksum: u.rec.MD5, ContentType: "text/csv"},
				CallbackAction:        pipeline.CallbackOf(u.folder),
				SendAtlasNotification: u.folder.SendAtlasNotification,
			})
			if err != nil {
				return err
			}
			u.rec.UploadID, *signed = ur.ID, ur.SignedURL
			crashpoint.At("oneshot.created")
		}
		if err := u.api.Put(u.ctx, *signed, u.data, u.md5); err != nil {
			if talkdesk.Classify(err) == talkdesk.Renew {
				*signed, u.rec.UploadID = "", "" // a fresh upload request brings a fresh URL
			}
			return err
		}
		crashpoint.At("oneshot.put")
		u.rec.Phase = state.Patching
		fmt.Fprintln(u.out, "starting validation...")
	}
	if !u.rec.PatchUnknown {
		u.rec.PatchUnknown = true
		if err := u.store.Put(*u.rec); err != nil {
			u.rec.PatchUnknown = false
			return fmt.Errorf("write state before the commit: %w", err)
		}
		crashpoint.At("oneshot.record-written")
	}
	err := u.api.MarkUploaded(u.ctx, u.rec.ListID, u.rec.UploadID)
	if err != nil && talkdesk.Classify(err) == talkdesk.Conflict && *patchUnknown {
		return nil // an earlier PATCH whose answer was lost was applied
	}
	if err != nil && talkdesk.Classify(err) != talkdesk.Conflict && talkdesk.OutcomeUnknown(err) {
		*patchUnknown = true
	}
	return err
}

// unfinished says how far a failed upload came: once a PATCH may have been
// applied, Talkdesk may be importing the file.
func (u *oneShot) unfinished(patchUnknown bool, err error) error {
	u.applied = patchUnknown
	if patchUnknown {
		return fmt.Errorf("%w; whether Talkdesk started importing the file (upload request %s) is unknown: check record list %s before uploading it again", err, u.rec.UploadID, u.rec.ListID)
	}
	return err
}

// explained is an upload error as the failed folder's note says it: one
// plain sentence, then the detail.
func explained(err error, listID, prefix string) error {
	sentence, detail := talkdesk.Explain(err, listID)
	return errors.New(strings.TrimRight(prefix+sentence+"\n"+detail, "\n"))
}
