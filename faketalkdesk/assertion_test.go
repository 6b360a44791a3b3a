package faketalkdesk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertion signs claims as a client would; edit changes them first.
func assertion(t *testing.T, key crypto.Signer, method jwt.SigningMethod, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func postToken(t *testing.T, tokenURL string, form url.Values, basic bool) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(clientID, clientSecret)
	}
	return send(t, req)
}

func TestTokenWithClientAssertion(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	clock := newClock()
	srv := startServer(t, Options{ClientID: clientID, PublicKey: &ec.PublicKey, KeyID: "k1", Now: clock.Now})
	good := func() jwt.MapClaims {
		now := clock.Now()
		return jwt.MapClaims{"iss": clientID, "sub": clientID, "aud": srv.TokenURL(), "jti": randomHex(8),
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	}
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}, "client_id": {clientID},
			"client_assertion_type": {AssertionType}, "client_assertion": {a}}
	}
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := good()
		edit(c)
		return c
	}
	replayed := assertion(t, ec, jwt.SigningMethodES256, "k1", good())
	if rep := postToken(t, srv.TokenURL(), form(replayed), false); rep.status != http.StatusOK {
		t.Fatalf("a good assertion: %d %s", rep.status, rep.body)
	}
	tests := []struct {
		name      string
		form      url.Values
		basic     bool
		violation bool // a correct client never does it
		want      string
	}{
		{"wrong key", form(assertion(t, other, jwt.SigningMethodES256, "k1", good())), false, false, "signature does not verify"},
		{"RSA key for an EC registration", form(assertion(t, rk, jwt.SigningMethodRS256, "k1", good())), false, false, "signature does not verify"},
		{"unknown key id", form(assertion(t, ec, jwt.SigningMethodES256, "k2", good())), false, false, `key id "k2" is not registered`},
		{"unknown client", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) { c["iss"], c["sub"] = "nobody", "nobody" }))), false, false, `unknown client "nobody"`},
		{"expired", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = clock.Now().Add(-10*time.Minute).Unix(), clock.Now().Add(-6*time.Minute).Unix()
		}))), false, false, "has expired"},
		{"replayed jti", form(replayed), false, true, "jti has been used before"},
		{"wrong aud", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) { c["aud"] = "https://elsewhere.example.com/oauth/token" }))), false, true, "is not the token URL"},
		{"no kid", form(assertion(t, ec, jwt.SigningMethodES256, "", good())), false, true, "no kid"},
		{"iss is not sub", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) { c["sub"] = "x" }))), false, true, "must both be the client id"},
		{"no jti", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) { delete(c, "jti") }))), false, true, "lacks jti"},
		{"no exp", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) { delete(c, "exp") }))), false, true, "lacks exp"},
		{"long lifetime", form(assertion(t, ec, jwt.SigningMethodES256, "k1", with(func(c jwt.MapClaims) { c["exp"] = clock.Now().Add(time.Hour).Unix() }))), false, true, "longer than 5m"},
		{"wrong assertion type", func() url.Values {
			f := form(assertion(t, ec, jwt.SigningMethodES256, "k1", good()))
			f.Set("client_assertion_type", "jwt")
			return f
		}(), false, true, "client_assertion_type"},
		{"not a JWT", form("abc"), false, true, "not a JWS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Violations())
			rep := postToken(t, srv.TokenURL(), tt.form, tt.basic)
			var body struct{ Error, ErrorDescription string }
			json.Unmarshal(rep.body, &struct {
				Error            *string `json:"error"`
				ErrorDescription *string `json:"error_description"`
			}{&body.Error, &body.ErrorDescription})
			if rep.status != http.StatusUnauthorized || body.Error != "invalid_client" || !strings.Contains(body.ErrorDescription, tt.want) {
				t.Fatalf("answer %d %s, want 401 invalid_client with %q", rep.status, rep.body, tt.want)
			}
			if got := len(srv.Violations()) > before; got != tt.violation {
				t.Fatalf("recorded as a violation: %v, want %v (%q)", got, tt.violation, srv.Violations())
			}
		})
	}
	if got := srv.Assertions(); len(got) != 1 || got[0].KeyID != "k1" || got[0].Algorithm != "ES256" {
		t.Fatalf("Assertions = %+v", got)
	}
	secrets := strings.Join(srv.Secrets(), "\n")
	if !strings.Contains(secrets, replayed) {
		t.Fatal("Secrets lacks the accepted assertion")
	}
}

func TestTokenWithBasicAndAssertionIsRefused(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := startServer(t, Options{ClientID: clientID, ClientSecret: clientSecret, PublicKey: &ec.PublicKey})
	f := url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}, "client_assertion_type": {AssertionType}, "client_assertion": {"x.y.z"}}
	if rep := postToken(t, srv.TokenURL(), f, true); rep.status != http.StatusBadRequest || len(srv.Violations()) != 1 {
		t.Fatalf("answer %d %s, violations %q", rep.status, rep.body, srv.Violations())
	}
}

// A client without the scope gets the documented OAuth error; asking for
// it was right, so it is no violation.
func TestTokenWithoutTheScope(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{ClientID: clientID, ClientSecret: clientSecret, WithoutScope: true})
	rep := postToken(t, srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}}, true)
	if rep.status != http.StatusBadRequest || !strings.Contains(string(rep.body), `"error":"invalid_scope"`) || len(srv.Violations()) != 0 {
		t.Fatalf("answer %d %s, violations %q", rep.status, rep.body, srv.Violations())
	}
}

func TestListName(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{Lists: []string{list}})
	srv.SetListName(list, "VIP customers")
	rep := postToken(t, srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}}, true)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(rep.body, &tok)
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/record-lists/"+list, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	got := send(t, req)
	if got.status != http.StatusOK || !strings.Contains(string(got.body), `"name":"VIP customers"`) {
		t.Fatalf("GET list: %d %s", got.status, got.body)
	}
}
