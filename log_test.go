package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/listdrop/listdrop/config"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeSystemLog records what would go to the Windows Event Log.
type fakeSystemLog struct {
	mu     sync.Mutex
	events []string
}

func (f *fakeSystemLog) add(kind string, v []any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, x := range v {
		b.WriteString(x.(string))
	}
	f.events = append(f.events, kind+": "+b.String())
	return nil
}

func (f *fakeSystemLog) Warning(v ...any) error { return f.add("warning", v) }
func (f *fakeSystemLog) Error(v ...any) error   { return f.add("error", v) }

func (f *fakeSystemLog) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

func logConfig(t *testing.T, logYAML string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`talkdesk: {region: us, account: acme, client_id: id, client_secret: s}
folders: [{path: in, record_list_id: L1}]
log:
`+logYAML), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestLogFileGetsTheSameLinesAsStandardError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "logs", "listdrop.log")
	cfg := logConfig(t, "  format: json\n  file: "+file+"\n")
	var stderr strings.Builder
	log, closer, err := openLog(cfg, &stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("file uploaded", "file", "contacts.csv")
	log.Debug("below the level")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != stderr.String() || !strings.Contains(string(data), `"msg":"file uploaded","file":"contacts.csv"`) {
		t.Errorf("file:\n%s\nstandard error:\n%s", data, stderr.String())
	}
	if strings.Contains(string(data), "below the level") {
		t.Error("the file got a line below log.level")
	}
}

// The file is rotated at max_size_mb, and max_files rotated files are kept.
func TestLogFileRotates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "listdrop.log")
	cfg := logConfig(t, "  file: listdrop.log\n  max_size_mb: 1\n  max_files: 2\n")
	cfg.Log.File = file
	log, closer, err := openLog(cfg, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	line := strings.Repeat("x", 1000)
	for range 4 * 1100 { // over 4 MB: at least 4 rotations
		log.Info("filler", "pad", line)
	}
	backups := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "listdrop-*.log"))
		return m
	}
	// Old files are removed in the background.
	svcWait(t, "rotated files to be trimmed to 2", func() bool { return len(backups()) == 2 })
	for _, p := range append(backups(), file) {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over max_size_mb", p, info.Size())
		}
	}
}

func TestLogFileThatCannotBeOpenedStopsTheStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	writeSvcFile(t, notDir, "")
	cfg := logConfig(t, "  file: "+filepath.Join(notDir, "listdrop.log")+"\n")
	if _, _, err := openLog(cfg, io.Discard, nil); err == nil || !strings.HasPrefix(err.Error(), "log.file: ") {
		t.Fatalf("openLog = %v, want a log.file error", err)
	}
}

// Warnings and errors reach the system log as text, with the logger's
// attributes and without the time; info and debug do not.
func TestSystemHandlerForwardsWarningsAndErrors(t *testing.T) {
	t.Parallel()
	events := &fakeSystemLog{}
	cfg := logConfig(t, "  level: debug\n")
	var stderr strings.Builder
	log, _, err := openLog(cfg, &stderr, newSystemHandler(events))
	if err != nil {
		t.Fatal(err)
	}
	folder := log.With("folder", `C:\Drop`)
	folder.Debug("debug line")
	folder.Info("file uploaded", "file", "a.csv")
	folder.Warn("slow answer", "attempt", 2)
	folder.WithGroup("http").Error("file failed", "status", 500)
	got := events.all()
	want := []string{
		`warning: msg="slow answer" folder=C:\Drop attempt=2`,
		`error: msg="file failed" folder=C:\Drop http.status=500`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("system log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Count(stderr.String(), "\n") != 4 {
		t.Errorf("standard error should have all 4 lines:\n%s", stderr.String())
	}
}
