package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
	"github.com/listdrop/listdrop/metrics"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

const (
	testClientID = "test-client"
	testSecret   = "s3cr3t-Value-9f2c"
)

// harness runs a real pipeline on real temp folders, with a real state file
// and the real uploader, against the fake Talkdesk over loopback HTTP.
type harness struct {
	t        *testing.T
	fake     *faketalkdesk.Server
	dir      string
	cfg      *config.Config
	api      API
	metrics  *metrics.Metrics
	pipeline *Pipeline
	logBuf   *testutil.LockedBuffer

	// tweak, when set, adjusts the pipeline before it runs: test seams.
	tweak func(*Pipeline)

	cancel context.CancelFunc
	done   chan error
	store  *state.Store
	// retryBase is the pipeline's first backoff (default 5ms).
	retryBase time.Duration
}

// newHarness writes a configuration with one folder per list (in0, in1…)
// and extra top-level YAML, and starts the fake.
func newHarness(t *testing.T, opts faketalkdesk.Options, lists []string, extra string) *harness {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID, opts.ClientSecret = testClientID, testSecret
	}
	fake := faketalkdesk.StartForTest(t, opts)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "talkdesk:\n  api_url: %s\n  token_url: %s\n  client_id: %s\n  client_secret: %s\n  timeout: 5s\n",
		fake.URL(), fake.TokenURL(), testClientID, testSecret)
	b.WriteString("state_file: state.db\nsettle: 50ms\nrescan: 500ms\n")
	if !strings.Contains(extra, "empty_grace:") {
		b.WriteString("empty_grace: 500ms\n")
	}
	if !strings.Contains(extra, "retry:") {
		b.WriteString("retry:\n  max_backoff: 100ms\n  give_up_after: 1h\n")
	}
	b.WriteString(extra)
	if len(lists) > 0 {
		b.WriteString("\nfolders:\n")
	}
	for i, l := range lists {
		fmt.Fprintf(&b, "  - path: in%d\n    record_list_id: %q\n", i, l)
	}
	cfg, err := config.Parse([]byte(b.String()), dir)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	h := &harness{t: t, fake: fake, dir: dir, cfg: cfg, logBuf: &testutil.LockedBuffer{}}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("log:\n%s", h.logBuf.String())
		}
	})
	return h
}

func (h *harness) client() API {
	c, err := talkdesk.New(talkdesk.Options{
		APIURL: h.cfg.Talkdesk.APIURL, TokenURL: h.cfg.Talkdesk.TokenURL,
		ClientID: h.cfg.Talkdesk.ClientID, ClientSecret: h.cfg.Talkdesk.ClientSecret,
		Timeout: h.cfg.Talkdesk.Timeout, MaxConns: h.cfg.Workers,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// start runs the pipeline until stop.
func (h *harness) start() {
	h.t.Helper()
	if h.cancel != nil {
		h.t.Fatal("harness already running")
	}
	store, err := state.Open(h.cfg.StateFile, time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = store
	api := h.api
	if api == nil {
		api = h.client()
	}
	log := slog.New(slog.NewTextHandler(h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := h.retryBase
	if base == 0 {
		base = 5 * time.Millisecond
	}
	p, err := New(Options{Config: h.cfg, Store: store, API: api, Logger: log, RetryBase: base, Grace: 5 * time.Second, Metrics: h.metrics})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.tweak != nil {
		h.tweak(p)
	}
	h.pipeline = p
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- p.Run(ctx) }()
	for _, f := range h.cfg.Folders {
		eventually(h.t, "the folders to be prepared", func() bool {
			return fileExists(filepath.Join(f.Path, claimDirName, store.Instance(), heartbeatName))
		})
	}
}

// stop asks the pipeline to stop and waits for Run to return.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Fatal("Run did not return within 30s of being stopped")
	}
	h.cancel = nil
	if err := h.store.Close(); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) folder(i int) config.Folder { return h.cfg.Folders[i] }

// claimDir is this process's claim folder in folder i.
func (h *harness) claimDir(i int) string {
	h.t.Helper()
	inst := ""
	if h.store != nil && h.cancel != nil {
		inst = h.store.Instance()
	} else {
		s, err := state.Open(h.cfg.StateFile, time.Second)
		if err != nil {
			h.t.Fatal(err)
		}
		inst = s.Instance()
		s.Close()
	}
	return filepath.Join(h.folder(i).Path, claimDirName, inst)
}

// held lists the files in this process's claim folder, without the
// heartbeat.
func (h *harness) held(i int) []string {
	var out []string
	for _, n := range dirNames(h.t, h.claimDir(i)) {
		if n != heartbeatName {
			out = append(out, n)
		}
	}
	return out
}

// drop writes a file the way the README asks: under a temporary name, then
// renamed into the folder.
func (h *harness) drop(i int, name string, data []byte) {
	h.t.Helper()
	dir := h.folder(i).Path
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	// The temporary file is beside the folder, on the same volume, so a
	// name of 255 bytes still fits.
	tmp := filepath.Join(h.dir, "drop.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		h.t.Fatal(err)
	}
}

// eventually polls cond until it holds; the bound is a failure, not a wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 120*time.Second, what, cond)
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (h *harness) waitDone(i int, name string) string {
	h.t.Helper()
	p := filepath.Join(h.folder(i).Done, name)
	eventually(h.t, name+" in done/", func() bool { return fileExists(p) && h.ended(i, name) })
	return p
}

// ended reports whether no file named name that was dropped in folder i
// is held any more: its record has given way to its history entry, which
// is written after the file's move.
func (h *harness) ended(i int, name string) bool {
	recs, err := h.store.Active()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range recs {
		if r.Folder == h.folder(i).Path && filepath.Base(r.Source) == name {
			return false
		}
	}
	return true
}

// waitFailed waits for a failed file and returns its explanation.
func (h *harness) waitFailed(i int, name string) string {
	h.t.Helper()
	p := filepath.Join(h.folder(i).Failed, name)
	eventually(h.t, name+" in failed/", func() bool { return fileExists(p) && fileExists(p+sidecarSuffix) && h.ended(i, name) })
	text, err := os.ReadFile(p + sidecarSuffix)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(text)
}

func (h *harness) requests(method, pathPart string) int {
	n := 0
	for _, r := range h.fake.Requests() {
		if r.Method == method && strings.Contains(r.Path, pathPart) {
			n++
		}
	}
	return n
}

func csvBody(tag string, rows int) []byte {
	var b strings.Builder
	b.WriteString("first_name,last_name,mobile_phone\n")
	for i := range rows {
		fmt.Fprintf(&b, "%s,Person%d,+1202555%04d\n", tag, i, i)
	}
	return []byte(b.String())
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
