package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/kardianos/service"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/metrics"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// stateLockTimeout is how long to wait for another process to release the
// state file before saying so.
const stateLockTimeout = 3 * time.Second

// pipelineGrace is how long uploads in flight may take to finish once the
// daemon is asked to stop; the service's stop deadline is above it.
const pipelineGrace = 10 * time.Second

func defaultConfigPath() string { return config.DefaultPath() }

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

// serve runs the pipeline of a loaded configuration until ctx ends, with
// the admin endpoint and the daily pruning of the state beside it.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, onFinish func(state.Entry)) error {
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	store, err := state.Open(cfg.StateFile, stateLockTimeout)
	if err != nil {
		return err
	}
	defer store.Close()
	prune(store, cfg, log, true)
	client, err := newClient(cfg, log, cfg.Workers)
	if err != nil {
		return err
	}
	m := metrics.New(version())
	m.TokenRenewals(client.TokenRenewals)
	for _, f := range cfg.Folders {
		m.Folder(f.Path)
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: store, API: client, Logger: log, Grace: pipelineGrace, OnFinish: onFinish, Metrics: m})
	if err != nil {
		return err
	}
	// Listen before starting, so a port in use stops listdrop at once with
	// a clear error instead of a daemon without its endpoint.
	var adminL net.Listener
	var adminOpts admin.Options
	if cfg.Admin.Listen != "" {
		if err := admin.CheckWebConfig(cfg.Admin.WebConfigFile, cfg.Admin.Loopback()); err != nil {
			return err
		}
		// A new token at every start, beside the state file this process
		// now holds; removed at the end so that nothing is sent to a
		// program that takes the port while listdrop is stopped.
		tokenFile := admin.TokenPath(cfg.StateFile)
		token, err := admin.WriteToken(tokenFile)
		if err != nil {
			return err
		}
		defer func() {
			if err := admin.RemoveToken(tokenFile, token); err != nil {
				log.Warn("cannot remove the admin token file", "file", tokenFile, "error", err)
			}
		}()
		if adminL, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
			return fmt.Errorf("admin endpoint (admin.listen): %w", err)
		}
		adminOpts = admin.Options{Pipeline: p, Store: store, Registry: m.Registry, Version: version(),
			Token: token, TokenFile: tokenFile, Listen: boundListen(cfg.Admin.Listen, adminL.Addr()), WebConfigFile: cfg.Admin.WebConfigFile,
			VerdictWindow: cfg.VerifyTimeout + 5*time.Minute}
		adminOpts.FailedFiles, adminOpts.Retry = pageActions(cfg, store)
	}
	log.Info("listdrop starting", "version", version(), "config", cfg.Path, "state", cfg.StateFile, "auth", client.AuthMethod())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	names := &listNames{}
	var wg sync.WaitGroup
	if adminL != nil {
		adminOpts.Pipeline = namedPipeline{p, names}
		srv := admin.New(adminOpts)
		wg.Go(func() {
			if err := srv.Serve(ctx, adminL, log); err != nil {
				log.Error("admin endpoint stopped", "error", err)
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(24 * time.Hour)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				prune(store, cfg, log, false)
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() { lookUpListNames(ctx, cfg, client, names, log) })
	// A state file found damaged while running cannot record anything
	// more: stop cleanly with the sentence that says what to do, instead
	// of retrying writes that cannot succeed.
	wg.Go(func() {
		select {
		case <-store.Damaged():
			log.Error("stopping: " + store.DamageErr().Error())
			cancel()
		case <-ctx.Done():
		}
	})
	err = p.Run(ctx)
	cancel()
	wg.Wait()
	if derr := store.DamageErr(); derr != nil {
		return derr
	}
	return err
}

// newClient is the Talkdesk client of a configuration, for the daemon and
// the one-shot upload command alike.
func newClient(cfg *config.Config, log *slog.Logger, conns int) (*talkdesk.Client, error) {
	return talkdesk.New(talkdesk.Options{
		APIURL: cfg.Talkdesk.APIURL, TokenURL: cfg.Talkdesk.TokenURL,
		ClientID: cfg.Talkdesk.ClientID, ClientSecret: cfg.Talkdesk.ClientSecret,
		PrivateKey: cfg.Talkdesk.PrivateKey.Signer(), KeyID: cfg.Talkdesk.KeyID,
		Timeout: cfg.Talkdesk.Timeout, MaxConns: conns, Logger: log,
		UserAgent: "listdrop/" + version(), CAFile: cfg.Talkdesk.CAFile,
	})
}

// prune forgets finished files older than state.retention. At start-up,
// when that freed most of a large file, the file is compacted too.
func prune(store *state.Store, cfg *config.Config, log *slog.Logger, atStart bool) {
	n, err := store.Prune(time.Now().Add(-cfg.State.Retention))
	if err != nil {
		log.Error("cannot prune the state", "error", err)
		return
	}
	if n == 0 {
		return
	}
	log.Info("forgot finished files older than state.retention", "entries", n, "retention", cfg.State.Retention)
	if !atStart {
		return
	}
	total, used, err := store.Size()
	if err != nil || total < 32<<20 || used > total/2 {
		return
	}
	if err := store.Compact(stateLockTimeout); err != nil {
		log.Error("cannot compact the state", "error", err)
		return
	}
	after, _, _ := store.Size()
	log.Info("compacted the state file", "before_bytes", total, "after_bytes", after)
}

// boundListen is admin.listen with port 0 (the system picks one, as the
// tests ask) replaced by the port it picked, so that what the endpoint
// says of its own address is where it answers. The host stays as
// configured: the Host check accepts the name given there.
func boundListen(listen string, bound net.Addr) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port != "0" {
		return listen
	}
	_, boundPort, err := net.SplitHostPort(bound.String())
	if err != nil {
		return listen
	}
	return net.JoinHostPort(host, boundPort)
}
