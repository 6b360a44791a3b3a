package watcher

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// bound is how long a test waits for something before failing. It is a
// failure bound only, generous for a loaded machine; nothing waits for it to
// pass.
const bound = 30 * time.Second

const settle = 50 * time.Millisecond

func TestEligible(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"list.csv", true},
		{"LIST.CSV", true},
		{"List.Csv", true},
		{"2024 export (1).csv", true},
		{"x.csv.csv", true},
		{"", false},
		{".csv", false},
		{".hidden.csv", false},
		{"x.txt", false},
		{"x", false},
		{"csv", false},
		{"x.csvx", false},
		{"x.tmp", false},
		{"x.csv.tmp", false},
		{"x.CSV.TMP", false},
		{"x.part", false},
		{"x.csv.part", false},
		{"x.crdownload", false},
		{"x.csv.crdownload", false},
		{"~$x.csv", false},
		{"x.csv~", false},
		{"~x.csv", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Eligible(tt.name); got != tt.want {
				t.Errorf("Eligible(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no folders", Options{}, "folders"},
		{"relative folder", Options{Folders: []string{"drop"}}, "folders[0]"},
		{"empty folder", Options{Folders: []string{dir, ""}}, "folders[1]"},
		{"duplicate folder", Options{Folders: []string{dir, dir + string(filepath.Separator)}}, "folders[1]"},
		{"negative settle", Options{Folders: []string{dir}, Settle: -time.Second}, "settle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(tt.opts)
			if err == nil {
				t.Fatalf("New(%+v) = %v, nil; want an error", tt.opts, w)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q does not name %q", err, tt.want)
			}
		})
	}

	// A missing folder is not an option error: it may appear later.
	if _, err := New(Options{Folders: []string{filepath.Join(dir, "later")}}); err != nil {
		t.Errorf("New with a missing folder: %v", err)
	}
}

func TestRescanDoesNotBlockWhenNotRunning(t *testing.T) {
	t.Parallel()
	w, err := New(Options{Folders: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.Rescan()
	}
}

func TestStartupScanFindsWaitingFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "waiting.csv")
	writeFile(t, path, "a,b\n1,2\n")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	h := start(t, Options{Folders: []string{dir}, Settle: settle}, nil)
	got := h.next()
	want := File{Folder: dir, Path: path, Size: info.Size(), ModTime: info.ModTime()}
	if got.Folder != want.Folder || got.Path != want.Path || got.Size != want.Size || !got.ModTime.Equal(want.ModTime) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSettleZeroReportsAtFirstLook(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "now.csv")
	writeFile(t, path, "x\n")
	h := start(t, Options{Folders: []string{dir}}, nil)
	if got := h.next(); got.Path != path {
		t.Errorf("got %s, want %s", got.Path, path)
	}
}

func TestFileRenamedIntoFolderIsReportedOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// No periodic rescan: only the fsnotify event can find the file.
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle})

	content := strings.Repeat("id,name\n", 1000)
	staging := filepath.Join(t.TempDir(), "upload.csv")
	writeFile(t, staging, content)
	path := filepath.Join(dir, "upload.csv")
	if err := os.Rename(staging, path); err != nil {
		t.Fatal(err)
	}

	got := h.expect(path)
	if got.Size != int64(len(content)) {
		t.Errorf("size = %d, want %d", got.Size, len(content))
	}
	if got.Folder != dir {
		t.Errorf("folder = %q, want %q", got.Folder, dir)
	}
	// Anything reported twice would come before a file created later.
	h.expect(writeSentinel(t, dir, "sentinel.csv"))
	h.expectNothingQueued()
}

func TestSlowWriterIsReportedOnceWritesStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Settle is far longer than the pause between writes, so that a slow
	// scheduler does not make the writer look finished.
	const slowSettle = time.Second
	const pause = 100 * time.Millisecond
	h := startReady(t, Options{Folders: []string{dir}, Settle: slowSettle})

	path := filepath.Join(dir, "slow.csv")
	sw := slowWriter{lastStart: time.Now()} // creating it counts as a write
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sw.write(t, f, "1,2,3\n")
	for range 7 {
		time.Sleep(pause) // the slow writer under test, not synchronisation
		sw.write(t, f, "1,2,3\n")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing was read while writing: an early report of a partial file
	// would be the first one to arrive.
	got := h.expect(path)
	if got.Size != info.Size() || !got.ModTime.Equal(info.ModTime()) {
		sw.inconclusive(t, slowSettle)
		t.Errorf("got size %d mtime %v, want the final size %d mtime %v",
			got.Size, got.ModTime, info.Size(), info.ModTime())
	}
	h.expect(writeSentinel(t, dir, "sentinel.csv"))
	h.expectNothingQueued()
}

// On a network share no events arrive: only the second look at the end of
// the settle time can see that the file is still growing.
func TestSlowWriterWithoutEventsIsReportedOnceWritesStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "share.csv")
	sw := slowWriter{lastStart: time.Now()} // creating it counts as a write
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sw.write(t, f, "4,5,6\n")

	// Only the start-up scan runs; writing lasts several settle times.
	const shareSettle = 300 * time.Millisecond
	const pause = 50 * time.Millisecond
	h := start(t, Options{Folders: []string{dir}, Settle: shareSettle},
		func(w *Watcher) { w.ignoreEvents = true })
	for range 20 {
		time.Sleep(pause) // the slow writer under test, not synchronisation
		sw.write(t, f, "4,5,6\n")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	got := h.expect(path)
	if got.Size != info.Size() {
		sw.inconclusive(t, shareSettle)
		t.Errorf("size = %d, want the final size %d", got.Size, info.Size())
	}
	h.expectNothingQueued()
}

func TestIneligibleFilesAreNeverReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle})
	ready := filepath.Join(dir, readyName)

	for _, name := range []string{
		".hidden.csv", "x.tmp", "x.csv.tmp", "x.part", "x.csv.part",
		"x.crdownload", "x.csv.crdownload", "~$x.csv", "x.csv~", "x.txt", "noext",
	} {
		writeFile(t, filepath.Join(dir, name), "a\n")
	}
	if err := os.Mkdir(filepath.Join(dir, "d.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not recursive: an eligible name in a subfolder is not picked up.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "inner.csv"), "a\n")
	target := filepath.Join(t.TempDir(), "target.csv")
	writeFile(t, target, "a\n")
	if err := os.Symlink(target, filepath.Join(dir, "link.csv")); err != nil {
		t.Logf("symlink case skipped: %v", err)
	}
	makeSpecialFiles(t, dir)

	// Reports come oldest first, so anything ineligible created above would
	// arrive before this upper-case sentinel.
	sentinel := writeSentinel(t, dir, "LIST.CSV")
	h.expect(sentinel)

	// The same through a scan: the rescan reports the two eligible files
	// again, and anything else it wrongly picked up arrives before a file
	// created after those two.
	h.w.Rescan()
	h.expectSet(ready, sentinel)
	h.expect(writeSentinel(t, dir, "last.csv"))
	h.expectNothingQueued()
}

func TestPeriodicRescanFindsFilesWithoutEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := writeSentinel(t, dir, readyName)
	h := start(t, Options{Folders: []string{dir}, Settle: settle, Rescan: 100 * time.Millisecond},
		func(w *Watcher) { w.ignoreEvents = true })
	h.expect(ready) // the start-up scan is done

	late := writeSentinel(t, dir, "late.csv")
	got := h.waitFor(late, ready)
	if got.Size != int64(len("a,b\n")) {
		t.Errorf("size = %d, want %d", got.Size, len("a,b\n"))
	}
}

func TestMissingFolderIsPickedUpWhenCreated(t *testing.T) {
	t.Parallel()
	present := t.TempDir()
	missing := filepath.Join(t.TempDir(), "later")
	ready := writeSentinel(t, present, readyName)
	h := start(t, Options{Folders: []string{present, missing}, Settle: settle, Rescan: 100 * time.Millisecond}, nil)
	h.expect(ready)

	// Let a few rescans pass over the missing folder; it is logged once.
	h.eventually("three scans", func() bool { return h.logs.count(slog.LevelDebug, "scanning folders", "") >= 3 })
	if n := h.logs.count(slog.LevelWarn, "", missing); n != 1 {
		t.Errorf("%d warnings about the missing folder, want 1", n)
	}

	if err := os.Mkdir(missing, 0o755); err != nil {
		t.Fatal(err)
	}
	path := writeSentinel(t, missing, "found.csv")
	got := h.waitFor(path, ready)
	if got.Folder != missing {
		t.Errorf("folder = %q, want %q", got.Folder, missing)
	}
	h.expectRunning()
}

func TestRemovedFolderIsWatchedAgainWhenRecreated(t *testing.T) {
	t.Parallel()
	if os.Getenv("LISTDROP_UNDER_WINE") == "1" {
		t.Skip("under Wine 8 a watched folder that is deleted stays until its watch is closed, and no notification says it went; on Windows the watch ends with an error that fsnotify reports as the folder's removal")
	}
	dir := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// No periodic rescan: the test triggers the one rescan that finds the
	// folder back, and only an event can report the file written after it.
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle})

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	h.eventually("warning about the removed folder", func() bool { return h.logs.count(slog.LevelWarn, "", dir) == 1 })

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.w.Rescan()
	h.eventually("folder back", func() bool { return h.logs.count(slog.LevelInfo, "folder is available again", dir) == 1 })

	h.expect(writeSentinel(t, dir, "after.csv"))
	h.expectRunning()
}

func TestFolderReplacedByRenameIsWatchedAgain(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	dir := filepath.Join(parent, "drop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle})

	// Swap in another folder under the same name, holding one file.
	next := filepath.Join(parent, "next")
	if err := os.Mkdir(next, 0o755); err != nil {
		t.Fatal(err)
	}
	writeSentinel(t, next, "moved.csv")
	if err := os.Rename(dir, filepath.Join(parent, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}

	// A scan reports moved.csv after it has set up the new folder's watch;
	// from then on only an event can report a new file. The rename itself
	// also asks for a scan, so moved.csv may be reported twice.
	h.w.Rescan()
	moved := filepath.Join(dir, "moved.csv")
	h.expect(moved)
	h.waitFor(writeSentinel(t, dir, "after.csv"), moved)
	h.expectRunning()
}

func TestMultipleFoldersNameTheirFolder(t *testing.T) {
	t.Parallel()
	a := t.TempDir()
	b := t.TempDir() + string(filepath.Separator) // reported as given
	before := []string{writeSentinel(t, a, "a1.csv"), writeSentinel(t, b, "b1.csv")}
	h := start(t, Options{Folders: []string{a, b}, Settle: settle}, nil)
	h.expectSet(before...)
	h.expectSet(writeSentinel(t, a, "a2.csv"), writeSentinel(t, b, "b2.csv"))
	for _, f := range h.seen {
		want := a
		if strings.HasPrefix(filepath.Base(f.Path), "b") {
			want = b
		}
		if f.Folder != want {
			t.Errorf("%s reported with folder %q, want %q", f.Path, f.Folder, want)
		}
	}
}

func TestRunReturnsOnCancelAndReleasesFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := startReady(t, Options{Folders: []string{dir}, Settle: settle, Rescan: time.Hour})
	h.stop()
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("remove the folder after Run returned: %v", err)
	}
}

func TestRunRefusesSecondConcurrentRun(t *testing.T) {
	t.Parallel()
	h := startReady(t, Options{Folders: []string{t.TempDir()}, Settle: settle})
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := h.w.Run(ctx, make(chan File)); err == nil {
		t.Error("second concurrent Run returned nil")
	}
	h.expectRunning()
}

// harness runs a Watcher and reads what it reports.
type harness struct {
	t      *testing.T
	w      *Watcher
	out    chan File
	errc   chan error
	cancel context.CancelFunc
	logs   *logRecorder
	seen   []File
	once   sync.Once
}

const readyName = "ready.csv"

// start runs a watcher for opts; setup, if not nil, adjusts it first.
func start(t *testing.T, opts Options, setup func(*Watcher)) *harness {
	t.Helper()
	logs := &logRecorder{}
	opts.Logger = slog.New(&recordHandler{rec: logs})
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, w: w, out: make(chan File, 64), errc: make(chan error, 1), cancel: cancel, logs: logs}
	go func() { h.errc <- w.Run(ctx, h.out) }()
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			logs.dump(t)
		}
	})
	return h
}

// startReady starts a watcher on a first folder holding one file and waits
// for that file, so the start-up scan is over and the folder is watched.
func startReady(t *testing.T, opts Options) *harness {
	t.Helper()
	ready := writeSentinel(t, opts.Folders[0], readyName)
	h := start(t, opts, nil)
	h.expect(ready)
	return h
}

func (h *harness) stop() {
	h.once.Do(func() {
		h.cancel()
		select {
		case err := <-h.errc:
			if err != nil {
				h.t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(bound):
			h.t.Errorf("Run did not return within %v of cancel", bound)
		}
	})
}

func (h *harness) next() File {
	h.t.Helper()
	select {
	case f := <-h.out:
		h.seen = append(h.seen, f)
		return f
	case err := <-h.errc:
		h.t.Fatalf("Run returned early: %v", err)
	case <-time.After(bound):
		// A starved process may find both ready at once; do not lose a file.
		select {
		case f := <-h.out:
			h.seen = append(h.seen, f)
			return f
		default:
		}
		h.t.Fatalf("nothing reported within %v", bound)
	}
	return File{}
}

// expect requires path to be the next file reported.
func (h *harness) expect(path string) File {
	h.t.Helper()
	f := h.next()
	if f.Path != path {
		h.t.Fatalf("reported %s, want %s", f.Path, path)
	}
	return f
}

// expectSet requires the next reports to be exactly paths, in any order.
func (h *harness) expectSet(paths ...string) {
	h.t.Helper()
	left := slices.Clone(paths)
	for len(left) > 0 {
		f := h.next()
		i := slices.Index(left, f.Path)
		if i < 0 {
			h.t.Fatalf("reported %s, want one of %v", f.Path, left)
		}
		left = slices.Delete(left, i, i+1)
	}
}

// waitFor reads reports until path, accepting only the paths in others
// before it.
func (h *harness) waitFor(path string, others ...string) File {
	h.t.Helper()
	for {
		f := h.next()
		if f.Path == path {
			return f
		}
		if !slices.Contains(others, f.Path) {
			h.t.Fatalf("reported %s while waiting for %s", f.Path, path)
		}
	}
}

func (h *harness) expectNothingQueued() {
	h.t.Helper()
	select {
	case f := <-h.out:
		h.t.Errorf("unexpected report of %s", f.Path)
	default:
	}
}

func (h *harness) expectRunning() {
	h.t.Helper()
	select {
	case err := <-h.errc:
		h.t.Fatalf("Run returned early: %v", err)
	default:
	}
}

// eventually polls cond until it holds, failing after bound.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(bound)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			if !cond() {
				h.t.Fatalf("timed out after %v waiting for %s", bound, what)
			}
		}
	}
}

// slowWriter appends chunks and measures the longest time the file may have
// held still between two of them.
type slowWriter struct {
	lastStart time.Time
	maxStill  time.Duration
}

func (sw *slowWriter) write(t *testing.T, f *os.File, line string) {
	t.Helper()
	start := time.Now()
	if _, err := f.WriteString(strings.Repeat(line, 100)); err != nil {
		t.Fatal(err)
	}
	// The previous write took effect no earlier than it started, this one
	// no later than it returned.
	if !sw.lastStart.IsZero() {
		sw.maxStill = max(sw.maxStill, time.Since(sw.lastStart))
	}
	sw.lastStart = start
}

// inconclusive skips the test if the writer itself, starved of CPU, held
// still for a whole settle time: reporting the file then was right.
func (sw *slowWriter) inconclusive(t *testing.T, settle time.Duration) {
	t.Helper()
	if sw.maxStill >= settle {
		t.Skipf("the writer stalled for up to %v, not less than the settle time %v", sw.maxStill, settle)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSentinel(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	writeFile(t, path, "a,b\n")
	return path
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

// count counts records at level whose message is msg and whose folder is
// folder; an empty msg or folder matches any.
func (l *logRecorder) count(level slog.Level, msg, folder string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.level == level && (msg == "" || r.msg == msg) && (folder == "" || r.attrs["folder"] == folder) {
			n++
		}
	}
	return n
}

func (l *logRecorder) dump(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		t.Logf("log: %s %s %v", r.level, r.msg, r.attrs)
	}
}

type recordHandler struct {
	rec   *logRecorder
	attrs []slog.Attr
}

var _ slog.Handler = (*recordHandler)(nil)

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := make(map[string]string)
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	h.rec.recs = append(h.rec.recs, logRecord{level: r.Level, msg: r.Message, attrs: attrs})
	return nil
}

func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{rec: h.rec, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }
