package talkdesk

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// keyClient is a client of f that signs assertions with key.
func keyClient(t *testing.T, f *fakeAPI, key crypto.Signer) *Client {
	t.Helper()
	c, err := New(Options{APIURL: f.srv.URL, TokenURL: f.srv.URL + "/oauth/token", ClientID: testID,
		PrivateKey: key, KeyID: "kid-7", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each token request carries a fresh assertion that the public key
// verifies, with the documented claims and no client secret.
func TestTokenRequestWithAPrivateKey(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		alg string
		key crypto.Signer
		pub crypto.PublicKey
	}{{"ES256", ec, &ec.PublicKey}, {"RS256", rk, &rk.PublicKey}} {
		t.Run(tt.alg, func(t *testing.T) {
			f := newFakeAPI(t)
			var mu sync.Mutex
			var forms []url.Values
			var basic []bool
			f.token = func(w http.ResponseWriter, r *http.Request) {
				_, _, hasBasic := r.BasicAuth()
				r.ParseForm()
				mu.Lock()
				forms, basic = append(forms, r.PostForm), append(basic, hasBasic)
				mu.Unlock()
				writeJSON(w, 200, `{"access_token":"`+testToken+`","token_type":"Bearer","expires_in":3600,"scope":"record-lists:manage"}`)
			}
			c := keyClient(t, f, tt.key)
			if got := c.AuthMethod(); got != "private_key_jwt ("+tt.alg+")" {
				t.Fatalf("AuthMethod = %q", got)
			}
			for range 2 {
				c.forgetToken(testToken)
				if _, err := c.accessToken(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(forms) != 2 {
				t.Fatalf("%d token requests, want 2", len(forms))
			}
			tokenURL := f.srv.URL + "/oauth/token"
			jtis := map[string]bool{}
			for i, form := range forms {
				if basic[i] {
					t.Error("a token request with a key also sent HTTP Basic credentials")
				}
				if form.Get("grant_type") != "client_credentials" || form.Get("scope") != Scope || form.Get("client_id") != testID ||
					form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
					t.Errorf("form %v", form)
				}
				claims := jwt.MapClaims{}
				tok, err := jwt.ParseWithClaims(form.Get("client_assertion"), claims, func(tok *jwt.Token) (any, error) { return tt.pub, nil },
					jwt.WithValidMethods([]string{tt.alg}), jwt.WithAudience(tokenURL), jwt.WithIssuer(testID), jwt.WithSubject(testID),
					jwt.WithIssuedAt(), jwt.WithExpirationRequired())
				if err != nil {
					t.Fatalf("the assertion does not verify: %v", err)
				}
				if tok.Header["kid"] != "kid-7" {
					t.Errorf("kid = %v", tok.Header["kid"])
				}
				if aud, ok := claims["aud"].(string); !ok || aud != tokenURL {
					t.Errorf("aud = %#v, want the token URL as one string", claims["aud"])
				}
				iat, _ := claims.GetIssuedAt()
				exp, _ := claims.GetExpirationTime()
				if exp.Sub(iat.Time) != 5*time.Minute {
					t.Errorf("exp - iat = %v, want 5m", exp.Sub(iat.Time))
				}
				jti, _ := claims["jti"].(string)
				if len(jti) < 16 || jtis[jti] {
					t.Errorf("jti %q is short or used twice", jti)
				}
				jtis[jti] = true
			}
			if forms[0].Get("client_assertion") == forms[1].Get("client_assertion") {
				t.Error("the same assertion was sent twice")
			}
		})
	}
}

// An answer that quotes the assertion, or its signature, is not quoted
// back in the error.
func TestAssertionNeverInErrors(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f := newFakeAPI(t)
	var sent string
	f.token = func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		sent = r.PostForm.Get("client_assertion")
		sig := sent[strings.LastIndexByte(sent, '.')+1:]
		writeJSON(w, 401, `{"error":"invalid_client","error_description":"bad signature `+sig+` in `+sent+`"}`)
	}
	_, err := keyClient(t, f, ec).accessToken(context.Background())
	var te *TokenError
	if !errors.As(err, &te) || te.Status != 401 || te.Code != "invalid_client" {
		t.Fatalf("err = %v", err)
	}
	if sent == "" || strings.Contains(err.Error(), sent[strings.LastIndexByte(sent, '.')+1:]) {
		t.Fatalf("the error shows the assertion's signature: %v", err)
	}
}

func TestNewRefusesAKeyWithoutKeyIDOrWithASecret(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, o := range []Options{
		{PrivateKey: ec},
		{PrivateKey: ec, KeyID: "k", ClientSecret: "s"},
		{PrivateKey: p384, KeyID: "k"},
	} {
		o.APIURL, o.TokenURL, o.ClientID = "https://api.example.com", "https://id.example.com/oauth/token", "c"
		if _, err := New(o); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
}

// A token granted without the scope is an error that names the scope.
func TestTokenWithoutTheScope(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		scope string
		ok    bool
	}{{`"record-lists:manage"`, true}, {`"openid record-lists:manage"`, true}, {`"openid,record-lists:manage"`, true},
		{`""`, true}, {`["other"]`, true}, {`"record-lists:read"`, false}} {
		raw, _ := json.Marshal(map[string]any{"access_token": "t", "token_type": "Bearer", "scope": json.RawMessage(tt.scope)})
		_, err := parseTokenAnswer(200, raw)
		var te *TokenError
		if tt.ok != (err == nil) || (err != nil && (!errors.As(err, &te) || te.Code != "invalid_scope")) {
			t.Errorf("scope %s: err = %v", tt.scope, err)
		}
	}
}
