package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
)

// setAdmin replaces the admin section of the test configuration.
func (e *e2e) setAdmin(section string) {
	e.t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^admin:\n(  .*\n)+`)
	if !re.Match(cfg) {
		e.t.Fatal("the test config has no admin section to change")
	}
	writeFile(e.t, e.config, re.ReplaceAllLiteral(cfg, []byte(section)))
}

// An endpoint other machines could reach is refused at validate and at
// start, with the sentence that says how to enable TLS and a password;
// so is a web configuration that turns on only one of them.
func TestAdminOffLoopbackRefusesToStartWithoutTLSAndAuth(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	e.setAdmin("admin:\n  listen: \"0.0.0.0:0\"\n")
	env := []string{"E2E_SECRET=" + e2eSecret}
	for _, cmd := range []string{"validate", "run"} {
		_, stderr, code := runCLI(t, env, cmd, "--config", e.config)
		if code != 1 || !strings.Contains(stderr, "admin.listen: 0.0.0.0:0 can be reached from other machines") ||
			!strings.Contains(stderr, "set admin.web_config_file") {
			t.Errorf("%s without a web configuration: exit %d, stderr %q", cmd, code, stderr)
		}
	}
	dir := filepath.Dir(e.config)
	writeTestCert(t, dir)
	writeFile(t, filepath.Join(dir, "web.yml"), []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"))
	e.setAdmin("admin:\n  listen: \"0.0.0.0:0\"\n  web_config_file: web.yml\n")
	for _, cmd := range []string{"validate", "run"} {
		_, stderr, code := runCLI(t, env, cmd, "--config", e.config)
		if code != 1 || !strings.Contains(stderr, "admin.web_config_file: ") || !strings.Contains(stderr, "add basic_auth_users") {
			t.Errorf("%s with TLS and no password: exit %d, stderr %q", cmd, code, stderr)
		}
	}
	if exists(admin.TokenPath(filepath.Join(dir, "state", "listdrop.db"))) {
		t.Error("a daemon that refused to start left a token file")
	}
}

// The daemon writes a new token at each start, which the commands read;
// a token that is not the daemon's, or none, is refused with a sentence
// that says why; a clean stop removes the file.
func TestCommandsSendTheDaemonsToken(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	d := e.start()
	tokenFile := admin.TokenPath(filepath.Join(e.dir, "state", "listdrop.db"))
	var token string
	e.eventually("the token file", func() bool {
		var err error
		token, err = admin.ReadToken(tokenFile)
		return err == nil
	})
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file: %v %v, want mode 0600", fi.Mode(), err)
		}
	}
	e.eventually("the endpoint", func() bool {
		out, _, code := e.cli("status")
		return code == 0 && strings.HasPrefix(out, "listdrop is running")
	})

	writeFile(t, tokenFile, []byte(strings.Repeat("0", 64)+"\n"))
	for _, cmd := range []string{"status", "history"} {
		_, stderr, code := e.cli(cmd)
		if code != 1 || !strings.Contains(stderr, "refused the command: the token in "+tokenFile+" is not the daemon's") {
			t.Errorf("%s with a wrong token: exit %d, stderr %q", cmd, code, stderr)
		}
	}
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := e.cli("status"); code != 1 || !strings.Contains(stderr, tokenFile+" does not exist") {
		t.Errorf("status without a token file: exit %d, stderr %q", code, stderr)
	}
	writeFile(t, tokenFile, []byte(token+"\n"))
	if out, stderr, code := e.cli("status"); code != 0 || !strings.HasPrefix(out, "listdrop is running") {
		t.Fatalf("status with the token back: exit %d, %s%s", code, out, stderr)
	}
	if runtime.GOOS == "windows" {
		return // no SIGTERM: the stop is not clean there
	}
	d.stop(t)
	if exists(tokenFile) {
		t.Error("a clean stop left the token file")
	}
	if out, stderr, code := e.cli("status"); code != 0 || !strings.HasPrefix(out, "listdrop is not running") {
		t.Fatalf("status after the stop: exit %d, %s%s", code, out, stderr)
	}
}

// With TLS and basic authentication on loopback, the commands reach the
// daemon over HTTPS (trusting the certificate of the web configuration)
// with the user and password of the environment, and say which variables
// to set when they are missing.
func TestCommandsOverTLSAndBasicAuth(t *testing.T) {
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	dir := filepath.Dir(e.config)
	writeTestCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "web.yml"), []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  ops: "+string(hash)+"\n"))
	e.setAdmin("admin:\n  listen: \"" + e2eListen + "\"\n  web_config_file: web.yml\n")
	e.start()
	t.Setenv(envAdminUser, "")
	var stderr string
	e.eventually("the endpoint to ask for a password", func() bool {
		_, stderr, _ = e.cli("status")
		return strings.Contains(stderr, "it asks for a user name and password")
	})
	if !strings.Contains(stderr, "set "+envAdminUser+" and "+envAdminPassword) {
		t.Fatalf("status without a password: %q", stderr)
	}
	t.Setenv(envAdminUser, "ops")
	t.Setenv(envAdminPassword, "wrong")
	if _, stderr, code := e.cli("status"); code != 1 || !strings.Contains(stderr, "password in "+envAdminUser+" and "+envAdminPassword+" is wrong") {
		t.Fatalf("status with a wrong password: exit %d, %q", code, stderr)
	}
	t.Setenv(envAdminPassword, "s3cret-pw")
	if out, stderr, code := e.cli("status"); code != 0 || !strings.HasPrefix(out, "listdrop is running") {
		t.Fatalf("status with the password: exit %d, %s%s", code, out, stderr)
	}
	if out, stderr, code := e.cli("history"); code != 0 || !strings.Contains(out, "no files in this period") {
		t.Fatalf("history with the password: exit %d, %s%s", code, out, stderr)
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// into dir as cert.pem and key.pem.
func writeTestCert(t *testing.T, dir string) {
	t.Helper()
	cert, key := testutil.CertFor127(t)
	testutil.WriteFile(t, filepath.Join(dir, "cert.pem"), cert)
	testutil.WriteFile(t, filepath.Join(dir, "key.pem"), key)
}

// A callback endpoint over plain http is warned about at validate and at
// start, naming the key and not the header's value.
func TestPlainHTTPCallbackIsWarnedAbout(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.Replace(string(cfg), "https://hooks.example.com/x", "http://hooks.example.com/x", 1)
	if plain == string(cfg) {
		t.Fatal("the test config has no callback endpoint to change")
	}
	writeFile(t, e.config, []byte(plain))
	const want = "folders[0].callback_action.endpoint is plain http: Talkdesk will send its headers (often an API key) and its body in clear to hooks.example.com; use an https URL"
	_, stderr, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "validate", "--config", e.config)
	if code != 0 || !strings.Contains(stderr, "listdrop: warning: "+want) || strings.Contains(stderr, e2eHookKey) {
		t.Fatalf("validate: exit %d, stderr %q", code, stderr)
	}
	d := e.start()
	e.eventually("the warning in the log", func() bool { return strings.Contains(d.out.String(), want) })
	if strings.Contains(d.out.String(), e2eHookKey) {
		t.Fatal("the log shows the callback header's value")
	}
}

// listdrop open needs the running daemon, and says so.
func TestOpenWithoutTheDaemon(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	if _, stderr, code := e.cli("open"); code != 1 || !strings.Contains(stderr, "nothing answers at the admin endpoint "+e.admin) {
		t.Fatalf("open without the daemon: exit %d, %q", code, stderr)
	}
	e.setAdmin("admin:\n  listen: \"\"\n")
	if _, stderr, code := e.cli("open"); code != 1 || !strings.Contains(stderr, "admin endpoint, which is off") {
		t.Fatalf("open with the endpoint off: exit %d, %q", code, stderr)
	}
}
