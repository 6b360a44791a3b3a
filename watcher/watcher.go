// Package watcher finds CSV files dropped in a set of folders and reports
// each one once it has settled: its size and modification time have held
// still for a while, so the writer has most likely finished.
//
// Each folder is watched with fsnotify (not recursively), scanned in full at
// start-up and rescanned periodically, because network shares deliver no
// events and an event queue can overflow. A folder that is missing, or
// disappears, is logged once and picked up again by a later rescan; a folder
// whose watch cannot be added (for example when the inotify watch limit is
// reached) is served by the periodic rescan alone. Both recoveries need
// Options.Rescan > 0.
//
// The watcher knows nothing of what happens to a file afterwards. It forgets
// a file once it has reported it, so a file that is still there at the next
// event or rescan is reported again; the consumer de-duplicates.
package watcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// File is a settled file ready to be picked up.
type File struct {
	Folder  string // the folder as given in Options.Folders
	Path    string // absolute path of the file
	Size    int64
	ModTime time.Time
}

// Options configures a Watcher.
type Options struct {
	// Folders are the absolute paths of the folders to watch.
	Folders []string
	// Settle is how long a file's size and modification time must hold
	// still before it is reported. 0 reports a file at the first look.
	Settle time.Duration
	// EmptyGrace replaces Settle for an empty file: a program may create
	// the file and write to it much later (a browser's placeholder beside
	// its .part file, a slow copy). 0 means Settle.
	EmptyGrace time.Duration
	// Rescan is the period of the full rescan of every folder. <= 0 disables
	// it; the start-up scan still happens, but missing folders and folders
	// that cannot be watched are then never picked up.
	Rescan time.Duration
	// Logger receives the watcher's logs; nil discards them.
	Logger *slog.Logger
	// Ignored, when set, is told of each *.csv entry that is left alone
	// because it is not a regular file (a link, a FIFO, a folder), with the
	// reason in words, and again with "" once it is gone or a file; it logs
	// them then, instead of the watcher. It is called from Run's goroutine
	// and must not block.
	Ignored func(folder, path, reason string)
	// Eligible, when set, replaces the package's Eligible: it is given the
	// folder as in Folders and a base name.
	Eligible func(folder, name string) bool
}

// Watcher reports settled files from a set of folders. Create it with New and
// start it with Run.
type Watcher struct {
	folders []string
	settle  time.Duration
	empty   time.Duration
	rescan  time.Duration
	log     *slog.Logger

	onIgnored func(folder, path, reason string)
	accept    func(folder, name string) bool

	rescanReq chan struct{} // capacity 1: requests coalesce
	running   atomic.Bool

	// recheckReq holds files to look at again (Recheck).
	recheckReq chan string

	// ignoreEvents makes Run discard every fsnotify event, so that tests can
	// show what the scans alone find.
	ignoreEvents bool

	// lookFolder and lookTimeout, when set, replace lookAtFolder and
	// defaultLookTimeout (slowfolder.go): tests make folders that hang.
	lookFolder  func(path string)
	lookTimeout time.Duration
}

// New checks opts and returns a Watcher. It fails only for invalid options;
// problems with the folders themselves are handled while running.
func New(opts Options) (*Watcher, error) {
	if len(opts.Folders) == 0 {
		return nil, errors.New("watcher options: folders: none given")
	}
	seen := make(map[string]bool, len(opts.Folders))
	for i, f := range opts.Folders {
		if !filepath.IsAbs(f) {
			return nil, fmt.Errorf("watcher options: folders[%d]: %q is not an absolute path", i, f)
		}
		c := filepath.Clean(f)
		if seen[c] {
			return nil, fmt.Errorf("watcher options: folders[%d]: %q is listed twice", i, f)
		}
		seen[c] = true
	}
	if opts.Settle < 0 {
		return nil, fmt.Errorf("watcher options: settle: %s is negative", opts.Settle)
	}
	if opts.EmptyGrace < 0 {
		return nil, fmt.Errorf("watcher options: empty grace: %s is negative", opts.EmptyGrace)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{
		folders:   slices.Clone(opts.Folders),
		settle:    opts.Settle,
		empty:     max(opts.EmptyGrace, opts.Settle),
		rescan:    opts.Rescan,
		log:       logger,
		onIgnored: opts.Ignored,
		accept:    opts.Eligible,
		rescanReq: make(chan struct{}, 1),
	}
	w.recheckReq = make(chan string, recheckQueue)
	return w, nil
}

// Rescan asks the running watcher to scan every folder now. It never blocks;
// requests made before the scan starts are served by one scan.
func (w *Watcher) Rescan() {
	select {
	case w.rescanReq <- struct{}{}:
	default:
	}
}

// Run watches the folders and sends each settled file to out until ctx is
// done, then returns nil. It never closes out. Sending blocks the watcher
// until out accepts the file or ctx is done; events that arrive meanwhile
// queue up, and should the queue overflow a rescan finds the files again.
// Before returning, Run closes its fsnotify watcher, so a folder can be
// removed as soon as Run has returned. Only one Run may be active at a time.
func (w *Watcher) Run(ctx context.Context, out chan<- File) error {
	if out == nil {
		return errors.New("watcher: nil output channel")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("watcher: already running")
	}
	defer w.running.Store(false)

	r := &run{
		w:       w,
		out:     out,
		byPath:  make(map[string]*folder, len(w.folders)),
		pending: make(map[string]*pending),
		ignored: make(map[string]string),
	}
	for _, name := range w.folders {
		f := &folder{name: name, path: filepath.Clean(name), log: w.log.With("folder", name)}
		r.folders = append(r.folders, f)
		r.byPath[f.path] = f
	}

	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		w.log.Error("cannot start file notifications; folders are polled by the periodic rescan only", "error", err)
	} else {
		r.fsw = fsw
		defer func() {
			if err := fsw.Close(); err != nil {
				w.log.Warn("close file notifications", "error", err)
			}
		}()
	}

	r.startWrites()
	defer r.stopWrites()

	r.settleTimer = time.NewTimer(time.Hour)
	r.settleTimer.Stop()
	defer r.settleTimer.Stop()

	return r.loop(ctx)
}

// run is the state of one Run; only the Run goroutine touches it.
type run struct {
	w       *Watcher
	out     chan<- File
	fsw     *fsnotify.Watcher // nil when notifications are unavailable
	writes  *writeWatch       // nil where writers cannot be followed
	writing map[string]bool   // files written to and not closed since
	ignored map[string]string // *.csv entries left alone, with the reason
	folders []*folder
	byPath  map[string]*folder // by cleaned path

	pending     map[string]*pending // by file path
	seq         uint64
	settleTimer *time.Timer
	settleAt    time.Time // when settleTimer fires; zero when stopped

	// looks in flight and folders that did not answer (slowfolder.go)
	looks  map[*folder]chan struct{}
	silent map[*folder]bool
}

type folder struct {
	name string // as configured
	path string // cleaned
	log  *slog.Logger

	watched     bool
	id          os.FileInfo // the folder that the watch was added to
	unavailable bool        // logged as missing or unreadable
	watchFailed bool        // logged that the watch cannot be added
}

// pending is a file waiting to settle.
type pending struct {
	folder  *folder
	size    int64
	modTime time.Time
	due     time.Time // when to look again
	seq     uint64    // order of observation, to report files oldest first
	open    bool      // settled but still open for writing: waits for the close
	told    bool      // logged that it is open
}

func (r *run) loop(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.fsw != nil {
		events, errs = r.fsw.Events, r.fsw.Errors
	}
	var writes <-chan writeEvent
	if r.writes != nil {
		writes = r.writes.Events()
	}
	var rescanTick <-chan time.Time
	var rescanTimer *time.Timer
	if r.w.rescan > 0 {
		rescanTimer = time.NewTimer(r.w.rescan)
		defer rescanTimer.Stop()
		rescanTick = rescanTimer.C
	}

	r.scanAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if !r.w.ignoreEvents {
				r.handleEvent(ctx, ev)
			}
		case ev, ok := <-writes:
			if !ok {
				writes = nil
				continue
			}
			r.handleWrite(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.handleError(err)
		case <-r.w.rescanReq:
			r.scanAll(ctx)
			if rescanTimer != nil {
				rescanTimer.Reset(r.w.rescan)
			}
		case path := <-r.w.recheckReq:
			r.recheck(ctx, path)
		case <-rescanTick:
			r.scanAll(ctx)
			rescanTimer.Reset(r.w.rescan)
		case <-r.settleTimer.C:
			r.settleAt = time.Time{}
			// Writes already reported count first: select picks among
			// ready cases at random, and a file's "being written" must not
			// lose to its settle timer.
			drainWrites(writes, r.handleWrite)
			r.settleDue(ctx)
		}
	}
}

// drainWrites handles the write events already waiting, without waiting.
func drainWrites(writes <-chan writeEvent, handle func(writeEvent)) {
	for {
		select {
		case ev, ok := <-writes:
			if !ok {
				return
			}
			handle(ev)
		default:
			return
		}
	}
}

func (r *run) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.w.log.Warn("file notifications overflowed and some were lost; rescanning", "error", err)
	} else {
		r.w.log.Warn("file notification error; rescanning", "error", err)
	}
	r.w.Rescan()
}

func (r *run) handleEvent(ctx context.Context, ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	if f, ok := r.byPath[name]; ok {
		// The folder itself went away; its watch is gone with it.
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			f.log.Debug("folder removed or renamed")
			r.unwatch(f)
			r.w.Rescan()
		}
		return
	}
	f, ok := r.byPath[filepath.Dir(name)]
	if !ok || !r.w.eligible(f, filepath.Base(name)) {
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if _, ok := r.pending[name]; ok {
			delete(r.pending, name)
			f.log.Debug("file removed before it settled", "file", name)
		}
	}
	// Also after a removal: another file may already have taken the name.
	r.observe(ctx, f, name)
}

// observe looks at a file and (re)starts its settle clock if it is new or
// has changed since it was last seen.
func (r *run) observe(ctx context.Context, f *folder, path string) {
	info, err := os.Lstat(path)
	if err == nil && !info.Mode().IsRegular() {
		r.noteIgnored(f, path, info)
	} else {
		r.forgetIgnored(f, path)
	}
	if err != nil || !info.Mode().IsRegular() {
		if _, ok := r.pending[path]; ok {
			delete(r.pending, path)
			f.log.Debug("file gone before it settled", "file", path)
		}
		return
	}
	p, ok := r.pending[path]
	if ok && p.size == info.Size() && p.modTime.Equal(info.ModTime()) {
		return
	}
	if r.w.settle == 0 {
		delete(r.pending, path)
		r.emit(ctx, f, path, info)
		return
	}
	if !ok {
		p = &pending{folder: f}
		r.pending[path] = p
		f.log.Debug("file seen", "file", path)
	}
	r.seq++
	p.size, p.modTime, p.seq = info.Size(), info.ModTime(), r.seq
	p.due = time.Now().Add(r.w.settleFor(info.Size()))
	p.open = false
	r.arm(p.due)
}

// arm makes the settle timer fire no later than at.
func (r *run) arm(at time.Time) {
	if r.settleAt.IsZero() || at.Before(r.settleAt) {
		r.settleAt = at
		r.settleTimer.Reset(time.Until(at))
	}
}

// settleDue looks again at every pending file whose clock has run out,
// reports those that did not change, and re-arms the timer for the rest.
func (r *run) settleDue(ctx context.Context) {
	now := time.Now()
	var due []string
	var next time.Time
	for path, p := range r.pending {
		if !p.due.After(now) {
			due = append(due, path)
		} else if next.IsZero() || p.due.Before(next) {
			next = p.due
		}
	}
	slices.SortFunc(due, func(a, b string) int {
		pa, pb := r.pending[a], r.pending[b]
		return cmp.Or(pa.due.Compare(pb.due), cmp.Compare(pa.seq, pb.seq))
	})
	for _, path := range due {
		p := r.pending[path]
		if r.silent[p.folder] {
			continue // a look would hang; looked at again once it answers
		}
		info, err := os.Lstat(path)
		switch {
		case err != nil || !info.Mode().IsRegular():
			delete(r.pending, path)
			p.folder.log.Debug("file gone before it settled", "file", path)
		case info.Size() == p.size && info.ModTime().Equal(p.modTime) && r.stillOpen(p, path):
			// Taken up again when the writer closes it.
		case info.Size() == p.size && info.ModTime().Equal(p.modTime):
			delete(r.pending, path)
			if !r.emit(ctx, p.folder, path, info) {
				return
			}
		default:
			r.seq++
			p.size, p.modTime, p.seq = info.Size(), info.ModTime(), r.seq
			p.due = time.Now().Add(r.w.settleFor(info.Size()))
			p.open = false
			if next.IsZero() || p.due.Before(next) {
				next = p.due
			}
		}
	}
	if !next.IsZero() {
		r.arm(next)
	}
}

// emit sends a settled file; it reports false if ctx ended first.
func (r *run) emit(ctx context.Context, f *folder, path string, info os.FileInfo) bool {
	f.log.Debug("file settled", "file", path)
	select {
	case r.out <- File{Folder: f.name, Path: path, Size: info.Size(), ModTime: info.ModTime()}:
		return true
	case <-ctx.Done():
		return false
	}
}

// scanAll checks every folder's watch and looks at every eligible file.
func (r *run) scanAll(ctx context.Context) {
	r.w.log.Debug("scanning folders")
	var listed map[string]bool
	if r.fsw != nil {
		list := r.fsw.WatchList()
		listed = make(map[string]bool, len(list))
		for _, p := range list {
			listed[p] = true
		}
	}
	for _, f := range r.folders {
		if ctx.Err() != nil {
			return
		}
		if r.answers(f) && r.refresh(f, listed) {
			r.scan(ctx, f)
		}
	}
}

// refresh makes sure f exists and is watched, replacing a watch that no
// longer points at the folder now at f.path. It reports whether f exists.
func (r *run) refresh(f *folder, listed map[string]bool) bool {
	info, err := os.Stat(f.path)
	if err == nil && !info.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		r.unwatch(f)
		r.markUnavailable(f, err)
		return false
	}
	// A folder removed and created again, a share remounted, or a watch the
	// kernel dropped (unmount) leaves a watch that sees nothing.
	if f.watched && (!listed[f.path] || !os.SameFile(f.id, info)) {
		f.log.Debug("folder was replaced; watching it again")
		r.unwatch(f)
	}
	if !f.watched && r.fsw != nil {
		r.watch(f, info)
	}
	return true
}

func (r *run) watch(f *folder, info os.FileInfo) {
	if err := r.fsw.Add(f.path); err != nil {
		if !f.watchFailed {
			f.watchFailed = true
			msg := "cannot watch folder; it is polled by the periodic rescan only"
			if r.w.rescan <= 0 {
				msg = "cannot watch folder and the periodic rescan is disabled; new files in it are not seen"
			}
			f.log.Error(msg, "error", err)
		}
		return
	}
	// SameFile reads a file's identity lazily on some systems (Windows);
	// compare now so that it is the identity of the folder being watched.
	os.SameFile(info, info)
	f.watched, f.id = true, info
	r.watchWrites(f)
	if f.watchFailed {
		f.watchFailed = false
		f.log.Info("watching folder again")
	} else {
		f.log.Debug("watching folder")
	}
}

func (r *run) unwatch(f *folder) {
	if !f.watched {
		return
	}
	// fsnotify has usually dropped the watch already; ErrNonExistentWatch
	// and the like are expected.
	_ = r.fsw.Remove(f.path)
	f.watched, f.id = false, nil
	if r.writes != nil {
		r.writes.remove(f.path)
	}
}

// markUnavailable logs once that f cannot be used, until it is back.
func (r *run) markUnavailable(f *folder, err error) {
	if f.unavailable {
		return
	}
	f.unavailable = true
	msg := "folder is not available; looking for it again on every rescan"
	if r.w.rescan <= 0 {
		msg = "folder is not available and the periodic rescan is disabled"
	}
	f.log.Warn(msg, "error", err)
}

// scan looks at every eligible file in f.
func (r *run) scan(ctx context.Context, f *folder) {
	entries, err := os.ReadDir(f.path)
	if err != nil {
		r.markUnavailable(f, err)
	} else {
		r.pruneIgnored(f, entries)
	}
	if err == nil && f.unavailable {
		f.unavailable = false
		f.log.Info("folder is available again")
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return
		}
		if r.w.eligible(f, e.Name()) {
			r.observe(ctx, f, filepath.Join(f.path, e.Name()))
		}
	}
}
