// Package pipeline owns the life of a dropped file: it takes the settled
// files the watcher reports, claims each one, checks and hashes it, refuses
// duplicates, uploads it through the Talkdesk client, and moves it to done/
// or to failed/ with an explanation beside it. Every step is written to the
// state before it is taken, so a restart after a crash resumes where it
// stopped.
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/metrics"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
	"github.com/listdrop/listdrop/watcher"
)

// MaxSize is the largest file Talkdesk accepts in one upload request.
const MaxSize = 20000

// API is what the pipeline needs from Talkdesk: the upload protocol's
// requests, and the record list for verify.
type API interface {
	talkdesk.API
	GetRecordList(ctx context.Context, listID string) (*talkdesk.RecordList, error)
}

var _ API = (*talkdesk.Client)(nil)

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
	// HeartbeatEvery is how often this process tells others sharing its
	// folders that it is alive (default 30s); StaleAfter is how long a
	// silent process's claims are left before they are adopted (default
	// 10m).
	HeartbeatEvery, StaleAfter time.Duration
	// Metrics, when set, counts what happens.
	Metrics *metrics.Metrics
	// CheckEvery is how often each folder is looked at to tell whether it
	// is available (default 1s); CheckTimeout is how long a look may take
	// before the folder counts as not answering (default 5s).
	CheckEvery, CheckTimeout time.Duration
}

// Pipeline runs the folders of one configuration.
type Pipeline struct {
	cfg        *config.Config
	store      *state.Store
	api        API
	log        *slog.Logger
	grace      time.Duration
	base       time.Duration
	onFinish   func(state.Entry)
	metrics    *metrics.Metrics
	beat       time.Duration
	staleAfter time.Duration
	folders    map[string]*folder // by folder path
	sem        chan struct{}      // one token per request to Talkdesk in flight

	// readDropped reads a dropped file (fsutil.ReadDropped); beforeClaim,
	// when set, runs between a file's check and its claim. Tests set them
	// to make faults and to widen races that timing alone rarely shows.
	readDropped func(path string, limit int64) ([]byte, fsutil.Info, error)
	beforeClaim func(path string)
	// faultBefore, when set, may fail the state write named "write-ahead"
	// (the record before a PATCH) or "commit": a disk that is full.
	faultBefore func(op string) error
	// markerKey signs the claim markers other processes may act on.
	markerKey []byte
	// identify tells a folder's identity (fsutil.Identify); tests replace
	// it to make folders that hang or change.
	identify                 func(path string) (fsutil.FileID, error)
	checkEvery, checkTimeout time.Duration

	mu    sync.Mutex
	lanes map[string]*lane // by record list id
	known map[string]bool  // paths queued or being processed
	// finishing has, for each claimed path whose last record is being
	// removed from the state, a channel closed once that is on disk.
	finishing map[string]chan struct{}
	// trouble remembers since when a file could not be taken or read, to
	// log it once and give up after retry.give_up_after.
	trouble map[string]time.Time
	// notes says why files in the drop folders wait, for the status.
	notes map[string]fileNote
	// recent holds each folder's last results, newest first (recent.go)
	recent map[string][]state.Entry
	// the last contact with Talkdesk, for the health check
	contactAt  time.Time
	contactErr string
	w          *watcher.Watcher // while Run runs
	wg         sync.WaitGroup
	stop       context.Context // ends when Run is asked to stop
	work       context.Context // ends when the grace period after stop is over
}

type folder struct {
	cfg       config.Folder
	claimRoot string // .listdrop in the drop folder
	claimDir  string // this process's claims: .listdrop/<instance>
	log       *slog.Logger
	avail     *availability
}

// lane is the queue of one record list: Talkdesk's state is per list, so a
// list has at most one file in flight, and at most one upload between its
// PATCH and the end of its validation (see pace.go).
type lane struct {
	queue   []item
	running bool
	current *item // the file being handled, for the metrics

	patched  time.Time     // when the list's last PATCH by this process was answered
	free     chan struct{} // closed when the validation that PATCH began has ended
	freeFor  string        // the upload request whose validation free waits for
	estimate time.Duration // how long the list's last validation took
	// unsure: a validation whose end was not seen may be running, so a 409
	// after a PATCH whose answer was lost does not prove it was applied.
	unsure bool
	// createWaits: the list refused to create an upload request while it
	// validated, so its files ask for one only once it is free.
	createWaits bool
	// waiting counts, per folder, the lane's queued files and its current
	// one, kept as they change: the gauges read them without walking a
	// queue that may hold a hundred thousand files.
	waiting map[string]int
}

func (l *lane) push(it item) {
	l.queue = append(l.queue, it)
	l.count(it, 1)
}

// pop takes the next file; it stays counted as the lane's current file
// until done is called.
func (l *lane) pop() item {
	it := l.queue[0]
	l.queue[0] = item{}
	l.queue = l.queue[1:]
	l.current = &it
	return it
}

func (l *lane) done() {
	if l.current != nil {
		l.count(*l.current, -1)
	}
	l.current = nil
}

// drain forgets the queue (listdrop is stopping) and returns it.
func (l *lane) drain() []item {
	q := l.queue
	for _, it := range q {
		l.count(it, -1)
	}
	l.queue = nil
	return q
}

func (l *lane) count(it item, d int) {
	if l.waiting == nil {
		l.waiting = map[string]int{}
	}
	l.waiting[it.f.cfg.Path] += d
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
		cfg:       opts.Config,
		store:     opts.Store,
		api:       opts.API,
		log:       opts.Logger,
		grace:     opts.Grace,
		base:      opts.RetryBase,
		onFinish:  opts.OnFinish,
		metrics:   opts.Metrics,
		folders:   map[string]*folder{},
		sem:       make(chan struct{}, max(opts.Config.Workers, 1)),
		lanes:     map[string]*lane{},
		known:     map[string]bool{},
		finishing: map[string]chan struct{}{},
		trouble:   map[string]time.Time{},

		recent:      map[string][]state.Entry{},
		readDropped: fsutil.ReadDropped,
		markerKey:   markerKeyOf(opts.Config.Talkdesk),
	}
	p.identify = identifyPath
	p.checkEvery, p.checkTimeout = cmp.Or(opts.CheckEvery, defaultCheckEvery), cmp.Or(opts.CheckTimeout, defaultCheckTimeout)
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.grace <= 0 {
		p.grace = 10 * time.Second
	}
	if p.base <= 0 {
		p.base = time.Second
	}
	p.beat, p.staleAfter = opts.HeartbeatEvery, opts.StaleAfter
	if p.beat <= 0 {
		p.beat = 30 * time.Second
	}
	if p.staleAfter <= 0 {
		p.staleAfter = 10 * time.Minute
	}
	for _, fc := range opts.Config.Folders {
		p.folders[fc.Path] = &folder{
			cfg:       fc,
			claimRoot: filepath.Join(fc.Path, claimDirName),
			claimDir:  filepath.Join(fc.Path, claimDirName, opts.Store.Instance()),
			log:       p.log.With("folder", fc.Path, "list", fc.RecordListID),
			avail:     &availability{},
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
	// What is there now is each folder as it should be: its identity is
	// recorded, and a change of it later means the folder went away.
	p.probeAll()
	p.seedRecent()
	p.heartbeat()
	if err := p.recover(); err != nil {
		return err
	}
	p.adopt()

	w, err := watcher.New(watcher.Options{
		Folders: paths, Settle: p.cfg.Settle, EmptyGrace: p.cfg.EmptyGrace, Rescan: p.cfg.Rescan, Logger: p.log,
		Ignored:  p.ignored,
		Eligible: func(folder, name string) bool { return p.folders[folder] != nil && p.folders[folder].eligible(name) },
	})
	if err != nil {
		return fmt.Errorf("start watcher: %w", err)
	}
	files := make(chan watcher.File)
	watchDone := make(chan error, 1)
	p.mu.Lock()
	p.w = w
	p.mu.Unlock()
	go func() { watchDone <- w.Run(ctx, files) }()
	checkDone := make(chan struct{})
	go func() { p.watchAvailability(ctx); close(checkDone) }()
	p.log.Info("listdrop is watching", "folders", len(paths), "workers", cap(p.sem))

	beat := time.NewTicker(p.beat)
	defer beat.Stop()
loop:
	for {
		select {
		case <-beat.C:
			p.heartbeat()
			p.adopt()
		case f := <-files:
			if fo := p.folders[f.Folder]; fo != nil {
				p.submit(item{f: fo, path: f.Path, seen: f})
			}
		case <-ctx.Done():
			break loop
		}
	}
	werr := <-watchDone
	<-checkDone

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

// fileLog is the logger for lines about one file: folder, list, file, the
// part of a split file and, once there is one, the upload request.
func (f *folder) fileLog(rec *state.Record) *slog.Logger {
	l := f.log.With("file", filepath.Base(rec.Source))
	if rec.Parts > 0 {
		l = l.With("part", fmt.Sprintf("%d/%d", rec.Part, rec.Parts))
	}
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
	// The claim folders hold files between their check and their commit,
	// and the markers other listdrop processes act on: nobody else should
	// be able to put anything there.
	for _, d := range []string{f.claimRoot, f.claimDir} {
		if why := othersCanWrite(d); why != "" {
			f.log.Warn("other users can change the files listdrop holds: "+why+"; make the folder writable by the service's account only (chmod 755)", "dir", d)
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
			if strings.HasPrefix(e.Name(), ".listdrop-") && strings.HasSuffix(e.Name(), ".tmp") {
				// A marker half-written when the process was killed.
				os.Remove(path)
				continue
			}
			if held[path] || !e.Type().IsRegular() || !f.eligible(e.Name()) {
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
	l := p.laneOf(it.f.cfg.RecordListID)
	l.push(it)
	p.updateGauges()
	if !l.running {
		l.running = true
		p.wg.Add(1)
		go p.runLane(l)
	}
}

// runLane handles a list's files one at a time until its queue is empty. A
// file's requests each take a worker's slot (see call); its waits take
// none.
func (p *Pipeline) runLane(l *lane) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(l.queue) == 0 || p.stop.Err() != nil {
			for _, it := range l.drain() {
				delete(p.known, it.path)
			}
			l.running = false
			p.mu.Unlock()
			return
		}
		it := l.pop()
		p.updateGauges()
		p.mu.Unlock()

		p.handle(it)
		p.mu.Lock()
		delete(p.known, it.path)
		l.done()
		p.updateGauges()
		p.mu.Unlock()
	}
}

func (p *Pipeline) handle(it item) {
	if it.rec != nil {
		p.resume(it.f, *it.rec)
		return
	}
	if rec, data, o := p.take(it); o == taken {
		p.upload(it.f, rec, data)
	}
}
