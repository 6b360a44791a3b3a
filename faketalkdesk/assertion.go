package faketalkdesk

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AssertionType is the client_assertion_type of a JWT client assertion.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime is the longest exp - iat accepted: Talkdesk
// documents exp = iat + 300.
const MaxAssertionLifetime = 5 * time.Minute

// assertionLeeway is the clock difference tolerated on iat and exp.
const assertionLeeway = 30 * time.Second

// Assertion is a client assertion the token endpoint accepted.
type Assertion struct {
	KeyID, Algorithm, JTI string
	IssuedAt, Expires     time.Time
	At                    time.Time
}

// Assertions returns the client assertions accepted, in order.
func (s *Server) Assertions() []Assertion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Assertion(nil), s.assertions...)
}

// assertionAuth authenticates a token request by its client assertion:
// signed by the registered key with the algorithm of its type, for this
// token endpoint, by and about the client, not expired, of a short
// lifetime, and never seen before. Failures answer 401 invalid_client;
// the ones a correct client never causes are also violations.
func (s *Server) assertionAuth(r *http.Request, form url.Values) (reply, bool) {
	fail := func(description string) (reply, bool) {
		return oauthError(http.StatusUnauthorized, "invalid_client", description), false
	}
	bug := func(description string) (reply, bool) {
		s.violate(r, "client assertion: %s", description)
		return fail(description)
	}
	if t := form.Get("client_assertion_type"); t != AssertionType {
		return bug("client_assertion_type " + quote(t) + ", want " + AssertionType)
	}
	raw := form.Get("client_assertion")
	if raw == "" {
		return bug("client_assertion is empty")
	}
	if s.opts.PublicKey == nil {
		return fail("the client has no registered public key")
	}
	var alg string
	switch s.opts.PublicKey.(type) {
	case *ecdsa.PublicKey:
		alg = "ES256"
	case *rsa.PublicKey:
		alg = "RS256"
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(s.now), jwt.WithLeeway(assertionLeeway),
		jwt.WithIssuedAt(), jwt.WithExpirationRequired()).
		ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return s.opts.PublicKey, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return bug("not a JWS compact serialization")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		// A key that is not the registered one: configuration.
		return fail("the client assertion's signature does not verify with the registered public key")
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail("the client assertion has expired")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail("the client assertion is issued in the future")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return bug("the client assertion lacks exp")
	case err != nil:
		return bug("the client assertion is invalid: " + err.Error())
	}
	kid, _ := tok.Header["kid"].(string)
	switch {
	case kid == "":
		return bug("header has no kid")
	case s.opts.KeyID != "" && kid != s.opts.KeyID:
		return fail("key id " + quote(kid) + " is not registered for the client")
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	switch {
	case iss == "" || iss != sub:
		return bug("iss " + quote(iss) + " and sub " + quote(sub) + " must both be the client id")
	case iss != s.opts.ClientID:
		return fail("unknown client " + quote(iss))
	case form.Has("client_id") && form.Get("client_id") != iss:
		return bug("client_id " + quote(form.Get("client_id")) + " is not the assertion's iss")
	}
	// The audience is this token endpoint, as the client was told to call it.
	want := baseURL(r) + r.URL.Path
	if aud, err := claims.GetAudience(); err != nil || len(aud) != 1 || aud[0] != want {
		return bug("aud " + quote(claims["aud"]) + " is not the token URL " + want)
	}
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	if iat == nil {
		return bug("the client assertion lacks iat")
	}
	if exp.Sub(iat.Time) > MaxAssertionLifetime {
		return bug("exp - iat is " + exp.Sub(iat.Time).String() + ", longer than " + MaxAssertionLifetime.String())
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return bug("the client assertion lacks jti")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jtis[jti] {
		s.violateLocked(r, "client assertion: jti %q used again", jti)
		return fail("the client assertion's jti has been used before")
	}
	s.jtis[jti] = true
	s.assertionRaw = append(s.assertionRaw, raw)
	s.assertions = append(s.assertions, Assertion{KeyID: kid, Algorithm: alg, JTI: jti, IssuedAt: iat.Time, Expires: exp.Time, At: s.now()})
	return reply{}, true
}

func quote(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
