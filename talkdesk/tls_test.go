package talkdesk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tlsAPI starts a fake API over TLS with httptest's own certificate, which
// no system trusts. tc, when set, is the server's TLS configuration.
func tlsAPI(t *testing.T, tc *tls.Config) *httptest.Server {
	t.Helper()
	f := &fakeAPI{create: created("u-1", "https://bucket.s3.example.com/k.csv")}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.TLS = tc
	// Refused handshakes are what these tests expect; keep them quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// writeCAFile writes the server's certificate as a PEM file.
func writeCAFile(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "private-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tlsClient(t *testing.T, srv *httptest.Server, caFile string) *Client {
	t.Helper()
	c, err := New(Options{APIURL: srv.URL, TokenURL: srv.URL + "/oauth/token", ClientID: testID, ClientSecret: testSecret,
		Timeout: 5 * time.Second, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSCertificateOfAnUnknownCAIsRefused(t *testing.T) {
	t.Parallel()
	srv := tlsAPI(t, nil)
	_, err := tlsClient(t, srv, "").CreateUploadRequest(context.Background(), createReq())
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("error = %v, want an unknown authority", err)
	}
}

func TestTLSCAFileAddsTrust(t *testing.T) {
	t.Parallel()
	srv := tlsAPI(t, nil)
	ur, err := tlsClient(t, srv, writeCAFile(t, srv)).CreateUploadRequest(context.Background(), createReq())
	if err != nil {
		t.Fatalf("with the server's CA in ca_file: %v", err)
	}
	if ur.ID != "u-1" {
		t.Fatalf("id = %q", ur.ID)
	}
}

// The CA file adds roots; it does not turn verification off: a server
// whose certificate does not name the host is still refused.
func TestTLSCAFileStillChecksTheHostName(t *testing.T) {
	t.Parallel()
	srv := tlsAPI(t, nil)
	// httptest's certificate names 127.0.0.1 and example.com, not localhost.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	c, err := New(Options{APIURL: u, TokenURL: u + "/oauth/token", ClientID: testID, ClientSecret: testSecret, CAFile: writeCAFile(t, srv)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUploadRequest(context.Background(), createReq())
	var host x509.HostnameError
	if !errors.As(err, &host) {
		t.Fatalf("error = %v, want a host name mismatch", err)
	}
}

func TestTLS11IsRefused(t *testing.T) {
	t.Parallel()
	old := &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	srv := tlsAPI(t, old)
	ca := writeCAFile(t, srv)

	// The server does speak TLS 1.1 to a client that accepts it, so the
	// refusal below is about the version, not about something else.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err != nil {
		t.Fatalf("the test server does not speak TLS 1.1: %v", err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS11 {
		t.Fatalf("negotiated %s", tls.VersionName(v))
	}
	conn.Close()

	_, err = tlsClient(t, srv, ca).CreateUploadRequest(context.Background(), createReq())
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("error = %v, want a refused protocol version", err)
	}
}

// Whatever the options, the transport verifies certificates and asks for
// TLS 1.2 at least.
func TestTransportTLSSettings(t *testing.T) {
	t.Parallel()
	srv := tlsAPI(t, nil)
	for _, ca := range []string{"", writeCAFile(t, srv)} {
		c := tlsClient(t, srv, ca)
		tc := c.http.Transport.(*http.Transport).TLSClientConfig
		if tc == nil || tc.MinVersion < tls.VersionTLS12 || tc.InsecureSkipVerify || tc.VerifyPeerCertificate != nil {
			t.Fatalf("ca %q: TLS config %+v", ca, tc)
		}
		if (ca == "") != (tc.RootCAs == nil) {
			t.Fatalf("ca %q: RootCAs set = %v; want the system roots alone without a CA file", ca, tc.RootCAs != nil)
		}
	}
}

func TestBadCAFileIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
	key := filepath.Join(dir, "key.pem")
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o644)
	for _, p := range []string{filepath.Join(dir, "missing.pem"), notPEM, key, dir} {
		_, err := New(Options{APIURL: "https://api.example.com", TokenURL: "https://id.example.com/oauth/token", CAFile: p})
		if err == nil || !strings.Contains(err.Error(), "ca file") {
			t.Errorf("CAFile %s: error = %v, want a ca file error", p, err)
		}
	}
}
