package faketalkdesk

import (
	"crypto/subtle"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Scope is the OAuth scope the Record Lists endpoints require.
const Scope = "record-lists:manage"

const maxFormBytes = 64 << 10

// handleToken is POST /oauth/token, client credentials grant, with the
// client authenticated by HTTP Basic (client_secret_basic) or by a JWT
// signed with its private key (private_key_jwt).
func (s *Server) handleToken(r *http.Request) reply {
	id, secret, hasBasic := r.BasicAuth()
	if hasBasic && !s.secretAuth(id, secret) {
		// Wrong credentials are a configuration matter, not a client bug.
		return oauthError(http.StatusUnauthorized, "invalid_client", "client authentication failed")
	}
	if mt := mediaType(r); mt != "application/x-www-form-urlencoded" {
		s.violate(r, "Content-Type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		return oauthError(http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	body, tooLarge, err := readBody(r, maxFormBytes)
	if err != nil || tooLarge {
		s.violate(r, "unreadable or oversized form body")
		return oauthError(http.StatusBadRequest, "invalid_request", "unreadable form body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.violate(r, "malformed form body")
		return oauthError(http.StatusBadRequest, "invalid_request", "malformed form body")
	}
	_, hasAssertion := form["client_assertion"]
	_, hasAssertionType := form["client_assertion_type"]
	switch {
	case hasBasic && (hasAssertion || hasAssertionType):
		s.violate(r, "two client authentication methods in one request (HTTP Basic and client_assertion)")
		return oauthError(http.StatusBadRequest, "invalid_request", "use only one client authentication method")
	case hasAssertion || hasAssertionType:
		if rep, ok := s.assertionAuth(r, form); !ok {
			return rep
		}
	case !hasBasic:
		s.violate(r, "no client authentication (Authorization: Basic base64(client_id:client_secret), or client_assertion)")
		return oauthError(http.StatusUnauthorized, "invalid_client", "client authentication failed: HTTP Basic credentials or a client assertion required")
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		s.violate(r, "grant_type missing")
		return oauthError(http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		s.violate(r, "grant_type %q, want client_credentials", gt)
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
	}
	if !slices.Contains(strings.Fields(form.Get("scope")), Scope) {
		s.violate(r, "scope %q does not include %s", form.Get("scope"), Scope)
		return oauthError(http.StatusBadRequest, "invalid_scope", "scope must include "+Scope)
	}
	if s.opts.WithoutScope {
		// The account's admin did not grant the scope: a configuration
		// matter, not a client bug.
		return oauthError(http.StatusBadRequest, "invalid_scope", "the client is not allowed scope "+Scope)
	}

	token := randomHex(24)
	ttl := s.opts.TokenTTL
	s.mu.Lock()
	s.tokens[token] = s.now().Add(ttl)
	s.tokensIssued++
	s.mu.Unlock()
	rep := jsonReply(http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   "Bearer",
		"expires_in":   max(1, int(math.Ceil(ttl.Seconds()))),
		"scope":        Scope,
	})
	rep.header.Set("Cache-Control", "no-store")
	return rep
}

// authorize checks the Bearer token of an API request. It never echoes the
// token.
func (s *Server) authorize(r *http.Request) (reply, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if h == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		s.violate(r, "no Bearer token (Authorization: Bearer <access_token>)")
		return unauthorized("a Bearer access token is required"), false
	}
	s.mu.Lock()
	exp, known := s.tokens[token]
	now := s.now()
	s.mu.Unlock()
	if !known {
		s.violate(r, "Bearer token was never issued by the token endpoint")
		return unauthorized("the access token is invalid"), false
	}
	if !now.Before(exp) {
		// Tokens end; a correct client renews and retries.
		return unauthorized("the access token has expired"), false
	}
	return reply{}, true
}

func unauthorized(description string) reply {
	rep := apiError(http.StatusUnauthorized, CodeUnauthorized, "Unauthorized", description)
	rep.header.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	return rep
}

// secretAuth checks HTTP Basic client credentials. A server without a
// ClientSecret accepts none.
func (s *Server) secretAuth(id, secret string) bool {
	return s.opts.ClientSecret != "" && equal(id, s.opts.ClientID) && equal(secret, s.opts.ClientSecret)
}

// equal compares secrets in constant time.
func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
