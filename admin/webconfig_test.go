package admin

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/listdrop/listdrop/internal/testutil"
	"github.com/listdrop/listdrop/state"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key
// into dir as NAME.pem and NAME-key.pem.
func writeCert(t *testing.T, dir, name string) {
	t.Helper()
	cert, key := testutil.CertFor127(t)
	write(t, filepath.Join(dir, name+".pem"), string(cert))
	write(t, filepath.Join(dir, name+"-key.pem"), string(key))
}

func write(t *testing.T, path, text string) string {
	t.Helper()
	return testutil.WriteFile(t, path, []byte(text))
}

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

const (
	tlsPart   = "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n"
	usersPart = "basic_auth_users:\n  admin: "
)

func TestCheckWebConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "server")
	hash := bcryptHash(t, "pw")
	for _, c := range []struct {
		name     string
		text     string
		loopback bool
		want     string // "" for no error
	}{
		{"TLS and users, off loopback", tlsPart + usersPart + hash + "\n", false, ""},
		{"TLS only, off loopback", tlsPart, false, "turns on only part of what admin.listen off loopback needs: add basic_auth_users"},
		{"users only, off loopback", usersPart + hash + "\n", false, "turns on only part of what admin.listen off loopback needs: add tls_server_config"},
		{"neither, off loopback", "{}\n", false, "turns on neither TLS nor authentication"},
		{"users only, on loopback", usersPart + hash + "\n", true, ""},
		{"TLS only, on loopback", tlsPart, true, ""},
		{"a password that is no bcrypt hash", tlsPart + usersPart + "pw\n", false, "admin.web_config_file: "},
		{"a certificate file that is missing", strings.Replace(tlsPart, "server.pem", "missing.pem", 1) + usersPart + hash + "\n", false, "admin.web_config_file: "},
		{"an unknown key", tlsPart + usersPart + hash + "\nbasic_auth_user: {}\n", false, "admin.web_config_file: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := write(t, filepath.Join(dir, "web.yml"), c.text)
			err := CheckWebConfig(path, c.loopback)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckWebConfig: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckWebConfig: %v, want %q", err, c.want)
			}
		})
	}
	if err := CheckWebConfig(filepath.Join(dir, "none.yml"), false); err == nil || !strings.HasPrefix(err.Error(), "admin.web_config_file: ") {
		t.Fatalf("a missing web configuration: %v", err)
	}
}

// With a web configuration of TLS and basic authentication, the endpoint
// serves real HTTPS on a listener, through exporter-toolkit: the commands'
// pinned client reaches it, a password is asked for everything, the
// token alone does not pass, and the origin and body checks still apply.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir, "server")
	writeCert(t, dir, "other")
	web := write(t, filepath.Join(dir, "web.yml"), tlsPart+usersPart+bcryptHash(t, "right-password")+"\n")
	otherWeb := write(t, filepath.Join(dir, "other.yml"), "tls_server_config:\n  cert_file: other.pem\n  key_file: other-key.pem\n")
	store, err := state.Open(filepath.Join(dir, "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	s := New(Options{Pipeline: fakePipeline{healthy}, Store: store, Version: "1", Token: testToken, TokenFile: "t",
		Listen: "0.0.0.0:" + port, WebConfigFile: web})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	tc, err := ClientTLS(web)
	if err != nil || tc == nil {
		t.Fatalf("ClientTLS: %v %v", tc, err)
	}
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	base := "https://127.0.0.1:" + port
	send := func(c *http.Client, method, url, user, password string, headers map[string]string) (int, http.Header, error) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(`{"list": "L1", "md5": "`+sum+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header, nil
	}

	// Plain HTTP gets no answer it can use; an unpinned client does not
	// trust the self-signed certificate; another pin refuses this one.
	if code, _, err := send(http.DefaultClient, "GET", "http://127.0.0.1:"+port+"/healthz", "", "", nil); err == nil && code == 200 {
		t.Fatal("plain HTTP answered 200 on a TLS endpoint")
	}
	if _, _, err := send(&http.Client{Timeout: 10 * time.Second}, "GET", base+"/healthz", "", "", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an unpinned client: %v", err)
	}
	otc, err := ClientTLS(otherWeb)
	if err != nil || otc == nil {
		t.Fatal(err)
	}
	if _, _, err := send(&http.Client{Transport: &http.Transport{TLSClientConfig: otc}, Timeout: 10 * time.Second}, "GET", base+"/healthz", "", "", nil); err == nil || !strings.Contains(err.Error(), "not the one in") {
		t.Fatalf("a client pinned to another certificate: %v", err)
	}

	for _, c := range []struct {
		name, method, path, user, password string
		headers                            map[string]string
		want                               int
	}{
		{"healthz without a password", "GET", "/healthz", "", "", nil, 401},
		{"metrics without a password", "GET", "/metrics", "", "", nil, 401},
		{"status without a password", "GET", "/status", "", "", nil, 401},
		{"status with the token alone", "GET", "/status", "", "", map[string]string{"Authorization": "Bearer " + testToken}, 401},
		{"status, wrong password", "GET", "/status", "admin", "wrong", nil, 401},
		{"status, unknown user", "GET", "/status", "root", "right-password", nil, 401},
		{"healthz", "GET", "/healthz", "admin", "right-password", nil, 200},
		{"status", "GET", "/status", "admin", "right-password", nil, 200},
		{"history", "GET", "/history", "admin", "right-password", nil, 200},
		{"allow-once, text/plain", "POST", "/allow-once", "admin", "right-password", map[string]string{"Content-Type": "text/plain"}, 415},
		{"allow-once, foreign Origin", "POST", "/allow-once", "admin", "right-password", map[string]string{"Content-Type": "application/json", "Origin": "https://attacker.example"}, 403},
		{"allow-once", "POST", "/allow-once", "admin", "right-password", map[string]string{"Content-Type": "application/json"}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, h, err := send(pinned, c.method, base+c.path, c.user, c.password, c.headers)
			if err != nil {
				t.Fatal(err)
			}
			if code != c.want {
				t.Fatalf("%d, want %d", code, c.want)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("401 without a Basic challenge: %q", h.Get("WWW-Authenticate"))
			}
			ok, _ := store.TakeAllowance("L1", sum)
			if ok != (c.path == "/allow-once" && c.want == 200) {
				t.Fatalf("allowance after the request: %v", ok)
			}
		})
	}
}
