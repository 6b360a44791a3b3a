//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

const (
	benchClientID  = "listdrop-bench"
	benchSecretEnv = "LISTDROP_BENCH_SECRET"
)

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go" // not on PATH: running it says so
}

// buildListdrop builds the module's listdrop into dir, as a user would.
func buildListdrop(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark from inside the listdrop module (go run ./bench)")
	}
	bin := filepath.Join(dir, "listdrop")
	// -buildvcs=auto: the version then names the commit measured.
	cmd := exec.CommandContext(ctx, goTool(), "build", "-buildvcs=auto", "-o", bin, ".")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build listdrop: %w\n%s", err, out)
	}
	return bin, nil
}

// folderConf is one watched folder of a daemon's configuration.
type folderConf struct {
	path, list string
}

// daemonConf is what a benchmark sets in a daemon's configuration; the rest
// keeps listdrop's defaults.
type daemonConf struct {
	state  string
	settle time.Duration // <0: listdrop's default
	// emptyGrace is how long an empty file must stay empty before it is
	// refused; 0: listdrop's default (5m).
	emptyGrace time.Duration
	rescan     time.Duration // 0: listdrop's default
	workers    int           // 0: listdrop's default
	verify     bool          // follow each upload's validation up (listdrop's default: on)
	split      bool          // every folder imports a file over 20000 bytes as parts
	folders    []folderConf
}

func writeConfig(path string, fake *faketalkdesk.Server, c daemonConf) error {
	var b strings.Builder
	fmt.Fprintf(&b, "talkdesk:\n  api_url: %s\n  token_url: %s\n  client_id: %s\n  client_secret: ${%s}\n",
		fake.URL(), fake.TokenURL(), benchClientID, benchSecretEnv)
	fmt.Fprintf(&b, "state_file: %q\n", c.state)
	if c.settle >= 0 {
		fmt.Fprintf(&b, "settle: %s\n", c.settle)
	}
	if c.emptyGrace > 0 {
		fmt.Fprintf(&b, "empty_grace: %s\n", c.emptyGrace)
	}
	if c.rescan > 0 {
		fmt.Fprintf(&b, "rescan: %s\n", c.rescan)
	}
	if c.workers > 0 {
		fmt.Fprintf(&b, "workers: %d\n", c.workers)
	}
	fmt.Fprintf(&b, "verify: %t\n", c.verify)
	// The admin endpoint stays on, on a free port: daemons follow one
	// another here, and other programs may hold the default one.
	b.WriteString("admin:\n  listen: 127.0.0.1:0\n")
	b.WriteString("folders:\n")
	for _, f := range c.folders {
		fmt.Fprintf(&b, "  - path: %q\n    record_list_id: %q\n", f.path, f.list)
		if c.split {
			b.WriteString("    split: true\n")
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// daemon is one `listdrop run` child process. Its log (standard error) is
// copied to a file, and the moment it says it is watching is noted.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	waitErr error

	watching chan struct{} // closed when the log says "listdrop is watching"
	logDone  chan struct{}

	mu        sync.Mutex
	watchedAt time.Time
	failed    int      // "file failed" lines
	errors    []string // the first few error lines
}

const watchingLine = "listdrop is watching"

func startDaemon(binary, config, secret, logPath string) (*daemon, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "run", "--config", config)
	cmd.Env = append(os.Environ(), benchSecretEnv+"="+secret)
	pr, pw, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	d := &daemon{cmd: cmd, exited: make(chan struct{}), watching: make(chan struct{}), logDone: make(chan struct{})}
	d.started = time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logFile.Close()
		return nil, fmt.Errorf("start listdrop: %w", err)
	}
	pw.Close()
	go d.readLog(pr, logFile)
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

func (d *daemon) readLog(r io.ReadCloser, logFile *os.File) {
	defer close(d.logDone)
	defer r.Close()
	w := bufio.NewWriter(logFile)
	defer func() {
		w.Flush()
		logFile.Close()
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seen := false
	for sc.Scan() {
		line := sc.Bytes()
		if !seen && bytes.Contains(line, []byte(watchingLine)) {
			seen = true
			d.mu.Lock()
			d.watchedAt = time.Now()
			d.mu.Unlock()
			close(d.watching)
		}
		isErr := bytes.Contains(line, []byte("level=ERROR"))
		isFailed := bytes.Contains(line, []byte(`msg="file failed"`))
		if isErr || isFailed {
			d.mu.Lock()
			if isFailed {
				d.failed++
			}
			if len(d.errors) < 5 {
				d.errors = append(d.errors, string(line))
			}
			d.mu.Unlock()
		}
		w.Write(line)
		w.WriteByte('\n')
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// waitWatching waits for the "listdrop is watching" line and returns how
// long after the start of the process it came.
func (d *daemon) waitWatching(ctx context.Context, limit time.Duration) (time.Duration, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-d.watching:
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.watchedAt.Sub(d.started), nil
	case <-d.exited:
		return 0, fmt.Errorf("listdrop exited before watching: %v; %s", d.waitErr, d.problems())
	case <-t.C:
		return 0, fmt.Errorf("listdrop did not start watching within %s", limit)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// problems describes the error lines of the log, if any.
func (d *daemon) problems() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errors) == 0 {
		return "no error in its log"
	}
	return "its log says:\n" + strings.Join(d.errors, "\n")
}

func (d *daemon) failures() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}

// stop asks the daemon to stop as a service manager would (SIGTERM) and
// kills it if it has not exited after its grace period and some.
func (d *daemon) stop() error {
	select {
	case <-d.exited:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(20 * time.Second)
		defer t.Stop()
		select {
		case <-d.exited:
		case <-t.C:
			_ = d.cmd.Process.Kill()
			<-d.exited
			<-d.logDone
			return errors.New("listdrop did not exit within 20s of SIGTERM; killed")
		}
	}
	<-d.logDone
	if d.waitErr != nil {
		return fmt.Errorf("listdrop exited with %v; %s", d.waitErr, d.problems())
	}
	return nil
}
