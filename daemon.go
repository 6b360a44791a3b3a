package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/uploader"
)

// stateLockTimeout is how long to wait for another process to release the
// state file before saying so.
const stateLockTimeout = 3 * time.Second

func defaultConfigPath() string { return config.DefaultPath() }

func validate(path string, stdout io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, cfg.Summary())
	return nil
}

// newLogger builds the one logger of the process from the configuration.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runDaemon(ctx context.Context, path string, logOut io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, newLogger(cfg, logOut), nil)
}

// serve runs the pipeline of a loaded configuration until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, onFinish func(state.Entry)) error {
	store, err := state.Open(cfg.StateFile, stateLockTimeout)
	if err != nil {
		return err
	}
	defer store.Close()
	client, err := uploader.New(uploader.Options{
		APIURL: cfg.Talkdesk.APIURL, TokenURL: cfg.Talkdesk.TokenURL,
		ClientID: cfg.Talkdesk.ClientID, ClientSecret: cfg.Talkdesk.ClientSecret,
		Timeout: cfg.Talkdesk.Timeout, MaxConns: cfg.Workers, Logger: log,
		UserAgent: "listdrop/" + version(),
	})
	if err != nil {
		return err
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: store, API: client, Logger: log, OnFinish: onFinish})
	if err != nil {
		return err
	}
	log.Info("listdrop starting", "version", version(), "config", cfg.Path, "state", cfg.StateFile)
	return p.Run(ctx)
}
