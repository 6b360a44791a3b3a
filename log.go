package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/listdrop/listdrop/config"
)

// openLog builds the one logger of the process from the configuration:
// standard error always, the rotated file of log.file when it is set, and
// system, when not nil (the Windows Event Log under the service manager).
// Close the returned closer when the logger is no longer used.
func openLog(cfg *config.Config, stderr io.Writer, system slog.Handler) (*slog.Logger, io.Closer, error) {
	handlers := []slog.Handler{newHandler(cfg, stderr)}
	var closer io.Closer = nopCloser{}
	if cfg.Log.File != "" {
		f, err := openLogFile(cfg.Log)
		if err != nil {
			return nil, nil, err
		}
		handlers = append(handlers, newHandler(cfg, f))
		closer = f
	}
	if system != nil {
		handlers = append(handlers, system)
	}
	if len(handlers) == 1 {
		return slog.New(handlers[0]), closer, nil
	}
	return slog.New(slog.NewMultiHandler(handlers...)), closer, nil
}

// newHandler is the text or JSON handler the configuration asks for.
func newHandler(cfg *config.Config, w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// openLogFile returns the rotated log file. It opens the file once first,
// so that a folder that cannot be created or a file that cannot be written
// stops the start with a clear error rather than losing every line.
func openLogFile(l config.Log) (*lumberjack.Logger, error) {
	if err := os.MkdirAll(filepath.Dir(l.File), 0o750); err != nil {
		return nil, fmt.Errorf("log.file: %w", err)
	}
	f, err := os.OpenFile(l.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log.file: %w", err)
	}
	f.Close()
	return &lumberjack.Logger{
		Filename:   l.File,
		MaxSize:    l.MaxSizeMB,
		MaxBackups: l.MaxFiles,
		LocalTime:  true,
	}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// systemLog is the part of a kardianos/service Logger that systemHandler
// uses: the Windows Event Log under the service manager.
type systemLog interface {
	Warning(v ...any) error
	Error(v ...any) error
}

// systemHandler forwards warnings and errors to the system log, one event
// per record, as the text handler would print it without the time and
// level (the event has both). Info and debug lines stay in the log file:
// the Event Log is where an admin looks for what went wrong.
type systemHandler struct {
	inner slog.Handler // writes into sink
	sink  *recordSink
	to    systemLog
}

// recordSink holds the one record being formatted; its lock is held from
// formatting to sending, so records from several goroutines do not mix.
type recordSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *recordSink) Write(p []byte) (int, error) { return s.buf.Write(p) }

var _ slog.Handler = (*systemHandler)(nil)

func newSystemHandler(to systemLog) *systemHandler {
	sink := &recordSink{}
	inner := slog.NewTextHandler(sink, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &systemHandler{inner: inner, sink: sink, to: to}
}

func (h *systemHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *systemHandler) Handle(ctx context.Context, r slog.Record) error {
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.buf.Reset()
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	text := strings.TrimSuffix(h.sink.buf.String(), "\n")
	if r.Level >= slog.LevelError {
		return h.to.Error(text)
	}
	return h.to.Warning(text)
}

func (h *systemHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &systemHandler{inner: h.inner.WithAttrs(attrs), sink: h.sink, to: h.to}
}

func (h *systemHandler) WithGroup(name string) slog.Handler {
	return &systemHandler{inner: h.inner.WithGroup(name), sink: h.sink, to: h.to}
}
