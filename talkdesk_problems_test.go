package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/talkdesk"
)

// The causes the end-to-end tests cannot produce on loopback each get
// their sentence too.
func TestReachProblems(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://acme.example.com/oauth/token", Err: err}
	}
	cert := &x509.Certificate{DNSNames: []string{"proxy.corp.example"}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"DNS", wrap(&net.OpError{Op: "dial", Err: &net.DNSError{Name: "acme.example.com", Err: "no such host", IsNotFound: true}}),
			"cannot reach W: the host name acme.example.com does not resolve (DNS: no such host); check K and this machine's DNS"},
		{"wrong name", wrap(&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: cert, Host: "acme.example.com"}}),
			"cannot trust the TLS certificate of H (W): it is for proxy.corp.example, not for acme.example.com; check K, or the proxy on the way"},
		{"expired", wrap(&tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}}),
			"cannot trust the TLS certificate of H (W): it has expired or is not valid yet; check this machine's clock, or the proxy on the way"},
		{"no TLS", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}),
			"cannot talk TLS to H (W): it answers without TLS; check that K names a TLS (https) endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reachProblem("W", "K", "H", "5s", tt.err); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTokenAndListProblems(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{Talkdesk: config.Talkdesk{ClientID: "c1", TokenURL: "https://acme.example.com/oauth/token", APIURL: "https://api.example.com", Timeout: time.Second}}
	client, err := talkdesk.New(talkdesk.Options{APIURL: cfg.Talkdesk.APIURL, TokenURL: cfg.Talkdesk.TokenURL, ClientID: "c1", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		got, want string
	}{
		{tokenProblem(cfg, client, &talkdesk.TokenError{Status: 401, Code: "unauthorized_client", Description: "scope record-lists:manage not allowed"}),
			`the OAuth client "c1" is not granted scope record-lists:manage: add the scope to the client in Talkdesk, then wait a few minutes for it to take effect (Talkdesk said: unauthorized_client: scope record-lists:manage not allowed)`},
		{tokenProblem(cfg, client, &talkdesk.TokenError{Status: 404}),
			"the token URL https://acme.example.com/oauth/token answers 404, so no token endpoint is there: check talkdesk.token_url (or talkdesk.region and talkdesk.account)"},
		{tokenProblem(cfg, client, &talkdesk.TokenError{Status: 503}),
			"the token endpoint https://acme.example.com/oauth/token is unavailable (HTTP 503): try again later"},
		{listProblem(cfg, client, "L9", &talkdesk.APIError{Op: "get record list", Status: 403}),
			`this client may not see record list "L9" (Talkdesk answered 403): check that the OAuth client has scope record-lists:manage and access to the list`},
		{listProblem(cfg, client, "L9", fmt.Errorf("get record list: %w", &url.Error{Op: "Get", URL: "https://api.example.com/record-lists/L9", Err: &net.DNSError{Name: "api.example.com", Err: "no such host", IsNotFound: true}})),
			"cannot reach the API URL https://api.example.com: the host name api.example.com does not resolve (DNS: no such host); check talkdesk.api_url (or talkdesk.region) and this machine's DNS"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
		if strings.Count(tt.got, "\n") != 0 {
			t.Errorf("%q is more than one line", tt.got)
		}
	}
}
