package main

// Helpers for the tests of status, history, retry and upload: golden files
// and transcripts of the real binary with the run-dependent parts (times,
// paths, upload request ids, the version) replaced by fixed text.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/testutil"
	"github.com/listdrop/listdrop/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the commands print now")

// golden compares got with testdata/name; with -update it writes got there.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run '%s' -update writes it)", err, t.Name())
	}
	if got != strings.ReplaceAll(string(want), "\r\n", "\n") {
		t.Errorf("the output differs from %s (go test -run '%s' -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, t.Name(), got, want)
	}
}

// cliEnv is the environment the commands run with: the config's secret,
// and UTC, so that times print the same everywhere.
func cliEnv() []string { return []string{"E2E_SECRET=" + e2eSecret, "TZ=UTC"} }

// cli runs `listdrop CMD --config <e.config> ARGS...`.
func (e *e2e) cli(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	return e.cliIn("", args...)
}

// cliIn is cli in the working folder dir ("": the test's).
func (e *e2e) cliIn(dir string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := exec.Command(binary, append([]string{args[0], "--config", e.config}, args[1:]...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cliEnv()...)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	cmd, err := testutil.Run(e.t, cmd)
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		e.t.Fatal(err)
	}
	return o.String(), er.String(), code
}

// transcript runs a command and returns what a terminal would show, with
// the command line first, normalised.
func (e *e2e) transcript(args ...string) string {
	e.t.Helper()
	return e.transcriptIn("", args...)
}

// transcriptIn is transcript in the working folder dir.
func (e *e2e) transcriptIn(dir string, args ...string) string {
	e.t.Helper()
	stdout, stderr, code := e.cliIn(dir, args...)
	var b strings.Builder
	fmt.Fprintf(&b, "$ listdrop %s\n%s%s", strings.Join(args, " "), stdout, stderr)
	if code != 0 {
		fmt.Fprintf(&b, "(exit status %d)\n", code)
	}
	return e.normalize(b.String())
}

var (
	timeRE     = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Za-z][A-Za-z0-9+-]*`)
	uuidRE     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	triesRE    = regexp.MustCompile(`\d+ failed tr(y|ies)`)
	serviceRE  = regexp.MustCompile(`(?m)^Service: .*\n`)
	versionRE  = regexp.MustCompile(`version \S+, started`)
	rfc3339RE  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	fixedTime  = "2006-01-02 15:04:05 UTC" // as wide as the times it replaces
	fixedStamp = "2006-01-02T15:04:05Z"
)

// normalize replaces what differs from run to run. Upload request ids
// become xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxNN, NN their order of creation
// at the fake, so that the same request keeps the same number throughout
// a test; the replacements keep the width of what they replace, so that
// columns stay aligned.
func (e *e2e) normalize(s string) string {
	for i, ur := range e.fake.UploadRequests() {
		s = strings.ReplaceAll(s, ur.ID, fmt.Sprintf("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx%02d", i+1))
	}
	s = uuidRE.ReplaceAllString(s, "ffffffff-ffff-ffff-ffff-ffffffffffff") // not the fake's
	s = timeRE.ReplaceAllString(s, fixedTime)
	s = rfc3339RE.ReplaceAllString(s, fixedStamp)
	s = triesRE.ReplaceAllString(s, "N failed tries")
	s = versionRE.ReplaceAllString(s, "version VERSION, started")
	// The service line says whether this machine has listdrop installed.
	s = serviceRE.ReplaceAllString(s, "")
	if e.admin != "" { // known once a daemon has started
		s = strings.ReplaceAll(s, e.admin, "ADMIN")
	}
	s = strings.ReplaceAll(s, e.dir, "$DIR")
	if runtime.GOOS == "windows" {
		s = strings.ReplaceAll(s, `\`, "/")
	}
	return s
}

// adminGet decodes a GET of the daemon's admin endpoint; it reports false
// while the endpoint does not answer (the daemon is starting), for polls.
func (e *e2e) adminGet(path string, out any) bool {
	e.t.Helper()
	// The daemon writes a new token at each start, before it listens.
	token, err := admin.ReadToken(admin.TokenPath(filepath.Join(e.dir, "state", "listdrop.db")))
	if err != nil {
		return false
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+e.admin+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		e.t.Fatal(err)
	}
	return true
}

// history is the running daemon's history (none while it does not
// answer).
func (e *e2e) history() []state.Entry {
	e.t.Helper()
	var h []state.Entry
	e.adminGet("/history", &h)
	return h
}

// status is the running daemon's status (empty while it does not answer).
func (e *e2e) status() admin.Report {
	e.t.Helper()
	var r admin.Report
	e.adminGet("/status", &r)
	return r
}

// finished counts the history entries of a dropped file with a result.
func finished(h []state.Entry, name string, result state.Result) int {
	n := 0
	for _, en := range h {
		if filepath.Base(en.Source) == name && en.Result == result {
			n++
		}
	}
	return n
}

// writeFile writes a file, making its folder.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAdminAddress(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ listen, want string }{
		{"127.0.0.1:9464", "http://127.0.0.1:9464"},
		{"0.0.0.0:9464", "http://127.0.0.1:9464"},
		{":9464", "http://127.0.0.1:9464"},
		{"[::]:9464", "http://[::1]:9464"},
		{"[::1]:80", "http://[::1]:80"},
		{"monitor.example.com:9", "http://monitor.example.com:9"},
	} {
		if a := newAdminClient(&config.Config{Admin: config.Admin{Listen: c.listen}}); a == nil || a.base != c.want {
			t.Errorf("%q: %+v, want %s", c.listen, a, c.want)
		}
	}
	if a := newAdminClient(&config.Config{}); a != nil {
		t.Errorf("an empty admin.listen gave a client: %+v", a)
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args  []string
		force bool
		pos   string
	}{
		{[]string{"a.csv", "b.csv"}, false, "a.csv b.csv"},
		{[]string{"--force", "a.csv"}, true, "a.csv"},
		{[]string{"a.csv", "--force", "b.csv"}, true, "a.csv b.csv"},
		{[]string{"a.csv", "--", "--force"}, false, "a.csv --force"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		force := fs.Bool("force", false, "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil || *force != c.force || strings.Join(pos, " ") != c.pos {
			t.Errorf("%q: %q force=%v %v", c.args, pos, *force, err)
		}
	}
}

// halt stops a daemon: by SIGTERM where there is one; on Windows by
// TerminateProcess, which the state survives as it survives a crash.
func halt(t *testing.T, d *daemon) {
	t.Helper()
	if runtime.GOOS != "windows" {
		d.stop(t)
		return
	}
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.exited
}
