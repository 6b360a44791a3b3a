package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// How a browser signs in: `listdrop open` (run as root, Administrators or
// the service's user) asks POST /login-code with the token and prints a
// link carrying a one-time code; opening it sets a session cookie
// (HttpOnly, SameSite=Strict) and goes to the page. The token itself never
// reaches the browser, its history or a URL; the code works once and for
// loginCodeTTL; the cookie is not readable by scripts and not sent with a
// request from another site. Forms carry a CSRF token derived from the
// session on top of that.
const (
	sessionCookie   = "listdrop_session"
	loginCodeTTL    = 2 * time.Minute
	sessionTTL      = 12 * time.Hour
	maxLoginCodes   = 100
	maxSessions     = 1000
	sessionIDLength = 32 // random bytes
)

// sessions holds the pending login codes and the signed-in browsers, in
// memory: a restart signs everyone out, as it changes the token.
type sessions struct {
	mu       sync.Mutex
	codes    map[string]time.Time // code -> expiry
	sessions map[string]time.Time // session id -> expiry
	flash    map[string][]string  // principal -> messages for its next page
	csrfKey  []byte
	now      func() time.Time
}

func newSessions() *sessions {
	return &sessions{codes: map[string]time.Time{}, sessions: map[string]time.Time{}, flash: map[string][]string{},
		csrfKey: randomBytes(32), now: time.Now}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported systems (Go 1.24+)
	}
	return b
}

// newCode makes a one-time login code.
func (s *sessions) newCode() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	prune(s.codes, now)
	if len(s.codes) >= maxLoginCodes {
		clear(s.codes) // nobody opens a hundred links in two minutes
	}
	code := hex.EncodeToString(randomBytes(sessionIDLength))
	exp := now.Add(loginCodeTTL)
	s.codes[code] = exp
	return code, exp
}

// useCode spends a login code and returns a new session id, or "" when the
// code is unknown, spent or expired.
func (s *sessions) useCode(code string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	exp, ok := s.codes[code]
	delete(s.codes, code)
	if !ok || now.After(exp) {
		return ""
	}
	prune(s.sessions, now)
	if len(s.sessions) >= maxSessions {
		clear(s.sessions)
	}
	id := hex.EncodeToString(randomBytes(sessionIDLength))
	s.sessions[id] = now.Add(sessionTTL)
	return id
}

// session returns the request's valid session id, or "".
func (s *sessions) session(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 2*sessionIDLength {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, exp := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(id), []byte(c.Value)) == 1 && s.now().Before(exp) {
			return id
		}
	}
	return ""
}

// csrf is the form token of a principal (a session, a basic
// authentication user, or the bearer token's holder).
func (s *sessions) csrf(principal string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(principal))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *sessions) checkCSRF(principal, got string) bool {
	return principal != "" && hmac.Equal([]byte(s.csrf(principal)), []byte(got))
}

func (s *sessions) addFlash(principal string, msgs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.flash) > maxSessions {
		clear(s.flash)
	}
	s.flash[principal] = append(s.flash[principal], msgs...)
}

func (s *sessions) takeFlash(principal string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.flash[principal]
	delete(s.flash, principal)
	return m
}

func prune(m map[string]time.Time, now time.Time) {
	for k, exp := range m {
		if now.After(exp) {
			delete(m, k)
		}
	}
}

// end forgets a session.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
}
