// Package pipeline owns the life of a dropped file: it takes the settled
// files the watcher reports, claims each one, checks and hashes it, refuses
// duplicates, uploads it through the uploader, and moves it to done/ or to
// failed/ with an explanation beside it. Every step is written to the state
// before it is taken, so a restart after a crash resumes where it stopped.
package pipeline

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/uploader"
	"github.com/listdrop/listdrop/watcher"
)

// MaxSize is the largest file Talkdesk accepts in one upload request.
const MaxSize = 20000

// API is what the pipeline needs from Talkdesk.
type API interface {
	CreateUploadRequest(ctx context.Context, req uploader.CreateRequest) (*uploader.UploadRequest, error)
	Put(ctx context.Context, signedURL string, body []byte, md5sum [16]byte) error
	MarkUploaded(ctx context.Context, listID, uploadID string) error
}

var _ API = (*uploader.Client)(nil)

// Options configure a Pipeline.
type Options struct {
	Config *config.Config
	Store  *state.Store
	API    API
	Logger *slog.Logger
	// Grace is how long in-flight uploads may take to finish after Run's
	// context ends (default 10s).
	Grace time.Duration
	// RetryBase is the first backoff (default 1s); it doubles up to
	// Config.Retry.MaxBackoff.
	RetryBase time.Duration
	// OnFinish, when set, is called after each file reached done/ or failed/.
	OnFinish func(state.Entry)
}

// Pipeline runs the folders of one configuration.
type Pipeline struct {
	cfg      *config.Config
	store    *state.Store
	api      API
	log      *slog.Logger
	grace    time.Duration
	base     time.Duration
	onFinish func(state.Entry)
	folders  map[string]*folder // by folder path
	sem      chan struct{}      // one token per upload running at once

	mu    sync.Mutex
	lanes map[string]*lane // by record list id
	known map[string]bool  // paths queued or being processed
	wg    sync.WaitGroup
	stop  context.Context // ends when Run is asked to stop
	work  context.Context // ends when the grace period after stop is over
}

type folder struct {
	cfg      config.Folder
	claimDir string
	log      *slog.Logger
}

// lane is the queue of one record list: Talkdesk's state is per list, so a
// list has at most one file in flight.
type lane struct {
	queue   []item
	running bool
}

// item is one file to handle: a settled file in a drop folder, a claimed
// file found at start-up without a record, or a record to resume.
type item struct {
	f       *folder
	path    string
	claimed bool
	seen    watcher.File
	rec     *state.Record
}

// New checks the options and returns a pipeline; Run starts it.
func New(opts Options) (*Pipeline, error) {
	if opts.Config == nil || opts.Store == nil || opts.API == nil {
		return nil, errors.New("pipeline: config, store and api are required")
	}
	p := &Pipeline{
		cfg:      opts.Config,
		store:    opts.Store,
		api:      opts.API,
		log:      opts.Logger,
		grace:    opts.Grace,
		base:     opts.RetryBase,
		onFinish: opts.OnFinish,
		folders:  map[string]*folder{},
		sem:      make(chan struct{}, max(opts.Config.Workers, 1)),
		lanes:    map[string]*lane{},
		known:    map[string]bool{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.grace <= 0 {
		p.grace = 10 * time.Second
	}
	if p.base <= 0 {
		p.base = time.Second
	}
	for _, fc := range opts.Config.Folders {
		p.folders[fc.Path] = &folder{
			cfg:      fc,
			claimDir: filepath.Join(fc.Path, claimDirName),
			log:      p.log.With("folder", fc.Path, "list", fc.RecordListID),
		}
	}
	return p, nil
}

// Run prepares the folders, resumes what an earlier run left, then watches
// and uploads until ctx ends. It then stops taking files, gives uploads in
// flight the grace period to finish, and returns once every goroutine it
// started has stopped. What is not finished stays recorded for the next run.
func (p *Pipeline) Run(ctx context.Context) error {
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	p.stop, p.work = ctx, work

	paths := make([]string, 0, len(p.folders))
	for _, fc := range p.cfg.Folders {
		f := p.folders[fc.Path]
		if err := p.ensureDirs(f); err != nil {
			f.log.Error("cannot prepare folder; will try again when a file arrives", "error", err)
		}
		paths = append(paths, fc.Path)
	}
	if err := p.recover(); err != nil {
		return err
	}

	w, err := watcher.New(watcher.Options{
		Folders: paths, Settle: p.cfg.Settle, Rescan: p.cfg.Rescan, Logger: p.log,
	})
	if err != nil {
		return fmt.Errorf("start watcher: %w", err)
	}
	files := make(chan watcher.File)
	watchDone := make(chan error, 1)
	go func() { watchDone <- w.Run(ctx, files) }()
	p.log.Info("listdrop is watching", "folders", len(paths), "workers", cap(p.sem))

loop:
	for {
		select {
		case f := <-files:
			if fo := p.folders[f.Folder]; fo != nil {
				p.submit(item{f: fo, path: f.Path, seen: f})
			}
		case <-ctx.Done():
			break loop
		}
	}
	werr := <-watchDone

	// Uploads already started get the grace period; waits and queued files
	// end now.
	t := time.AfterFunc(p.grace, cancelWork)
	defer t.Stop()
	p.wg.Wait()
	p.log.Info("listdrop stopped")
	if werr != nil {
		return fmt.Errorf("watcher: %w", werr)
	}
	return nil
}

// fileLog is the logger for lines about one file: folder, list, file and,
// once there is one, the upload request.
func (f *folder) fileLog(rec *state.Record) *slog.Logger {
	l := f.log.With("file", filepath.Base(rec.Source))
	if rec.UploadID != "" {
		l = l.With("upload_id", rec.UploadID)
	}
	return l
}

func (p *Pipeline) ensureDirs(f *folder) error {
	for _, d := range []string{f.cfg.Path, f.claimDir, f.cfg.Done, f.cfg.Failed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// recover queues what an earlier run left: every record still active, and
// every claimed file without a record (claimed just before a crash).
func (p *Pipeline) recover() error {
	recs, err := p.store.Active()
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	held := map[string]bool{}
	for i := range recs {
		r := recs[i]
		held[r.Key] = true
		f := p.folders[r.Folder]
		if f == nil {
			p.log.Warn("a file held for a folder that is no longer configured is left as it is",
				"folder", r.Folder, "file", r.Key)
			continue
		}
		f.log.Info("resuming file", "file", filepath.Base(r.Source), "phase", string(r.Phase), "upload_id", r.UploadID)
		p.submit(item{f: f, path: r.Key, claimed: true, rec: &r})
	}
	for _, fc := range p.cfg.Folders {
		f := p.folders[fc.Path]
		ents, err := os.ReadDir(f.claimDir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			path := filepath.Join(f.claimDir, e.Name())
			if held[path] || !e.Type().IsRegular() || !watcher.Eligible(e.Name()) {
				continue
			}
			f.log.Info("resuming claimed file", "file", e.Name())
			p.submit(item{f: f, path: path, claimed: true})
		}
	}
	return nil
}

// submit queues an item on its list's lane unless it is already queued.
func (p *Pipeline) submit(it item) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known[it.path] {
		return
	}
	p.known[it.path] = true
	list := it.f.cfg.RecordListID
	l := p.lanes[list]
	if l == nil {
		l = &lane{}
		p.lanes[list] = l
	}
	l.queue = append(l.queue, it)
	if !l.running {
		l.running = true
		p.wg.Add(1)
		go p.runLane(l)
	}
}

// runLane handles a list's files one at a time until its queue is empty.
func (p *Pipeline) runLane(l *lane) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(l.queue) == 0 || p.stop.Err() != nil {
			for _, it := range l.queue {
				delete(p.known, it.path)
			}
			l.queue, l.running = nil, false
			p.mu.Unlock()
			return
		}
		it := l.queue[0]
		l.queue = l.queue[1:]
		p.mu.Unlock()

		select {
		case p.sem <- struct{}{}:
			p.handle(it)
			<-p.sem
		case <-p.stop.Done():
		}
		p.mu.Lock()
		delete(p.known, it.path)
		p.mu.Unlock()
	}
}

func (p *Pipeline) handle(it item) {
	if it.rec != nil {
		p.resume(it.f, *it.rec)
		return
	}
	rec, data, ok := p.take(it)
	if ok {
		p.upload(it.f, rec, data)
	}
}

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

// upload drives a file from Hashed or Patching to Committed, retrying what
// can be retried. It returns when the file is done, failed, or left for the
// next run because listdrop is stopping.
func (p *Pipeline) upload(f *folder, rec state.Record, data []byte) {
	sum := md5.Sum(data)
	name := filepath.Base(rec.Source)
	var signed string // a credential: kept in memory only, never in the state
	for {
		log := f.fileLog(&rec)
		switch rec.Phase {
		case state.Hashed:
			if signed == "" {
				ur, err := p.api.CreateUploadRequest(p.work, uploader.CreateRequest{
					ListID: rec.ListID,
					CSV: uploader.Metadata{
						Filename: uploader.APIFilename(name), ByteSize: len(data),
						Checksum: rec.MD5, ContentType: "text/csv",
					},
					CallbackAction:        callbackOf(f.cfg),
					SendAtlasNotification: f.cfg.SendAtlasNotification,
				})
				if err != nil {
					if !p.retry(f, &rec, err) {
						return
					}
					continue
				}
				rec.UploadID, signed = ur.ID, ur.SignedURL
				log.Debug("upload request created", "upload_id", ur.ID)
			}
			if err := p.api.Put(p.work, signed, data, sum); err != nil {
				if uploader.Classify(err) == uploader.Renew {
					signed, rec.UploadID = "", ""
				}
				if !p.retry(f, &rec, err) {
					return
				}
				continue
			}
			rec.Phase, rec.PatchUnknown = state.Patching, false
		case state.Patching:
			// Write down that a PATCH may be applied before sending it: that
			// is what lets a restart read a 409 as "already applied".
			prevUnknown := rec.PatchUnknown
			if !rec.PatchUnknown {
				rec.PatchUnknown = true
				if err := p.store.Put(rec); err != nil {
					log.Error("cannot write state; trying again later", "error", err)
					if !p.wait(p.backoff(rec.Attempts, 0)) {
						return
					}
					rec.PatchUnknown = false
					continue
				}
			}
			err := p.api.MarkUploaded(p.work, rec.ListID, rec.UploadID)
			if err != nil && uploader.Classify(err) == uploader.Conflict && prevUnknown {
				log.Info("an earlier attempt to start validation was applied", "error", err)
				err = nil
			}
			if err != nil {
				rec.PatchUnknown = uploader.Classify(err) != uploader.Conflict && uploader.OutcomeUnknown(err)
				if !p.retry(f, &rec, err) {
					return
				}
				continue
			}
			rec.Phase, rec.PatchUnknown, rec.Committed = state.Committed, false, time.Now()
			rec.Dest = freeName(f.cfg.Done, name)
			if err := p.store.Commit(rec); err != nil {
				// Talkdesk has the file but the state does not say so: keep
				// the record as it is (a resend gets 409: applied) and retry.
				log.Error("cannot write state; trying again later", "error", err)
				rec.Phase, rec.PatchUnknown = state.Patching, true
				if !p.wait(p.backoff(rec.Attempts, 0)) {
					return
				}
				continue
			}
			p.finishDone(f, rec)
			return
		default:
			log.Error("unknown phase in state", "phase", string(rec.Phase))
			return
		}
	}
}

// retry decides what an upload error means for the file. It returns true
// when the step should be tried again (after waiting), false when the file
// has been failed or listdrop is stopping.
func (p *Pipeline) retry(f *folder, rec *state.Record, err error) bool {
	log := f.fileLog(rec)
	if p.work.Err() != nil {
		// The error is listdrop's own shutdown, not the file's.
		log.Info("stopping: file kept for the next start", "phase", string(rec.Phase))
		p.persist(log, rec)
		return false
	}
	class := uploader.Classify(err)
	rec.Attempts++
	rec.LastError = err.Error()
	now := time.Now()
	switch class {
	case uploader.Permanent:
		sentence, detail := explain(err, rec.ListID)
		p.fail(f, *rec, sentence, detail)
		return false
	case uploader.Auth:
		// Not the file's fault: it waits however long this takes.
		log.Error("Talkdesk refused listdrop's credentials; the file waits", "error", err)
	default:
		if rec.FirstFailure.IsZero() {
			rec.FirstFailure = now
		}
		if giveUp := p.cfg.Retry.GiveUpAfter; giveUp > 0 && now.Sub(rec.FirstFailure) >= giveUp {
			sentence, detail := explain(err, rec.ListID)
			p.fail(f, *rec, fmt.Sprintf("listdrop tried for %s and gave up: %s", giveUp, lowerFirst(sentence)), detail)
			return false
		}
	}
	d := p.backoff(rec.Attempts, uploader.RetryAfter(err))
	if class != uploader.Auth {
		log.Warn("upload failed; will try again", "error", err, "retry_in", d.Round(time.Millisecond), "attempts", rec.Attempts)
	}
	p.persist(log, rec)
	return p.wait(d)
}

func (p *Pipeline) persist(log *slog.Logger, rec *state.Record) {
	if err := p.store.Put(*rec); err != nil {
		log.Error("cannot write state", "error", err)
	}
}

// backoff is exponential with jitter, capped at retry.max_backoff; a server's
// Retry-After wins.
func (p *Pipeline) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, time.Hour)
	}
	limit := p.cfg.Retry.MaxBackoff
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	d := limit
	if attempt < 30 {
		d = min(p.base<<max(attempt-1, 0), limit)
	}
	return d/2 + rand.N(d/2+1)
}

// wait sleeps for d unless listdrop is stopping.
func (p *Pipeline) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop.Done():
		return false
	}
}

// fail moves a file to failed/ with its explanation.
func (p *Pipeline) fail(f *folder, rec state.Record, sentence, detail string) {
	rec.Phase = state.Failing
	rec.Reason, rec.Detail = sentence, detail
	rec.Dest = freeName(f.cfg.Failed, filepath.Base(rec.Source), sidecarSuffix)
	if err := p.store.Put(rec); err != nil {
		f.log.Error("cannot write state; the file stays for the next start", "file", filepath.Base(rec.Source), "error", err)
		return
	}
	p.finishFailed(f, rec)
}

func (p *Pipeline) finishFailed(f *folder, rec state.Record) {
	if exists(rec.Key) {
		ok := p.retryFS(f, rec, func() error {
			if err := os.MkdirAll(f.cfg.Failed, 0o755); err != nil {
				return err
			}
			if exists(rec.Dest) {
				rec.Dest = freeName(f.cfg.Failed, filepath.Base(rec.Source), sidecarSuffix)
			}
			if err := writeFileAtomic(rec.Dest+sidecarSuffix, sidecar(rec, time.Now())); err != nil {
				return fmt.Errorf("write explanation: %w", err)
			}
			return moveFile(rec.Key, rec.Dest)
		})
		if !ok {
			return
		}
	}
	f.fileLog(&rec).Info("file failed", "dest", rec.Dest, "reason", rec.Reason)
	p.finish(f, rec, state.Failed, rec.Reason)
}

func (p *Pipeline) finishDone(f *folder, rec state.Record) {
	if exists(rec.Key) {
		ok := p.retryFS(f, rec, func() error {
			if err := os.MkdirAll(f.cfg.Done, 0o755); err != nil {
				return err
			}
			if rec.Dest == "" || exists(rec.Dest) {
				rec.Dest = freeName(f.cfg.Done, filepath.Base(rec.Source))
			}
			return moveFile(rec.Key, rec.Dest)
		})
		if !ok {
			return
		}
	}
	f.fileLog(&rec).Info("file uploaded", "dest", rec.Dest, "size", rec.Size)
	p.finish(f, rec, state.Done, "")
}

// retryFS runs a move until it works: a full disk or a folder without write
// permission must not lose the file, which stays claimed and recorded.
func (p *Pipeline) retryFS(f *folder, rec state.Record, move func() error) bool {
	for attempt := 1; ; attempt++ {
		err := move()
		if err == nil {
			return true
		}
		d := p.backoff(attempt, 0)
		f.log.Error("cannot move the file; will try again", "file", filepath.Base(rec.Source), "error", err, "retry_in", d.Round(time.Millisecond))
		if !p.wait(d) {
			return false
		}
	}
}

func (p *Pipeline) finish(f *folder, rec state.Record, result state.Result, reason string) {
	e := state.Entry{
		At: time.Now(), Folder: rec.Folder, Source: rec.Source, Dest: rec.Dest, ListID: rec.ListID,
		Size: rec.Size, MD5: rec.MD5, Result: result, Reason: reason, UploadID: rec.UploadID, Attempts: rec.Attempts,
	}
	if err := p.store.Finish(rec.Key, e); err != nil {
		f.log.Error("cannot write state", "file", filepath.Base(rec.Source), "error", err)
		return
	}
	if p.onFinish != nil {
		p.onFinish(e)
	}
}

func callbackOf(fc config.Folder) any {
	if fc.CallbackAction == nil {
		return nil
	}
	cb := map[string]any{"endpoint": fc.CallbackAction.Endpoint, "method": fc.CallbackAction.Method}
	if fc.CallbackAction.Headers != nil {
		cb["headers"] = fc.CallbackAction.Headers
	}
	if fc.CallbackAction.Body != nil {
		cb["body"] = fc.CallbackAction.Body
	}
	return cb
}
