package main

// Tests of the service shell that need no service manager: the service's
// arguments, the program's Start, Stop and Shutdown, and the commands'
// refusal without administrator rights.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kardianos/service"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
)

// svcWait polls cond until it holds, failing the test after a minute.
func svcWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServiceConfigStoresTheConfigPathAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg, err := newServiceConfig(filepath.Join("etc", "listdrop.yaml"), "svc-user")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"run", "--config", filepath.Join(dir, "etc", "listdrop.yaml")}
	if strings.Join(cfg.Arguments, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("Arguments = %q, want %q", cfg.Arguments, want)
	}
	if !filepath.IsAbs(cfg.Arguments[2]) {
		t.Errorf("config path %q is not absolute", cfg.Arguments[2])
	}
	exe, _ := os.Executable()
	if cfg.Executable != exe || !filepath.IsAbs(cfg.Executable) {
		t.Errorf("Executable = %q, want the running program %q", cfg.Executable, exe)
	}
	if cfg.Name != "listdrop" || cfg.UserName != "svc-user" {
		t.Errorf("Name %q, UserName %q", cfg.Name, cfg.UserName)
	}
}

// The stop deadline leaves uploads in flight their grace period and ends
// before the service managers kill the process.
func TestStopDeadlineSitsBetweenGraceAndKillTimeouts(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile(filepath.Join("packaging", "systemd", "listdrop.service"))
	if err != nil {
		t.Fatal(err)
	}
	var timeoutStop time.Duration
	sc := bufio.NewScanner(strings.NewReader(string(unit)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "TimeoutStopSec="); ok {
			if timeoutStop, err = time.ParseDuration(v); err != nil {
				t.Fatalf("TimeoutStopSec=%s: %v", v, err)
			}
		}
	}
	if timeoutStop == 0 {
		t.Fatal("the unit does not set TimeoutStopSec")
	}
	const windowsKill = 20 * time.Second
	if !(pipelineGrace < stopWait && stopWait < timeoutStop && stopWait < windowsKill) {
		t.Errorf("want grace %s < stop deadline %s < TimeoutStopSec %s and < Windows' %s", pipelineGrace, stopWait, timeoutStop, windowsKill)
	}
	if w := shutdownWait(); w <= 0 || w > stopWait {
		t.Errorf("shutdown deadline %s, want within (0, %s]", w, stopWait)
	}
}

// heldPuts wraps the fake's handler so that PUTs to storage wait for
// release.
type heldPuts struct {
	next    http.Handler
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *heldPuts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		h.once.Do(func() { close(h.started) })
		<-h.release
	}
	h.next.ServeHTTP(w, r)
}

// Stop cancels the daemon and returns only once the upload in flight has
// been committed and the file moved to done/.
func TestProgramStopWaitsForTheUploadInFlight(t *testing.T) {
	t.Parallel()
	fake, err := faketalkdesk.New(faketalkdesk.Options{ClientID: "svc-client", ClientSecret: "svc-secret"})
	if err != nil {
		t.Fatal(err)
	}
	held := &heldPuts{next: fake.Handler(), started: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(held)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(held.release) }) }
	t.Cleanup(release)

	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	path := filepath.Join(dir, "listdrop.yaml")
	writeSvcFile(t, path, fmt.Sprintf(`talkdesk:
  api_url: %s
  token_url: %s/oauth/token
  client_id: svc-client
  client_secret: svc-secret
state_file: state.db
# No admin endpoint: its port may be taken by another test.
admin:
  listen: ""
settle: 0s
rescan: 1s
folders:
  - path: drop
    record_list_id: L1
`, srv.URL, srv.URL))

	logs := &testutil.LockedBuffer{}
	exited := make(chan int, 1)
	prg := &program{
		open:         func() (*daemonRun, error) { return openDaemon(path, logs, nil) },
		stopWait:     stopWait,
		shutdownWait: stopWait,
		exit:         func(code int) { exited <- code },
	}
	if err := prg.Start(nil); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the daemon to watch its folder", func() bool { return strings.Contains(logs.String(), "listdrop is watching") })
	writeSvcFile(t, filepath.Join(drop, "contacts.csv.tmp"), "first_name,mobile_phone\nAda,+12025550100\n")
	if err := os.Rename(filepath.Join(drop, "contacts.csv.tmp"), filepath.Join(drop, "contacts.csv")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.started:
	case <-time.After(time.Minute):
		t.Fatalf("no upload started\n%s", logs.String())
	}

	// What Stop left behind is read the moment it returns: had it not
	// waited, the upload would still be held.
	type outcome struct {
		err     error
		inDone  error
		commits int
	}
	stopped := make(chan outcome, 1)
	go func() {
		err := prg.Stop(nil)
		_, inDone := os.Stat(filepath.Join(drop, "done", "contacts.csv"))
		stopped <- outcome{err, inDone, len(fake.Commits())}
	}()
	svcWait(t, "Stop to cancel the daemon", func() bool { return strings.Contains(logs.String(), "listdrop is stopping") })
	release()
	var got outcome
	select {
	case got = <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("Stop did not return")
	}
	if got.err != nil {
		t.Fatalf("Stop: %v\n%s", got.err, logs.String())
	}
	if got.commits != 1 || got.inDone != nil {
		t.Fatalf("when Stop returned: %d commits (want 1), contacts.csv in done/: %v\n%s", got.commits, got.inDone, logs.String())
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("the fake saw rule violations:\n%s", strings.Join(v, "\n"))
	}
	select {
	case code := <-exited:
		t.Errorf("the program exited with %d after being stopped", code)
	default:
	}
}

func writeSvcFile(t *testing.T, path, content string) {
	t.Helper()
	testutil.WriteFile(t, path, []byte(content))
}

// stuckDaemon is a daemon that notices cancellation but does not return
// until released, like an upload that outlasts its grace period.
func stuckDaemon(canceled chan<- struct{}, release <-chan struct{}) func() (*daemonRun, error) {
	return func() (*daemonRun, error) {
		return &daemonRun{
			run: func(ctx context.Context) error {
				<-ctx.Done()
				close(canceled)
				<-release
				return nil
			},
			log:      discardLogger(),
			closeLog: nopCloser{},
		}, nil
	}
}

func TestProgramStopAndShutdownGiveUpAtTheirDeadlines(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		halt func(*program) error
		// stop and shutdown deadlines; the one not under test is too long
		// for the test to wait out.
		stop, shutdown time.Duration
	}{
		{"Stop", func(p *program) error { return p.Stop(nil) }, 50 * time.Millisecond, time.Hour},
		{"Shutdown", func(p *program) error { return p.Shutdown(nil) }, time.Hour, 50 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			canceled, release := make(chan struct{}), make(chan struct{})
			defer close(release)
			prg := &program{open: stuckDaemon(canceled, release), stopWait: tt.stop, shutdownWait: tt.shutdown,
				exit: func(code int) { t.Errorf("exit(%d) after %s", code, tt.name) }}
			if err := prg.Start(nil); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- tt.halt(prg) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "did not finish within 50ms") {
					t.Errorf("%s = %v, want the deadline error", tt.name, err)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s did not give up at its own deadline", tt.name)
			}
			select {
			case <-canceled:
			default:
				t.Errorf("%s did not cancel the daemon", tt.name)
			}
		})
	}
}

func TestProgramShutdownWaitsLikeStop(t *testing.T) {
	t.Parallel()
	var seq atomic.Int64
	var ranUntil atomic.Int64
	prg := &program{
		open: func() (*daemonRun, error) {
			return &daemonRun{run: func(ctx context.Context) error {
				<-ctx.Done()
				ranUntil.Store(seq.Add(1))
				return ctx.Err()
			}, log: discardLogger(), closeLog: nopCloser{}}, nil
		},
		stopWait: time.Hour, shutdownWait: time.Minute,
		exit: func(code int) { t.Errorf("exit(%d) after Shutdown", code) },
	}
	if err := prg.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := prg.Shutdown(nil); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if returned := seq.Add(1); ranUntil.Load() == 0 || ranUntil.Load() > returned {
		t.Fatal("Shutdown returned before the daemon did")
	}
}

// A daemon that ends without being asked to (the state file is locked by
// another process, say) makes the process exit with an error, so that the
// service manager's recovery restarts it.
func TestProgramExitsWhenTheDaemonStopsByItself(t *testing.T) {
	t.Parallel()
	exited := make(chan int, 1)
	logs := &testutil.LockedBuffer{}
	prg := &program{
		open: func() (*daemonRun, error) {
			return &daemonRun{run: func(context.Context) error { return errors.New("state file is in use by another process") },
				log: newTestLogger(logs), closeLog: nopCloser{}}, nil
		},
		stopWait: time.Minute, shutdownWait: time.Minute,
		exit: func(code int) { exited <- code },
	}
	if err := prg.Start(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code == 0 {
			t.Error("exit code 0")
		}
	case <-time.After(time.Minute):
		t.Fatal("the program did not exit")
	}
	if !strings.Contains(logs.String(), "state file is in use by another process") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
}

// A configuration that does not load fails Start, so that the service
// manager records a failed start, and is reported to the system log.
func TestProgramStartFailsOnABadConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "listdrop.yaml")
	writeSvcFile(t, path, "workerz: 3\n")
	events := &fakeSystemLog{}
	prg := &program{open: func() (*daemonRun, error) {
		return openDaemon(path, &testutil.LockedBuffer{}, newSystemHandler(events))
	},
		exit: func(code int) { t.Errorf("exit(%d)", code) }}
	err := prg.Start(nil)
	if err == nil || !strings.Contains(err.Error(), "workerz") {
		t.Fatalf("Start = %v, want the config's error", err)
	}
	if got := events.all(); len(got) != 1 || !strings.HasPrefix(got[0], "error: ") || !strings.Contains(got[0], "workerz") {
		t.Errorf("system log = %q, want one error naming workerz", got)
	}
	if err := prg.Stop(nil); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

var _ service.Shutdowner = (*program)(nil)

func TestServiceCommandsNeedElevation(t *testing.T) {
	t.Parallel()
	m := thisMachine
	m.elevated = func() bool { return false }
	cfg := filepath.Join(t.TempDir(), "listdrop.yaml")
	writeSvcFile(t, cfg, "x: 1\n")
	for _, args := range [][]string{{"install", "--config", cfg}, {"uninstall"}, {"start"}, {"stop"}, {"restart"}} {
		var stdout, stderr strings.Builder
		err := m.run(context.Background(), args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), elevationHint) {
			t.Errorf("%s without rights: %v, want %q", args[0], err, elevationHint)
		}
	}
}

func TestServiceCommandsRefuseExtraArguments(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"status", "now"}, {"start", "--config", "x"}, {"install", "extra"}} {
		var stdout, stderr strings.Builder
		if err := run(context.Background(), args, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
