// Package faketalkdesk is an in-process fake of the parts of Talkdesk that
// listdrop talks to: the OAuth 2.0 token endpoint, the Record Lists upload
// requests, and the S3 presigned PUT that carries a file's bytes.
//
// It serves real HTTP on loopback and enforces the documented rules, so a
// client that breaks one fails as it would against the real services: it
// gets the documented error body, and the broken rule is recorded in
// Violations. Answers that a correct client can meet in normal operation
// (wrong credentials, an unknown record list, an expired token or URL, a
// conflict after a retried PATCH, a busy or validating list, an injected
// fault) are not violations, so a test of a correct client can assert
// len(srv.Violations()) == 0.
//
// The server keeps everything in memory and is safe for concurrent use;
// every getter returns a copy.
package faketalkdesk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. ClientID is required, and ClientSecret or
// PublicKey or both.
type Options struct {
	// ClientID and ClientSecret are the only credentials the token endpoint
	// accepts as HTTP Basic authentication (client_secret_basic).
	ClientID, ClientSecret string
	// PublicKey, an *ecdsa.PublicKey on P-256 (ES256) or an *rsa.PublicKey
	// (RS256), is the client's registered key: the token endpoint accepts
	// client assertions it verifies (private_key_jwt). KeyID, when set, is
	// the only kid accepted.
	PublicKey crypto.PublicKey
	KeyID     string
	// WithoutScope: the client is not granted record-lists:manage, so the
	// token endpoint answers 400 invalid_scope to a correct request.
	WithoutScope bool
	// TokenTTL is the lifetime of issued tokens, announced as expires_in and
	// enforced: an expired token answers 401. Default 1h.
	TokenTTL time.Duration
	// URLTTL is the lifetime of signed upload URLs (X-Amz-Expires). An
	// expired URL answers 403 "Request has expired". Default 15m.
	URLTTL time.Duration
	// SignContentMD5 makes signed URLs sign the content-md5 header
	// (X-Amz-SignedHeaders=content-md5;content-type;host), so the PUT must
	// carry it. Without it they sign content-type;host only, and a PUT that
	// sends Content-MD5 is refused, as AWS refuses unsigned headers.
	SignContentMD5 bool
	// Latency is added before answering every request; see SetLatency.
	Latency time.Duration
	// Lists are the known record list ids. Empty means every id is known;
	// otherwise an unknown id answers 404.
	Lists []string
	// Now is the clock for token and URL expiry and for timestamps.
	// Default time.Now.
	Now func() time.Time
	// Validation is how long every list validates an upload after its
	// PATCH to UPLOADED, as Talkdesk does: meanwhile the list reports
	// VALIDATION_STARTED and a PATCH to it answers 409; then it reports its
	// verdict (DefaultListStatus unless SetListStatus says otherwise). Zero:
	// the verdict at once. SetValidation overrides it per list.
	Validation time.Duration
	// RefuseCreateWhileValidating makes creating an upload request in a
	// list that validates answer 409 too. Whether Talkdesk does is not
	// documented; a client must cope with both.
	RefuseCreateWhileValidating bool
	// Columns, when set, are the template's columns: an upload whose first
	// line is not a header naming every one of them (in any order and
	// case) gets the verdict REJECTED, as Talkdesk rejects a file that
	// does not follow the list's template. A part of a split file without
	// the header shows this way.
	Columns []string
}

// Defaults applied by New for zero Options fields.
const (
	DefaultTokenTTL = time.Hour
	DefaultURLTTL   = 15 * time.Minute
)

// Statuses of an upload request, as the fake reports them.
const (
	StatusCreated  = "CREATED"
	StatusUploaded = "UPLOADED"
)

// DefaultListStatus is what GET /record-lists/{id} reports until
// SetListStatus says otherwise.
const DefaultListStatus = "ACCEPTED"

// StatusValidationStarted is what GET /record-lists/{id} reports while the
// list validates an upload (see Options.Validation).
const StatusValidationStarted = "VALIDATION_STARTED"

// Server is the fake. Create it with Start (real loopback listener) or New
// (serve it yourself through Handler).
type Server struct {
	opts    Options
	now     func() time.Time
	lists   map[string]bool // nil: every id is known
	signKey []byte          // HMAC key of signed URLs, random per server

	closeOnce sync.Once
	closed    chan struct{} // closed by Close; releases hanging requests
	httpSrv   *http.Server
	serveDone chan struct{}
	base      string

	mu           sync.Mutex
	latency      time.Duration
	tokens       map[string]time.Time // token -> expiry
	tokensIssued int
	signatures   []string           // of every signed URL handed out
	uploads      map[string]*upload // by upload request id
	uploadOrder  []string
	commits      []commit
	requests     []Request
	violations   []string
	faults       map[Step][]Fault
	busy         map[string]bool
	listStatus   map[string]string
	listNames    map[string]string
	jtis         map[string]bool // of every client assertion accepted
	assertions   []Assertion
	assertionRaw []string                 // every client assertion accepted, for Secrets
	records      map[string]int           // records committed to each list, counted once per commit
	validation   map[string]time.Duration // per-list validation time, overriding Options.Validation
	validations  []Validation             // every validation started, in order
	listGets     map[string]int           // answered GETs of each list
	verdicts     map[string]string        // each list's last upload's verdict, when the content decides it
	verdictOf    func(body []byte) string // SetVerdict's
}

// Validation is one validation of an upload: from its PATCH to UPLOADED to
// the moment the list gave its verdict.
type Validation struct {
	ListID, UploadID string
	Start, End       time.Time
	// Verdict is what the content decided (Options.Columns, SetVerdict);
	// empty when the list's status says it.
	Verdict string
}

// upload is the fake's state of one upload request.
type upload struct {
	listID, id     string
	filename       string
	checksum       string
	byteSize       int
	callbackAction json.RawMessage // nil when absent
	sendAtlas      *bool
	createdAt      time.Time

	status string
	put    bool // a PUT stored body
	body   []byte
}

// commit is a Commit with the callback kept as raw JSON, so every getter can
// hand out an independent copy.
type commit struct {
	Commit
	callbackAction json.RawMessage
}

// Commit is an upload request that a PATCH set to UPLOADED.
type Commit struct {
	ListID, UploadID, Filename, Checksum string
	ByteSize                             int
	// Body is what the last successful PUT stored.
	Body []byte
	// CallbackAction is the create request's callback_action, decoded; nil
	// when absent.
	CallbackAction map[string]any
	// SendAtlas is the create request's send_atlas_notification; nil when
	// absent.
	SendAtlas *bool
	At        time.Time
}

// Request is one request the server saw. Path never includes the query
// string (a signed URL's query is a credential). Status is 0 while the
// request is being answered and stays 0 when it never got an answer (a hang,
// or the client went away first).
type Request struct {
	Method, Path string
	Status       int
	At           time.Time
}

// UploadRequest describes one created upload request.
type UploadRequest struct {
	ListID, ID, Filename, Checksum string
	ByteSize                       int
	Status                         string
	// Uploaded reports whether a PUT stored the body.
	Uploaded bool
	At       time.Time
}

// New returns a Server that is not listening: serve it through Handler, for
// example with httptest.NewServer. URL and TokenURL are empty for such a
// server; signed URLs and links point at the host the request came to.
// Close it before closing the HTTP server that serves it, so that hanging
// requests are released.
func New(opts Options) (*Server, error) {
	if opts.ClientID == "" || (opts.ClientSecret == "" && opts.PublicKey == nil) {
		return nil, errors.New("faketalkdesk: ClientID and a ClientSecret or a PublicKey are required")
	}
	switch k := opts.PublicKey.(type) {
	case nil, *rsa.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("faketalkdesk: an EC PublicKey must be on P-256 (ES256)")
		}
	default:
		return nil, fmt.Errorf("faketalkdesk: a %T PublicKey signs neither ES256 nor RS256", opts.PublicKey)
	}
	if strings.Contains(opts.ClientID, ":") {
		// HTTP Basic authentication cannot carry a user id with a colon.
		return nil, errors.New("faketalkdesk: ClientID must not contain ':'")
	}
	if opts.TokenTTL < 0 || opts.URLTTL < 0 || opts.Latency < 0 || opts.Validation < 0 {
		return nil, errors.New("faketalkdesk: durations must not be negative")
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.URLTTL == 0 {
		opts.URLTTL = DefaultURLTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:       opts,
		now:        opts.Now,
		signKey:    make([]byte, 32),
		closed:     make(chan struct{}),
		latency:    opts.Latency,
		tokens:     map[string]time.Time{},
		uploads:    map[string]*upload{},
		faults:     map[Step][]Fault{},
		busy:       map[string]bool{},
		listStatus: map[string]string{},
		records:    map[string]int{},
		listNames:  map[string]string{},
		jtis:       map[string]bool{},
		validation: map[string]time.Duration{},
		listGets:   map[string]int{},
		verdicts:   map[string]string{},
	}
	if len(opts.Lists) > 0 {
		s.lists = map[string]bool{}
		for _, id := range opts.Lists {
			if id == "" {
				return nil, errors.New("faketalkdesk: empty record list id in Lists")
			}
			s.lists[id] = true
		}
	}
	s.opts.Lists = nil // s.lists is the copy in use
	rand.Read(s.signKey)
	return s, nil
}

// Start returns a Server listening on 127.0.0.1 at a free port. It serves
// until Close.
func Start(opts Options) (*Server, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faketalkdesk: listen: %w", err)
	}
	s.base = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		_ = s.httpSrv.Serve(ln) // always ErrServerClosed after Close
	}()
	return s, nil
}

// URL is the base URL of the API, "http://127.0.0.1:port" (empty for a
// Server from New).
func (s *Server) URL() string { return s.base }

// TokenURL is the OAuth token endpoint, URL()+"/oauth/token" (empty for a
// Server from New).
func (s *Server) TokenURL() string {
	if s.base == "" {
		return ""
	}
	return s.base + "/oauth/token"
}

// Close releases requests that hang or wait out latency, stops the listener
// of a started server and closes its connections. It is safe to call more
// than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.httpSrv != nil {
			_ = s.httpSrv.Close()
			<-s.serveDone
		}
	})
}

// Handler serves the fake API and the fake S3 on one handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Commits returns the upload requests set to UPLOADED, in order.
func (s *Server) Commits() []Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Commit, 0, len(s.commits))
	for _, c := range s.commits {
		out = append(out, c.copy())
	}
	return out
}

// CommitsFor returns the commits of one record list, in order.
func (s *Server) CommitsFor(listID string) []Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Commit
	for _, c := range s.commits {
		if c.ListID == listID {
			out = append(out, c.copy())
		}
	}
	return out
}

func (c commit) copy() Commit {
	out := c.Commit
	out.Body = append([]byte(nil), c.Body...)
	out.CallbackAction = nil
	if c.callbackAction != nil {
		// Decoding again gives every caller its own maps.
		_ = json.Unmarshal(c.callbackAction, &out.CallbackAction)
	}
	if c.SendAtlas != nil {
		v := *c.SendAtlas
		out.SendAtlas = &v
	}
	return out
}

// UploadRequests returns every created upload request, in order of creation.
func (s *Server) UploadRequests() []UploadRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]UploadRequest, 0, len(s.uploadOrder))
	for _, id := range s.uploadOrder {
		u := s.uploads[id]
		out = append(out, UploadRequest{
			ListID: u.listID, ID: u.id, Filename: u.filename, Checksum: u.checksum,
			ByteSize: u.byteSize, Status: u.status, Uploaded: u.put, At: u.createdAt,
		})
	}
	return out
}

// Requests returns every request seen, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Violations returns, in words, every rule a client broke.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// TokensIssued is the number of tokens the token endpoint granted.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// Secrets returns every value a client must never print: the client secret,
// every access token granted, the signatures of every signed URL handed
// out, and every client assertion accepted (also its signature alone). Tests grep the daemon's output for them.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{s.opts.ClientSecret}
	for tok := range s.tokens {
		out = append(out, tok)
	}
	out = append(out, s.signatures...)
	for _, a := range s.assertionRaw {
		// The whole assertion, and its signature alone.
		out = append(out, a, a[strings.LastIndexByte(a, '.')+1:])
	}
	return out
}

// SetListBusy makes PATCH on the list answer 409 while busy is true, as
// Talkdesk does while the list is taken by another upload.
func (s *Server) SetListBusy(listID string, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if busy {
		s.busy[listID] = true
	} else {
		delete(s.busy, listID)
	}
}

// SetLatency sets the delay added before answering every request. A request
// whose client goes away during the delay gets no answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = max(d, 0)
}

// ExpireTokens makes every token issued so far answer 401, as if it had
// reached its end; tokens issued later are not affected.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.tokens {
		s.tokens[tok] = time.Time{}
	}
}

// SetListStatus sets the status GET /record-lists/{id} reports for the list.
func (s *Server) SetListStatus(listID, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listStatus[listID] = status
}

// SetVerdict makes the verdict of each upload validated from now on
// verdict(body), unless it returns "": then Options.Columns and the list's
// status decide.
func (s *Server) SetVerdict(verdict func(body []byte) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verdictOf = verdict
}

// verdictLocked is the verdict an upload's content earns, or "" when the
// list's status says it; s.mu must be held.
func (s *Server) verdictLocked(body []byte) string {
	if s.verdictOf != nil {
		if v := s.verdictOf(body); v != "" {
			return v
		}
	}
	if len(s.opts.Columns) == 0 {
		return ""
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(string(body), "\uFEFF"), "\n")
	have := map[string]bool{}
	for _, c := range strings.Split(strings.TrimRight(first, "\r"), ",") {
		have[strings.ToLower(strings.Trim(strings.TrimSpace(c), `"`))] = true
	}
	for _, c := range s.opts.Columns {
		if !have[strings.ToLower(c)] {
			return "REJECTED"
		}
	}
	return "ACCEPTED"
}

// SetListName sets the name GET /record-lists/{id} reports for the list
// (default "Record list <id>").
func (s *Server) SetListName(listID, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listNames[listID] = name
}

// SetValidation sets how long listID validates each upload from now on,
// overriding Options.Validation; an empty listID sets it for every list
// without an override of its own.
func (s *Server) SetValidation(listID string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d = max(d, 0)
	if listID == "" {
		s.opts.Validation = d
		return
	}
	s.validation[listID] = d
}

// EndValidation ends the validation listID is running, if any, now: tests
// set a validation longer than they run and end it when they choose.
func (s *Server) EndValidation(listID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for i := len(s.validations) - 1; i >= 0; i-- {
		if v := &s.validations[i]; v.ListID == listID {
			if now.Before(v.End) {
				v.End = now
			}
			return
		}
	}
}

// Validations returns every validation started so far, in order of their
// PATCH.
func (s *Server) Validations() []Validation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Validation(nil), s.validations...)
}

// NotAccepted is the uploads whose validation ended REJECTED or CORRUPTED:
// committed, yet not in the list.
func (s *Server) NotAccepted() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, v := range s.validations {
		if v.Verdict == "REJECTED" || v.Verdict == "CORRUPTED" {
			out[v.UploadID] = true
		}
	}
	return out
}

// ListGets is how many GET /record-lists/{id} of listID were answered
// (of every list when listID is empty): the cost of polling for the end
// of validations.
func (s *Server) ListGets(listID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if listID != "" {
		return s.listGets[listID]
	}
	n := 0
	for _, c := range s.listGets {
		n += c
	}
	return n
}

// validatingLocked reports whether listID is validating an upload now;
// s.mu must be held.
func (s *Server) validatingLocked(listID string) bool {
	for i := len(s.validations) - 1; i >= 0; i-- {
		if v := s.validations[i]; v.ListID == listID {
			return s.now().Before(v.End)
		}
	}
	return false
}

// validationLocked is listID's validation time; s.mu must be held.
func (s *Server) validationLocked(listID string) time.Duration {
	if d, ok := s.validation[listID]; ok {
		return d
	}
	return s.opts.Validation
}

// knownList reports whether listID names a record list.
func (s *Server) knownList(listID string) bool {
	return listID != "" && (s.lists == nil || s.lists[listID])
}

// violate records a rule the client broke, prefixed with the request line
// (path only: a query can hold a credential).
func (s *Server) violate(r *http.Request, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violateLocked(r, format, args...)
}

func (s *Server) violateLocked(r *http.Request, format string, args ...any) {
	s.violations = append(s.violations, r.Method+" "+r.URL.Path+": "+fmt.Sprintf(format, args...))
}

// randomHex returns n random bytes as lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// newUUID returns a random version 4 UUID in its usual text form.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
