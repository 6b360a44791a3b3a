package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kardianos/service"

	"github.com/listdrop/listdrop/config"
)

const (
	serviceName        = "listdrop"
	serviceDescription = "Uploads the CSV files dropped in folders to Talkdesk record lists, exactly once."

	// stopWait bounds Stop: above pipelineGrace, which uploads in flight
	// get to finish, and below the service managers' kill timeouts
	// (TimeoutStopSec=30s in the systemd unit; 20 s on Windows).
	stopWait = pipelineGrace + 5*time.Second
)

// errNotElevated is returned by the commands that change the service when
// the process lacks the rights to.
var errNotElevated = errors.New("changing the service needs administrator rights: " + elevationHint)

// newServiceConfig describes the service for the service manager. The
// configuration's path is stored absolute in the service's arguments: a
// service starts in a folder of the manager's choosing (System32 on
// Windows, / under systemd).
func newServiceConfig(configPath, user string) (*service.Config, error) {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", configPath, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the listdrop program: %w", err)
	}
	cfg := &service.Config{
		Name:        serviceName,
		DisplayName: serviceName,
		Description: serviceDescription,
		UserName:    user,
		Executable:  exe,
		Arguments:   []string{"run", "--config", abs},
	}
	cfg.Option = serviceOptions(cfg)
	return cfg, nil
}

// serviceCommand runs one of install, uninstall, start, stop, restart and
// status; elevated is isElevated but in tests.
func serviceCommand(cmd string, args []string, stdout, stderr io.Writer, elevated func() bool) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path, user *string
	if cmd == "install" {
		path = fs.String("config", defaultConfigPath(), "configuration file the service runs with")
		user = fs.String("user", "", "account the service runs as (default: root; Windows: LocalSystem)")
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "listdrop %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return errUsage
	}
	if cmd != "status" && !elevated() {
		return fmt.Errorf("%s: %w", cmd, errNotElevated)
	}

	var cfg *service.Config
	if cmd == "install" {
		var err error
		if cfg, err = newServiceConfig(*path, *user); err != nil {
			return err
		}
		if err := checkConfigFile(cfg.Arguments[2]); err != nil {
			return err
		}
	} else {
		cfg = &service.Config{Name: serviceName}
	}
	s, err := service.New(nil, cfg)
	if err != nil {
		return err
	}

	switch cmd {
	case "install":
		if err := checkInstall(s, cfg); err != nil {
			return err
		}
		if err := s.Install(); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if err := afterInstall(cfg); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		fmt.Fprintf(stdout, "installed the %s service (%s): it runs with %s and starts at boot\n", serviceName, s.Platform(), cfg.Arguments[2])
		fmt.Fprintf(stdout, "start it now with: listdrop start\n")
	case "uninstall":
		// Removing the definition leaves a running process running.
		if st, err := s.Status(); err == nil && st == service.StatusRunning {
			if err := s.Stop(); err != nil {
				return fmt.Errorf("uninstall: stop: %w", err)
			}
		}
		if err := s.Uninstall(); err != nil {
			return fmt.Errorf("uninstall: %w", err)
		}
		afterUninstall(s)
		fmt.Fprintf(stdout, "uninstalled the %s service; the configuration, the state and the logs are left in place\n", serviceName)
	case "start", "stop", "restart":
		before, err := statusText(s)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if before == statusNotInstalled {
			return fmt.Errorf("%s: the %s service is not installed (see listdrop install)", cmd, serviceName)
		}
		// Starting a running service or stopping a stopped one is done
		// already; the Windows service manager would call it an error.
		done := cmd == "start" && before == statusRunning || cmd == "stop" && before == statusStopped
		control := map[string]func() error{"start": s.Start, "stop": s.Stop, "restart": s.Restart}[cmd]
		if !done {
			if err := control(); err != nil {
				return fmt.Errorf("%s: %w", cmd, err)
			}
		}
		text, err := statusText(s)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, text)
	case "status":
		text, err := statusText(s)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, text)
	}
	return nil
}

// checkConfigFile refuses to install a service whose configuration file is
// missing: it would only fail at every start. The file is not validated
// here, since the secret it names is often only in the service's
// environment.
func checkConfigFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("config %s is not a regular file", path)
	}
	return nil
}

const (
	statusRunning      = "running"
	statusStopped      = "stopped"
	statusNotInstalled = "not installed"
)

// statusText is what `listdrop status` prints.
func statusText(s service.Service) (string, error) {
	if text, ok := platformStatus(s); ok {
		return text, nil
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return statusNotInstalled, nil
	case err != nil:
		return "", fmt.Errorf("status: %w", err)
	case st == service.StatusRunning:
		return statusRunning, nil
	case st == service.StatusStopped:
		return statusStopped, nil
	}
	return "", errors.New("status: the service manager did not say")
}

// runService runs the daemon under the service manager: kardianos/service
// calls Start, then Stop or Shutdown when the manager asks.
func runService(path string, stderr io.Writer) error {
	prg := &program{stopWait: stopWait, shutdownWait: shutdownWait(), exit: os.Exit}
	s, err := service.New(prg, &service.Config{Name: serviceName})
	if err != nil {
		return err
	}
	system := systemLogHandler(s)
	prg.open = func() (*daemonRun, error) { return openDaemon(path, stderr, system) }
	return s.Run()
}

// daemonRun is a daemon ready to run: its configuration is loaded and its
// log is open.
type daemonRun struct {
	run       func(context.Context) error
	log       *slog.Logger
	closeOnce sync.Once
	closeLog  io.Closer
}

func (d *daemonRun) close() { d.closeOnce.Do(func() { d.closeLog.Close() }) }

// openDaemon loads the configuration and opens the log. A configuration
// that does not load is also reported to system, when there is one, since
// standard error goes nowhere under the Windows service manager.
func openDaemon(path string, stderr io.Writer, system slog.Handler) (*daemonRun, error) {
	cfg, err := config.Load(path)
	if err == nil {
		var log *slog.Logger
		var closeLog io.Closer
		if log, closeLog, err = openLog(cfg, stderr, system); err == nil {
			return &daemonRun{
				run:      func(ctx context.Context) error { return serve(ctx, cfg, log, nil) },
				log:      log,
				closeLog: closeLog,
			}, nil
		}
	}
	if system != nil {
		slog.New(system).Error("listdrop cannot start", "error", err)
	}
	return nil, err
}

// program is the service shell around the daemon. Start returns at once
// with the daemon running in a goroutine. Stop, and Shutdown when the
// machine goes down, cancel it and wait for the uploads in flight, up to a
// deadline: what is not finished by then is recorded in the state and
// resumed at the next start.
type program struct {
	open         func() (*daemonRun, error)
	stopWait     time.Duration
	shutdownWait time.Duration
	// exit ends the process when the daemon stops without being asked to,
	// so that the service manager sees a failure and restarts it.
	exit func(code int)

	d      *daemonRun
	cancel context.CancelFunc
	done   chan struct{} // closed when d.run has returned
	err    error         // what d.run returned, once done is closed
}

var _ service.Shutdowner = (*program)(nil)

func (p *program) Start(service.Service) error {
	d, err := p.open()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.d, p.cancel, p.done = d, cancel, make(chan struct{})
	go p.serve(ctx)
	return nil
}

func (p *program) serve(ctx context.Context) {
	defer close(p.done)
	p.err = p.d.run(ctx)
	if ctx.Err() != nil {
		return // asked to stop: halt reports
	}
	p.d.log.Error("listdrop stopped without being asked to; exiting with an error so that the service manager restarts it", "error", p.err)
	p.d.close()
	p.exit(1)
}

func (p *program) Stop(service.Service) error { return p.halt("stop", p.stopWait) }

func (p *program) Shutdown(service.Service) error { return p.halt("shutdown", p.shutdownWait) }

func (p *program) halt(why string, wait time.Duration) error {
	if p.cancel == nil {
		return nil // never started
	}
	p.d.log.Info("listdrop is stopping", "reason", why, "wait", wait)
	p.cancel()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		err := fmt.Errorf("uploads in flight did not finish within %s; they resume at the next start", wait)
		p.d.log.Error("listdrop did not stop in time", "error", err)
		return err
	}
	defer p.d.close()
	if p.err != nil && !errors.Is(p.err, context.Canceled) {
		p.d.log.Error("listdrop stopped with an error", "error", p.err)
		return p.err
	}
	return nil
}
