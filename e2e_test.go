package main

// End-to-end tests: the real binary, built once, on real folders, against
// the fake Talkdesk API and S3 over loopback HTTP.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
)

var binary string

func TestMain(m *testing.M) {
	// Where there is no Go toolchain (the tests run as a Windows program
	// under Wine), the binary is built beforehand and named here.
	if b := os.Getenv("LISTDROP_TEST_BINARY"); b != "" {
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "listdrop-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "listdrop")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	if err := testutil.BuildListdrop(".", binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	e2eClientID = "e2e-client"
	e2eSecret   = "Sup3r-s3cret-for-e2e"
	e2eHookKey  = "hook-header-value-77"
)

type e2e struct {
	t       *testing.T
	fake    *faketalkdesk.Server
	dir     string
	config  string
	folders []string
	admin   string // the admin endpoint's address
	// sys, when set, starts the daemon with these attributes (another
	// user, in unreadable_e2e_test.go).
	sys *syscall.SysProcAttr
}

// e2eListen is the admin address the tests configure: port 0, so that the
// system picks a port nothing uses and no test depends on one being free.
// start reads the port the daemon got from its log.
const e2eListen = "127.0.0.1:0"

// newE2E writes a configuration with one folder per list.
func newE2E(t *testing.T, opts faketalkdesk.Options, lists []string, extra string) *e2e {
	t.Helper()
	opts.ClientID, opts.ClientSecret = e2eClientID, e2eSecret
	fake := faketalkdesk.StartForTest(t, opts)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "talkdesk:\n  api_url: %s\n  token_url: %s\n  client_id: %s\n  client_secret: ${E2E_SECRET}\n  timeout: 5s\n",
		fake.URL(), fake.TokenURL(), e2eClientID)
	fmt.Fprintf(&b, "state_file: state/listdrop.db\nsettle: 100ms\nrescan: 1s\nworkers: 4\nadmin:\n  listen: %q\n", e2eListen)
	if !strings.Contains(extra, "empty_grace:") {
		b.WriteString("empty_grace: 1s\n") // empty files are failed soon; writers_e2e_test.go sets it
	}
	fmt.Fprintf(&b, "retry:\n  max_backoff: 200ms\n  give_up_after: 1h\n%s\nfolders:\n", extra)
	e := &e2e{t: t, fake: fake, dir: dir, config: filepath.Join(dir, "listdrop.yaml")}
	t.Cleanup(e.describeOnFailure)
	for i, l := range lists {
		fmt.Fprintf(&b, "  - path: drop%d\n    record_list_id: %q\n", i, l)
		fmt.Fprintf(&b, "    callback_action: {endpoint: \"https://hooks.example.com/x\", method: POST, headers: {x-api-key: %q}}\n", e2eHookKey)
		e.folders = append(e.folders, filepath.Join(dir, fmt.Sprintf("drop%d", i)))
	}
	if err := os.WriteFile(e.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// describeOnFailure logs, when the test failed, what was in the test's
// folder and the last requests the fake answered: with the daemon's
// output, what a failure that cannot be reproduced at will is read from.
func (e *e2e) describeOnFailure() {
	if !e.t.Failed() {
		return
	}
	var b strings.Builder
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != e.dir {
			rel, _ := filepath.Rel(e.dir, p)
			b.WriteString("  " + rel + "\n")
		}
		return nil
	})
	e.t.Logf("the test's folder held:\n%s", b.String())
	reqs := e.fake.Requests()
	b.Reset()
	for _, r := range reqs[max(0, len(reqs)-20):] {
		fmt.Fprintf(&b, "  %s %s %s → %d\n", r.At.Format("15:04:05.000"), r.Method, r.Path, r.Status)
	}
	e.t.Logf("the fake answered %d requests; the last ones:\n%s", len(reqs), b.String())
}

// daemon is one running `listdrop run`.
type daemon struct {
	cmd    *exec.Cmd
	out    *testutil.LockedBuffer
	exited chan struct{}
	err    error
	// endedOutside is set when the test ended a process stuck at its
	// crash point under Wine (see watchWineCrash).
	endedOutside atomic.Bool
}

func (e *e2e) start(args ...string) *daemon {
	e.t.Helper()
	d := e.launch(args...)
	// Wait until the folders are prepared: the daemon is up.
	for _, f := range e.folders {
		e.eventually("the daemon to prepare "+f, func() bool { return exists(filepath.Join(f, ".listdrop")) })
	}
	e.learnAdmin(d)
	return d
}

var (
	listenLine    = regexp.MustCompile(`(?m)^  listen: "(.*)"$`)
	listeningLine = regexp.MustCompile(`msg="admin endpoint listening" addr=(\S+)`)
)

// learnAdmin sets e.admin to the address the daemon's admin endpoint
// answers at and, when the configuration asked for port 0, writes that
// address into it, so that the commands run against it find the daemon.
func (e *e2e) learnAdmin(d *daemon) {
	e.t.Helper()
	m := listenLine.FindSubmatch(e.readConfig())
	if m == nil || string(m[1]) == "" {
		e.admin = ""
		return
	}
	if _, port, _ := net.SplitHostPort(string(m[1])); port != "0" {
		e.admin = string(m[1])
		return
	}
	e.eventually("the daemon to say where its admin endpoint listens", func() bool {
		if m := listeningLine.FindStringSubmatch(d.out.String()); m != nil {
			e.admin = m[1]
			e.setListen(e.admin)
			return true
		}
		select {
		case <-d.exited:
			return true // before it listened: the test says what it expected
		default:
			return false
		}
	})
}

// freshListen asks for port 0 again where the configuration names the port
// an earlier daemon got: that port may be anyone's by now.
func (e *e2e) freshListen() {
	e.t.Helper()
	if m := listenLine.FindSubmatch(e.readConfig()); e.admin != "" && m != nil && string(m[1]) == e.admin {
		e.setListen(e2eListen)
	}
}

// setListen writes listen as admin.listen into the configuration.
func (e *e2e) setListen(listen string) {
	e.t.Helper()
	cfg := listenLine.ReplaceAllLiteral(e.readConfig(), []byte("  listen: "+strconv.Quote(listen)))
	if err := os.WriteFile(e.config, cfg, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) readConfig() []byte {
	e.t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// launch starts the daemon without waiting for it to be up.
func (e *e2e) launch(args ...string) *daemon {
	e.t.Helper()
	e.freshListen()
	cmd := exec.Command(binary, append([]string{"run", "--config", e.config}, args...)...)
	cmd.SysProcAttr = e.sys
	cmd.Env = append(os.Environ(), "E2E_SECRET="+e2eSecret)
	d := &daemon{cmd: cmd, out: &testutil.LockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd = testutil.Start(e.t, cmd)
	d.cmd = cmd
	go func() { d.err = cmd.Wait(); close(d.exited) }()
	e.t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			cmd.Process.Kill()
			<-d.exited
		}
		if e.t.Failed() {
			e.t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
// end ends a daemon whose work is done and on disk: with SIGTERM where
// there is one; on Windows, which has none to send, with TerminateProcess.
func (d *daemon) end(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		d.cmd.Process.Kill()
		<-d.exited
		return
	}
	d.stop(t)
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not exit within 30s of SIGTERM")
	}
	if d.err != nil {
		t.Fatalf("the daemon exited with %v after SIGTERM\n%s", d.err, d.out.String())
	}
}

func (e *e2e) eventually(what string, cond func() bool) {
	e.t.Helper()
	testutil.Eventually(e.t, 60*time.Second, what, cond)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (e *e2e) drop(folder int, name string, data []byte) {
	e.t.Helper()
	tmp := filepath.Join(e.folders[folder], name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.folders[folder], name)); err != nil {
		e.t.Fatal(err)
	}
}

func count(t *testing.T, dir string) int {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

// heldFiles lists what the claim folders of a drop folder hold, but for
// heartbeats.
func heldFiles(t *testing.T, folder string) []string {
	var out []string
	filepath.WalkDir(filepath.Join(folder, ".listdrop"), func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() && de.Name() != ".alive" {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func rows(tag string) []byte {
	return []byte(fmt.Sprintf("first_name,last_name,mobile_phone\n%s,Tester,+12025550100\n", tag))
}

func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd, err := testutil.Run(t, cmd)
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestCLIValidate(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	out, errOut, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "validate", "--config", e.config)
	if code != 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "2 folders") {
		t.Fatalf("validate good config: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(out+errOut, e2eSecret) {
		t.Fatal("validate printed the secret")
	}

	bad := []struct{ name, yaml, want string }{
		{"missing list", "talkdesk: {region: us, account: acme, client_id: a, client_secret: b}\nfolders:\n  - path: x\n", "folders[0].record_list_id"},
		{"unknown key", "talkdesk: {region: us, account: acme, client_id: a, client_secret: b}\nworkerz: 3\nfolders:\n  - {path: x, record_list_id: L}\n", "workerz"},
		{"http api", "talkdesk: {api_url: 'http://api.example.com', token_url: 'https://t.example.com/oauth/token', client_id: a, client_secret: b}\nfolders:\n  - {path: x, record_list_id: L}\n", "talkdesk.api_url"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(p, []byte(b.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := runCLI(t, nil, "validate", "--config", p)
			if code == 0 || !strings.Contains(errOut, b.want) {
				t.Fatalf("code %d, stderr %q: want non-zero and %q", code, errOut, b.want)
			}
		})
	}
}

func TestCLIVersionAndUsage(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "listdrop ") {
		t.Fatalf("version: %d %q", code, out)
	}
	_, errOut, code := runCLI(t, nil)
	if code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Fatalf("no arguments: %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
}

func TestRunUploadsAndStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no SIGTERM to send; TestWindowsStopsCleanlyOnCtrlBreak stops the daemon there")
	}
	e := newE2E(t, faketalkdesk.Options{SignContentMD5: true, TokenTTL: 2 * time.Second}, []string{"L1", "L2"}, "log:\n  level: debug\n")
	d := e.start()
	for i := range 6 {
		e.drop(i%2, fmt.Sprintf("file-%d.csv", i), rows(fmt.Sprint("r", i)))
	}
	e.drop(0, "empty.csv", nil)
	e.eventually("6 files in done/", func() bool {
		return count(t, filepath.Join(e.folders[0], "done"))+count(t, filepath.Join(e.folders[1], "done")) == 6
	})
	e.eventually("empty.csv in failed/", func() bool { return exists(filepath.Join(e.folders[0], "failed", "empty.csv.error.txt")) })
	d.stop(t)
	if n := len(e.fake.Commits()); n != 6 {
		t.Fatalf("commits = %d, want 6", n)
	}
	// Nothing secret in a whole run at debug level.
	out := d.out.String()
	for _, s := range append(e.fake.Secrets(), e2eHookKey) {
		if s != "" && strings.Contains(out, s) {
			t.Fatalf("the daemon's output holds a secret value (%d characters long)", len(s))
		}
	}
	for _, f := range e.folders {
		filepath.WalkDir(f, func(p string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasSuffix(p, ".error.txt") {
				return err
			}
			b, _ := os.ReadFile(p)
			for _, s := range append(e.fake.Secrets(), e2eHookKey) {
				if s != "" && bytes.Contains(b, []byte(s)) {
					t.Fatalf("%s holds a secret value", p)
				}
			}
			return nil
		})
	}
	// Nor in the state file, which records every file and its upload.
	db, err := os.ReadFile(filepath.Join(e.dir, "state", "listdrop.db"))
	if err != nil || !bytes.Contains(db, []byte("file-0.csv")) {
		t.Fatalf("the state file does not hold the run's records (%v): the check below would prove nothing", err)
	}
	for _, s := range append(e.fake.Secrets(), e2eHookKey) {
		if s != "" && bytes.Contains(db, []byte(s)) {
			t.Fatalf("the state file holds a secret value (%d characters long)", len(s))
		}
	}
	if !strings.Contains(out, "file uploaded") || !strings.Contains(out, "listdrop stopped") {
		t.Fatalf("the log lacks the expected lines:\n%s", out)
	}
}

func TestSecondDaemonOnTheSameStateFailsClearly(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	e.start()
	start := time.Now()
	_, errOut, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "run", "--config", e.config)
	if code == 0 || !strings.Contains(errOut, "in use by another process") {
		t.Fatalf("second daemon: code %d, stderr %q", code, errOut)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("the second daemon took %v to give up", time.Since(start))
	}
}

// TestKill9MidBurstThenRestart kills the daemon without warning twice in
// the middle of a burst: after each restart every file still ends in done/,
// and no content is committed twice.
func TestKill9MidBurstThenRestart(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("it ends with SIGTERM, which Windows lacks; TestWindowsKillMidBurstThenRestart is this test there")
	}
	lists := []string{"L1", "L2", "L3"}
	e := newE2E(t, faketalkdesk.Options{Latency: 5 * time.Millisecond}, lists, "")
	const n = 150
	want := map[string]bool{}
	d := e.start()
	for i := range n {
		body := rows(fmt.Sprintf("kill%03d", i))
		sum := md5.Sum(body)
		want[hex.EncodeToString(sum[:])] = true
		e.drop(i%len(lists), fmt.Sprintf("k%03d.csv", i), body)
	}
	for _, at := range []int{20, 70} {
		e.eventually(fmt.Sprintf("%d commits", at), func() bool { return len(e.fake.Commits()) >= at })
		if err := d.cmd.Process.Kill(); err != nil { // SIGKILL: no clean-up at all
			t.Fatal(err)
		}
		<-d.exited
		t.Logf("killed after %d commits", len(e.fake.Commits()))
		d = e.start()
	}
	e.eventually("every file in done/", func() bool {
		c := 0
		for _, f := range e.folders {
			c += count(t, filepath.Join(f, "done"))
		}
		return c == n
	})
	d.stop(t)
	seen := map[string]int{}
	for _, c := range e.fake.Commits() {
		seen[c.Checksum]++
	}
	for sum := range want {
		if seen[sum] != 1 {
			t.Errorf("content %s committed %d times", sum, seen[sum])
		}
	}
	if len(seen) != n {
		t.Errorf("distinct contents committed = %d, want %d", len(seen), n)
	}
	for _, f := range e.folders {
		if c := count(t, filepath.Join(f, "failed")); c != 0 {
			t.Errorf("%s/failed has %d files", f, c)
		}
		if held := heldFiles(t, f); len(held) != 0 {
			t.Errorf("%s/.listdrop still holds %v", f, held)
		}
	}
}

// TestForcedDuplicateSurvivesKill9: a duplicate let through by retry
// --force is imported even when the daemon is killed after it took the
// file (and used up its allowance) and before the file's PATCH.
func TestForcedDuplicateSurvivesKill9(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("kills with SIGKILL")
	}
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	env := []string{"E2E_SECRET=" + e2eSecret}
	done := func(name string) string { return filepath.Join(e.folders[0], "done", name) }
	failed := func(name string) string { return filepath.Join(e.folders[0], "failed", name) }
	d := e.start()
	body := rows("forced")
	e.drop(0, "a.csv", body)
	e.eventually("a.csv in done/", func() bool { return exists(done("a.csv")) })
	e.drop(0, "b.csv", body)
	e.eventually("b.csv refused as a duplicate", func() bool { return exists(failed("b.csv")) })
	d.stop(t)
	if out, errOut, code := runCLI(t, env, "retry", "--config", e.config, "--force", "b.csv"); code != 0 {
		t.Fatalf("retry --force: %d %q %q", code, out, errOut)
	}
	// The daemon takes b.csv, uses up its allowance and asks for an upload
	// request, which hangs: it is killed there.
	e.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Hang: true})
	d = e.start()
	e.eventually("the upload request of b.csv", func() bool { return e.fake.PendingFaults() == 0 })
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.exited
	d = e.start()
	e.eventually("b.csv in done/ or failed/", func() bool { return exists(done("b.csv")) || exists(failed("b.csv")) })
	d.stop(t)
	if !exists(done("b.csv")) {
		t.Fatal("b.csv, let through by retry --force, was refused as a duplicate after the restart")
	}
	if n := len(e.fake.Commits()); n != 2 {
		t.Fatalf("commits = %d, want 2", n)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the demo prints Windows paths there; TestWindowsDemo checks them")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, "demo", "--dir", dir, "--quiet")
	cmd.Stdout, cmd.Stderr = &out, &out
	if _, err := testutil.Run(t, cmd); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"$ listdrop validate --online", "token OK: client listdrop-demo authenticated (client_secret_basic)", "contacts  6c0c0a3a-2b7e-4a57-9a61-5e1b8f4bd0a1  Demo contacts  ACCEPTED  0",
		"committed to record list", "contacts/done/contacts.csv", "contacts/failed/contacts-again.csv", "This file is empty",
		"Line 2 does not have as many fields as the header line", "Talkdesk's validation of contacts.csv: ACCEPTED",
		"contacts/done/campaign.csv (in 4 parts)", "campaign-part1of4.csv", "campaign-part4of4.csv", "Talkdesk's validation of campaign.csv: ACCEPTED"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !exists(filepath.Join(dir, "contacts", "done", "contacts.csv")) {
		t.Fatal("the demo's file is not in done/")
	}
	if t.Failed() {
		t.Log(s)
	}
}
