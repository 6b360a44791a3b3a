package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/talkdesk"
)

// The sentences of this file tell an admin, in one sentence each, why
// Talkdesk cannot be used with the configuration, and what to change.
// `validate --online` prints them, and the daemon logs them at start-up.

// tokenProblem says why no access token came.
func tokenProblem(cfg *config.Config, client *talkdesk.Client, err error) string {
	t := cfg.Talkdesk
	host := t.TokenURL
	if u, perr := url.Parse(t.TokenURL); perr == nil && u.Host != "" {
		host = u.Host
	}
	var te *talkdesk.TokenError
	if !errors.As(err, &te) {
		return "cannot get an access token: " + err.Error()
	}
	if te.Err != nil {
		return reachProblem("the token URL "+talkdesk.RedactURL(t.TokenURL), "talkdesk.token_url (or talkdesk.region and talkdesk.account)", host, t.Timeout.String(), te.Err)
	}
	said := ""
	switch {
	case te.Code != "" && te.Description != "":
		said = " (Talkdesk said: " + te.Code + ": " + te.Description + ")"
	case te.Code != "" || te.Description != "":
		said = " (Talkdesk said: " + te.Code + te.Description + ")"
	}
	switch {
	case te.Code == "invalid_scope" || (te.Status == 401 || te.Status == 403) && strings.Contains(strings.ToLower(te.Description), "scope"):
		return fmt.Sprintf("the OAuth client %q is not granted scope %s: add the scope to the client in Talkdesk, then wait a few minutes for it to take effect%s",
			t.ClientID, talkdesk.Scope, said)
	case te.Code == "invalid_client" || te.Status == 401:
		if client.UsesKey() {
			return fmt.Sprintf("Talkdesk refused the signed client assertion: the client id %q is unknown, or key id %q (talkdesk.key_id) is not registered for it, or talkdesk.private_key_file is not the private half of the registered public key; compare them with the OAuth client in Talkdesk, and check this machine's clock%s",
				t.ClientID, t.KeyID, said)
		}
		return fmt.Sprintf("Talkdesk refused the client credentials: the client id %q is unknown, or the client secret (talkdesk.client_secret or talkdesk.client_secret_file) is not its secret; copy both again from the OAuth client in Talkdesk%s",
			t.ClientID, said)
	case te.Status == 404:
		return fmt.Sprintf("the token URL %s answers 404, so no token endpoint is there: check talkdesk.token_url (or talkdesk.region and talkdesk.account)", talkdesk.RedactURL(t.TokenURL))
	case te.Status == 429 || te.Status >= 500:
		return fmt.Sprintf("the token endpoint %s is unavailable (HTTP %d)%s: try again later", talkdesk.RedactURL(t.TokenURL), te.Status, said)
	}
	return fmt.Sprintf("the token endpoint %s refused the request: %s; check talkdesk.token_url and the OAuth client in Talkdesk", talkdesk.RedactURL(t.TokenURL), te.Error())
}

// reachProblem says why a connection to host failed: DNS, a refusal, a
// timeout or TLS.
// keys names the configuration keys that make the URL.
func reachProblem(what, keys, host, timeout string, err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot reach %s: the host name %s does not resolve (DNS: %s); check %s and this machine's DNS",
			what, dnsErr.Name, dnsReason(dnsErr), keys)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach %s: %s refused the connection, so nothing listens there; check %s and any proxy or firewall on the way", what, host, keys)
	case errors.As(err, &unknownCA):
		issuer := "an unnamed authority"
		if c := unknownCA.Cert; c != nil {
			issuer = fmt.Sprintf("%q", c.Issuer.String())
		}
		return fmt.Sprintf("cannot trust the TLS certificate of %s (%s): it is signed by %s, which this machine does not trust; if a proxy inspects TLS or the host uses a private CA, save that CA's certificate as PEM and set talkdesk.ca_file to it",
			host, what, issuer)
	case errors.As(err, &hostErr):
		names := "no DNS names"
		if c := hostErr.Certificate; c != nil && len(c.DNSNames) > 0 {
			names = strings.Join(c.DNSNames, ", ")
		}
		return fmt.Sprintf("cannot trust the TLS certificate of %s (%s): it is for %s, not for %s; check %s, or the proxy on the way", host, what, names, hostErr.Host, keys)
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return fmt.Sprintf("cannot trust the TLS certificate of %s (%s): it has expired or is not valid yet; check this machine's clock, or the proxy on the way", host, what)
		}
		return fmt.Sprintf("cannot trust the TLS certificate of %s (%s): %v; check the proxy on the way, or talkdesk.ca_file", host, what, invalid)
	case errors.As(err, &recErr):
		return fmt.Sprintf("cannot talk TLS to %s (%s): it answers without TLS; check that %s names a TLS (https) endpoint", host, what, keys)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("cannot reach %s: %s did not answer within talkdesk.timeout (%s); check the firewall or proxy between this machine and %s", what, host, timeout, host)
	}
	return fmt.Sprintf("cannot reach %s: %v", what, err)
}

func dnsReason(e *net.DNSError) string {
	switch {
	case e.IsNotFound:
		return "no such host"
	case e.IsTimeout:
		return "no answer from the DNS server"
	}
	return e.Err
}

// listProblem says why a record list could not be read. The caller puts
// the configuration key before it.
func listProblem(cfg *config.Config, client *talkdesk.Client, id string, err error) string {
	var ae *talkdesk.APIError
	var te *talkdesk.TokenError
	switch {
	case errors.As(err, &te):
		return tokenProblem(cfg, client, err)
	case errors.As(err, &ae):
		switch ae.Status {
		case 404:
			return fmt.Sprintf("record list %q does not exist, or this client may not see it (Talkdesk answered 404): copy the id from the list's page in Talkdesk", id)
		case 403:
			return fmt.Sprintf("this client may not see record list %q (Talkdesk answered 403): check that the OAuth client has scope %s and access to the list", id, talkdesk.Scope)
		case 401:
			return fmt.Sprintf("Talkdesk refused a fresh access token when reading record list %q (401): check that the OAuth client has scope %s", id, talkdesk.Scope)
		}
		return fmt.Sprintf("cannot read record list %q: %v", id, ae)
	}
	host := cfg.Talkdesk.APIURL
	if u, perr := url.Parse(host); perr == nil && u.Host != "" {
		host = u.Host
	}
	return reachProblem("the API URL "+talkdesk.RedactURL(cfg.Talkdesk.APIURL), "talkdesk.api_url (or talkdesk.region)", host, cfg.Talkdesk.Timeout.String(), err)
}
