package main

// End-to-end tests of `listdrop validate --online` and of signed-key
// credentials: the real binary against the fake Talkdesk over loopback.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
)

var (
	e2eECKey  = testutil.ECKey
	e2eRSAKey = testutil.RSAKey
)

// keyPEM is the PKCS#8 PEM of a private key, as openssl genpkey writes it.
func keyPEM(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// onlineSetup is a configuration and the fake it points at.
type onlineSetup struct {
	fake    *faketalkdesk.Server
	dir     string
	config  string
	secrets []string // what no output may show, besides the fake's Secrets
}

// auth is the credentials part of a configuration.
type auth struct {
	secret string        // client_secret, from the environment
	key    crypto.Signer // private_key_file, written beside the config
}

// newOnline writes a configuration for lists, with cred, pointing at an
// already created fake served at base (its token URL is base/oauth/token).
func newOnline(t *testing.T, fake *faketalkdesk.Server, base string, cred auth, lists []string, extra string) *onlineSetup {
	t.Helper()
	s := &onlineSetup{fake: fake, dir: t.TempDir()}
	s.config = filepath.Join(s.dir, "listdrop.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "talkdesk:\n  api_url: %s\n  token_url: %s/oauth/token\n  client_id: %s\n  timeout: 5s\n", base, base, e2eClientID)
	if cred.secret != "" {
		b.WriteString("  client_secret: ${E2E_SECRET}\n")
		s.secrets = append(s.secrets, cred.secret)
	}
	if cred.key != nil {
		pemText := keyPEM(t, cred.key)
		if err := os.WriteFile(filepath.Join(s.dir, "key.pem"), []byte(pemText), 0o600); err != nil {
			t.Fatal(err)
		}
		b.WriteString("  private_key_file: key.pem\n  key_id: e2e-kid\n")
		// Every line of the key's base64: none may be printed.
		for _, line := range strings.Split(pemText, "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") {
				s.secrets = append(s.secrets, line)
			}
		}
	}
	fmt.Fprintf(&b, "state_file: state/listdrop.db\nsettle: 100ms\nrescan: 1s\nadmin:\n  listen: %q\nretry:\n  max_backoff: 200ms\n%sfolders:\n", e2eListen, extra)
	for i, l := range lists {
		fmt.Fprintf(&b, "  - path: drop%d\n    record_list_id: %q\n", i, l)
	}
	if err := os.WriteFile(s.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := fake.Violations(); len(v) > 0 {
			t.Errorf("the fake Talkdesk saw rule violations:\n%s", strings.Join(v, "\n"))
		}
	})
	return s
}

func startFake(t *testing.T, opts faketalkdesk.Options) *faketalkdesk.Server {
	t.Helper()
	opts.ClientID = e2eClientID
	fake, err := faketalkdesk.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	return fake
}

// validate runs `listdrop validate --online` and checks that nothing
// secret was printed and nothing written.
func (s *onlineSetup) validate(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	before := listTree(t, s.dir)
	stdout, stderr, code = runCLI(t, []string{"E2E_SECRET=" + e2eSecret},
		append([]string{"validate", "--online", "--config", s.config}, args...)...)
	for _, secret := range append(s.fake.Secrets(), s.secrets...) {
		if secret != "" && strings.Contains(stdout+stderr, secret) {
			t.Fatalf("validate printed a secret value (%d characters long)", len(secret))
		}
	}
	if after := listTree(t, s.dir); after != before {
		t.Fatalf("validate wrote files:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if n := len(s.fake.UploadRequests()); n != 0 {
		t.Fatalf("validate created %d upload requests", n)
	}
	return stdout, stderr, code
}

func listTree(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil {
			fmt.Fprintln(&b, p)
		}
		return nil
	})
	return b.String()
}

// Each way of authenticating passes, and every folder gets its line.
func TestValidateOnlinePasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   faketalkdesk.Options
		cred   auth
		method string
	}{
		{"client secret", faketalkdesk.Options{ClientSecret: e2eSecret}, auth{secret: e2eSecret}, "client_secret_basic"},
		{"EC key", faketalkdesk.Options{PublicKey: e2eECKey().Public(), KeyID: "e2e-kid"}, auth{key: e2eECKey()}, "private_key_jwt (ES256)"},
		{"RSA key", faketalkdesk.Options{PublicKey: e2eRSAKey().Public(), KeyID: "e2e-kid"}, auth{key: e2eRSAKey()}, "private_key_jwt (RS256)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Lists = []string{"L1", "L2"}
			fake := startFake(t, tt.opts)
			fake.SetListName("L1", "VIP customers")
			fake.SetListStatus("L2", "VALIDATION_STARTED")
			s := newOnline(t, fake, fake.URL(), tt.cred, []string{"L1", "L2"}, "")
			out, errOut, code := s.validate(t)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			want := []string{
				"config OK: 2 folders, 2 record lists",
				fmt.Sprintf("token OK: client %s authenticated (%s) at %s", e2eClientID, tt.method, fake.TokenURL()),
				"FOLDER",
				filepath.Join(s.dir, "drop0") + "  L1    VIP customers   ACCEPTED            0",
				filepath.Join(s.dir, "drop1") + "  L2    Record list L2  VALIDATION_STARTED  0",
			}
			if len(lines) != len(want) {
				t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(want), out)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want it to start with %q", i+1, lines[i], w)
				}
			}
			if tt.cred.key != nil && len(fake.Assertions()) != 1 {
				t.Errorf("the fake accepted %d assertions, want 1", len(fake.Assertions()))
			}
		})
	}
}

// Each failure is said in one sentence, and the exit code is 1.
func TestValidateOnlineFailures(t *testing.T) {
	t.Parallel()
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + refusingAddr(t)
	silent := "http://" + tarpit(t)
	tests := []struct {
		name  string
		opts  faketalkdesk.Options
		cred  auth
		lists []string
		base  string // "": the fake's URL
		tls   bool   // serve the fake over TLS with a certificate nobody trusts
		want  func(s *onlineSetup) string
	}{
		{"wrong secret", faketalkdesk.Options{ClientSecret: "another-secret"}, auth{secret: e2eSecret}, []string{"L1"}, "", false, func(*onlineSetup) string {
			return `Talkdesk refused the client credentials: the client id "e2e-client" is unknown, or the client secret (talkdesk.client_secret or talkdesk.client_secret_file) is not its secret; copy both again from the OAuth client in Talkdesk (Talkdesk said: invalid_client: client authentication failed)`
		}},
		{"wrong key", faketalkdesk.Options{PublicKey: otherKey.Public(), KeyID: "e2e-kid"}, auth{key: e2eECKey()}, []string{"L1"}, "", false, func(*onlineSetup) string {
			return `Talkdesk refused the signed client assertion: the client id "e2e-client" is unknown, or key id "e2e-kid" (talkdesk.key_id) is not registered for it, or talkdesk.private_key_file is not the private half of the registered public key; compare them with the OAuth client in Talkdesk, and check this machine's clock (Talkdesk said: invalid_client: the client assertion's signature does not verify with the registered public key)`
		}},
		{"key of the wrong type", faketalkdesk.Options{PublicKey: e2eECKey().Public(), KeyID: "e2e-kid"}, auth{key: e2eRSAKey()}, []string{"L1"}, "", false, func(*onlineSetup) string {
			return `Talkdesk refused the signed client assertion: the client id "e2e-client" is unknown, or key id "e2e-kid" (talkdesk.key_id) is not registered for it, or talkdesk.private_key_file is not the private half of the registered public key; compare them with the OAuth client in Talkdesk, and check this machine's clock (Talkdesk said: invalid_client: the client assertion's signature does not verify with the registered public key)`
		}},
		{"missing scope", faketalkdesk.Options{ClientSecret: e2eSecret, WithoutScope: true}, auth{secret: e2eSecret}, []string{"L1"}, "", false, func(*onlineSetup) string {
			return `the OAuth client "e2e-client" is not granted scope record-lists:manage: add the scope to the client in Talkdesk, then wait a few minutes for it to take effect (Talkdesk said: invalid_scope: the client is not allowed scope record-lists:manage)`
		}},
		{"unknown list", faketalkdesk.Options{ClientSecret: e2eSecret, Lists: []string{"L1"}}, auth{secret: e2eSecret}, []string{"L1", "L1", "nope"}, "", false, func(*onlineSetup) string {
			return `folders[2].record_list_id: record list "nope" does not exist, or this client may not see it (Talkdesk answered 404): copy the id from the list's page in Talkdesk`
		}},
		{"token URL refused", faketalkdesk.Options{ClientSecret: e2eSecret}, auth{secret: e2eSecret}, []string{"L1"},
			refused, false, func(*onlineSetup) string {
				host := strings.TrimPrefix(refused, "http://")
				return "cannot reach the token URL " + refused + "/oauth/token: " + host + " refused the connection, so nothing listens there; check talkdesk.token_url (or talkdesk.region and talkdesk.account) and any proxy or firewall on the way"
			}},
		{"token URL silent", faketalkdesk.Options{ClientSecret: e2eSecret}, auth{secret: e2eSecret}, []string{"L1"},
			silent, false, func(*onlineSetup) string {
				host := strings.TrimPrefix(silent, "http://")
				return "cannot reach the token URL " + silent + "/oauth/token: " + host + " did not answer within talkdesk.timeout (1s); check the firewall or proxy between this machine and " + host
			}},
		{"untrusted certificate", faketalkdesk.Options{ClientSecret: e2eSecret}, auth{secret: e2eSecret}, []string{"L1"}, "", true, func(s *onlineSetup) string {
			host := strings.TrimPrefix(tlsURL(s), "https://")
			return "cannot trust the TLS certificate of " + host + " (the token URL " + tlsURL(s) + "/oauth/token): it is signed by \"O=Acme Co\", which this machine does not trust; if a proxy inspects TLS or the host uses a private CA, save that CA's certificate as PEM and set talkdesk.ca_file to it"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "token URL refused" && runtime.GOOS == "windows" {
				t.Skip("Windows answers a closed loopback port with a timeout, not a refusal")
			}
			var fake *faketalkdesk.Server
			base := tt.base
			if tt.tls {
				fake, base = newTLSFake(t, tt.opts)
			} else {
				fake = startFake(t, tt.opts)
				if base == "" {
					base = fake.URL()
				}
			}
			s := newOnline(t, fake, base, tt.cred, tt.lists, "")
			data, _ := os.ReadFile(s.config)
			if err := os.WriteFile(s.config, []byte(strings.Replace(string(data), "timeout: 5s", "timeout: 1s", 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := s.validate(t)
			want := "listdrop: " + tt.want(s) + "\n"
			if code != 1 || errOut != want {
				t.Fatalf("exit %d, stderr:\n%q\nwant exit 1 and:\n%q\nstdout:\n%s", code, errOut, want, out)
			}
		})
	}
}

// tarpit is a loopback address that takes connections and never answers.
func tarpit(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// tlsURL reads back the https base of a setup's config.
func tlsURL(s *onlineSetup) string {
	data, _ := os.ReadFile(s.config)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "  api_url: "); ok {
			return v
		}
	}
	return ""
}

// newTLSFake serves a fake Talkdesk over TLS on loopback, with the test
// server's own certificate, which the system does not trust.
func newTLSFake(t *testing.T, opts faketalkdesk.Options) (*faketalkdesk.Server, string) {
	t.Helper()
	opts.ClientID = e2eClientID
	fake, err := faketalkdesk.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(fake.Handler())
	t.Cleanup(func() { fake.Close(); srv.Close() })
	// The server logs each refused handshake; that is the point here.
	srv.Config.ErrorLog = nil
	return fake, srv.URL
}

// With talkdesk.ca_file naming the certificate's authority, the same
// server is trusted.
func TestValidateOnlineWithCAFile(t *testing.T) {
	t.Parallel()
	fake, err := faketalkdesk.New(faketalkdesk.Options{ClientID: e2eClientID, ClientSecret: e2eSecret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(fake.Handler())
	t.Cleanup(func() { fake.Close(); srv.Close() })
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	s := newOnline(t, fake, srv.URL, auth{secret: e2eSecret}, []string{"L1"}, "")
	if err := os.WriteFile(filepath.Join(s.dir, "ca.pem"), []byte(ca), 0o644); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(s.config)
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(data), "  timeout: 5s\n", "  timeout: 5s\n  ca_file: ca.pem\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := s.validate(t)
	if code != 0 || !strings.Contains(out, "Record list L1") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestValidateOnlineJSON(t *testing.T) {
	t.Parallel()
	fake := startFake(t, faketalkdesk.Options{ClientSecret: e2eSecret, Lists: []string{"L1"}})
	s := newOnline(t, fake, fake.URL(), auth{secret: e2eSecret}, []string{"L1", "nope"}, "")
	out, _, code := s.validate(t, "--json")
	var rep struct {
		OK     bool
		Config struct{ OK bool }
		Token  struct {
			OK         bool
			AuthMethod string `json:"auth_method"`
		}
		Folders []struct {
			Key, Path, Name, Status, Problem string
			RecordListID                     string `json:"record_list_id"`
			OK                               bool
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON (%v):\n%s", err, out)
	}
	if code != 1 || rep.OK || !rep.Config.OK || !rep.Token.OK || rep.Token.AuthMethod != "client_secret_basic" || len(rep.Folders) != 2 {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	f0, f1 := rep.Folders[0], rep.Folders[1]
	if !f0.OK || f0.Key != "folders[0]" || f0.Name != "Record list L1" || f0.Status != "ACCEPTED" || f0.Path != filepath.Join(s.dir, "drop0") {
		t.Errorf("folders[0] = %+v", f0)
	}
	if f1.OK || f1.RecordListID != "nope" || !strings.HasPrefix(f1.Problem, `folders[1].record_list_id: record list "nope" does not exist`) {
		t.Errorf("folders[1] = %+v", f1)
	}
}

// Plain validate stays offline: it asks Talkdesk nothing.
func TestValidateOfflineAsksNothing(t *testing.T) {
	t.Parallel()
	fake := startFake(t, faketalkdesk.Options{ClientSecret: "another-secret"})
	s := newOnline(t, fake, fake.URL(), auth{secret: e2eSecret}, []string{"L1"}, "")
	out, errOut, code := runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "validate", "--config", s.config)
	if code != 0 || !strings.HasPrefix(out, "config OK") || errOut != "" || len(fake.Requests()) != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q, %d requests", code, out, errOut, len(fake.Requests()))
	}
	out, _, code = runCLI(t, []string{"E2E_SECRET=" + e2eSecret}, "validate", "--json", "--config", s.config)
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep["ok"] != true || rep["token"] != nil || len(fake.Requests()) != 0 {
		t.Fatalf("validate --json: exit %d, %v, stdout %s", code, err, out)
	}
}

// A daemon with a key uploads, renews its token with a new assertion each
// time, logs each folder's list name (and warns about a list it cannot
// see) and prints no secret, key or assertion, at debug level.
func TestDaemonWithAKey(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("stops the daemon with SIGTERM")
	}
	fake := startFake(t, faketalkdesk.Options{PublicKey: e2eECKey().Public(), KeyID: "e2e-kid", Lists: []string{"L1"}})
	fake.SetListName("L1", "VIP customers")
	s := newOnline(t, fake, fake.URL(), auth{key: e2eECKey()}, []string{"L1", "gone"}, "log:\n  level: debug\n")
	e := &e2e{t: t, fake: fake, dir: s.dir, config: s.config,
		folders: []string{filepath.Join(s.dir, "drop0"), filepath.Join(s.dir, "drop1")}}
	d := e.start()
	e.drop(0, "a.csv", rows("a"))
	e.eventually("a.csv in done/", func() bool { return exists(filepath.Join(e.folders[0], "done", "a.csv")) })
	// Every token issued so far ends: the next call is refused, and the
	// daemon must get a token again, with a new assertion.
	fake.ExpireTokens()
	e.drop(0, "b.csv", rows("b"))
	e.eventually("b.csv in done/", func() bool { return exists(filepath.Join(e.folders[0], "done", "b.csv")) })
	e.eventually("the list name logged", func() bool {
		return strings.Contains(d.out.String(), `list_name="VIP customers"`) && strings.Contains(d.out.String(), "record list not found")
	})
	d.stop(t)

	as := fake.Assertions()
	jtis := map[string]bool{}
	for _, a := range as {
		if jtis[a.JTI] || a.KeyID != "e2e-kid" || a.Algorithm != "ES256" {
			t.Fatalf("assertions %+v: a jti used twice, or a wrong key id or algorithm", as)
		}
		jtis[a.JTI] = true
	}
	if len(as) < 2 || fake.TokensIssued() != len(as) {
		t.Fatalf("%d assertions for %d tokens: want a new assertion for each of at least 2 tokens", len(as), fake.TokensIssued())
	}
	out := d.out.String()
	for _, want := range []string{
		`msg="folder → record list" folder=` + e.folders[0] + ` list=L1 list_name="VIP customers"`,
		`msg="record list not found" folder=` + e.folders[1] + ` list=gone error="folders[1].record_list_id: record list \"gone\" does not exist`,
		`auth="private_key_jwt (ES256)"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	for _, secret := range append(fake.Secrets(), s.secrets...) {
		if secret != "" && strings.Contains(out, secret) {
			t.Fatalf("the daemon's output holds a secret value (%d characters long)", len(secret))
		}
	}
	db, err := os.ReadFile(filepath.Join(s.dir, "state", "listdrop.db"))
	if err != nil || !strings.Contains(string(db), "a.csv") {
		t.Fatalf("the state file does not hold the run's records (%v)", err)
	}
	for _, secret := range append(fake.Secrets(), s.secrets...) {
		if secret != "" && strings.Contains(string(db), secret) {
			t.Fatalf("the state file holds a secret value (%d characters long)", len(secret))
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

// Talkdesk unreachable at start-up: the daemon warns, keeps running, and
// logs the list's name once Talkdesk answers.
func TestDaemonLogsListNamesOnceTalkdeskAnswers(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{Lists: []string{"L1"}}, []string{"L1"}, "")
	e.fake.SetListName("L1", "VIP customers")
	e.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepToken, Status: 503}, faketalkdesk.Fault{Step: faketalkdesk.StepToken, Status: 503})
	d := e.start()
	e.eventually("the list's name logged", func() bool { return strings.Contains(d.out.String(), `list_name="VIP customers"`) })
	out := d.out.String()
	warn := strings.Index(out, `msg="cannot read the record lists' names yet; trying again later" list=L1 error="the token endpoint `)
	if warn < 0 || warn > strings.Index(out, `list_name="VIP customers"`) {
		t.Fatalf("the log lacks the warning before the name:\n%s", out)
	}
	if e.fake.PendingFaults() != 0 {
		t.Fatal("the daemon read the name without asking again")
	}
	if r := e.status(); len(r.Folders) != 1 || r.Folders[0].ListName != "VIP customers" {
		t.Fatalf("status = %+v", r.Folders)
	}
}
