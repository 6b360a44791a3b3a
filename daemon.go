package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kardianos/service"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/uploader"
)

// stateLockTimeout is how long to wait for another process to release the
// state file before saying so.
const stateLockTimeout = 3 * time.Second

// pipelineGrace is how long uploads in flight may take to finish once the
// daemon is asked to stop; the service's stop deadline is above it.
const pipelineGrace = 10 * time.Second

func defaultConfigPath() string { return config.DefaultPath() }

func validate(path string, stdout io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, cfg.Summary())
	return nil
}

// runDaemon runs `listdrop run`: in the terminal until SIGINT or SIGTERM,
// or under the service manager that started it.
func runDaemon(ctx context.Context, path string, stderr io.Writer) error {
	if !service.Interactive() {
		return runService(path, stderr)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	log, closeLog, err := openLog(cfg, stderr, nil)
	if err != nil {
		return err
	}
	defer closeLog.Close()
	return serve(ctx, cfg, log, nil)
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
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: store, API: client, Logger: log, Grace: pipelineGrace, OnFinish: onFinish})
	if err != nil {
		return err
	}
	log.Info("listdrop starting", "version", version(), "config", cfg.Path, "state", cfg.StateFile)
	return p.Run(ctx)
}
