// Package talkdesk is the Talkdesk client: access tokens, upload requests,
// the PUT of a file's bytes to its signed URL, and the PATCH that starts
// Talkdesk's validation. It knows nothing of folders or files on disk.
package talkdesk

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
)

// Scope is the OAuth scope the record-list endpoints need.
const Scope = "record-lists:manage"

// maxAnswer bounds how much of any answer is read: the documented answers are
// a few hundred bytes, and a broken proxy must not make the daemon buffer
// gigabytes.
const maxAnswer = 1 << 20

// Options configure a Client.
type Options struct {
	APIURL       string // e.g. https://api.talkdeskapp.com
	TokenURL     string // e.g. https://acme.talkdeskid.com/oauth/token
	ClientID     string
	ClientSecret string
	// PrivateKey, set instead of ClientSecret, authenticates the client
	// with a JWT signed by it (private_key_jwt): an *ecdsa.PrivateKey on
	// P-256 signs ES256, an *rsa.PrivateKey RS256. KeyID is the id Talkdesk
	// gave its public half, sent as the JWT's "kid".
	PrivateKey crypto.Signer
	KeyID      string
	Timeout    time.Duration // per HTTP request
	// MaxConns is the most connections kept open per host; set it to at
	// least the number of uploads that run at once.
	MaxConns  int
	Logger    *slog.Logger
	UserAgent string
	// CAFile names a PEM file of certificate authorities to trust besides
	// the system's: a private CA, or a proxy that inspects TLS. It adds
	// trust; it never turns verification off, and nothing does.
	CAFile string
	// Transport replaces the default HTTP transport, and with it the TLS
	// settings and CAFile (tests).
	Transport http.RoundTripper
}

// Client talks to one Talkdesk account. It is safe for concurrent use.
type Client struct {
	api, tokenURL string
	id, secret    string
	signer        *assertionSigner // nil: the client secret authenticates
	http          *http.Client
	log           *slog.Logger
	ua            string
	apiOnLoopback bool
	tokenLock     chan struct{} // a lock that a waiting caller can give up on
	mu            sync.Mutex
	token         string
	tokenExpires  time.Time
	now           func() time.Time
	tokenRenewals int
}

// New returns a client. It makes no request.
func New(opts Options) (*Client, error) {
	if opts.APIURL == "" || opts.TokenURL == "" {
		return nil, errors.New("talkdesk: api and token URLs are required")
	}
	api, err := url.Parse(opts.APIURL)
	if err != nil {
		return nil, fmt.Errorf("talkdesk: api url: %w", err)
	}
	var signer *assertionSigner
	if opts.PrivateKey != nil {
		if opts.ClientSecret != "" {
			return nil, errors.New("talkdesk: set a client secret or a private key, not both")
		}
		if signer, err = newAssertionSigner(opts.PrivateKey, opts.KeyID); err != nil {
			return nil, err
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 4
	}
	tr := opts.Transport
	if tr == nil {
		tc, err := tlsConfig(opts.CAFile)
		if err != nil {
			return nil, err
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		t.MaxIdleConnsPerHost = opts.MaxConns + 2
		t.ResponseHeaderTimeout = opts.Timeout
		tr = t
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "listdrop"
	}
	return &Client{
		api:           strings.TrimRight(opts.APIURL, "/"),
		tokenURL:      opts.TokenURL,
		id:            opts.ClientID,
		secret:        opts.ClientSecret,
		signer:        signer,
		http:          &http.Client{Transport: tr, Timeout: opts.Timeout},
		log:           logger,
		ua:            ua,
		apiOnLoopback: isLoopback(api.Hostname()),
		tokenLock:     make(chan struct{}, 1),
		now:           time.Now,
	}, nil
}

// TokenRenewals counts the access tokens obtained so far.
func (c *Client) TokenRenewals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokenRenewals
}

// Metadata describes the CSV file in an upload request.
type Metadata struct {
	Filename    string `json:"filename"`
	ByteSize    int    `json:"byte_size"`
	Checksum    string `json:"checksum"`
	ContentType string `json:"content_type"`
}

// CreateRequest is one upload request to create.
type CreateRequest struct {
	ListID                string
	CSV                   Metadata
	CallbackAction        any   // passed to the API as is; nil leaves it out
	SendAtlasNotification *bool // nil leaves it out
}

// UploadRequest is the API's answer to a create.
type UploadRequest struct {
	ID           string `json:"id"`
	RecordListID string `json:"record_list_id"`
	SignedURL    string `json:"signed_url"`
	Status       string `json:"status"`
}

// CreateUploadRequest asks Talkdesk for a signed URL to upload one file to.
func (c *Client) CreateUploadRequest(ctx context.Context, req CreateRequest) (*UploadRequest, error) {
	const op = "create upload request"
	body := struct {
		CSV      Metadata `json:"csv_metadata"`
		Callback any      `json:"callback_action,omitempty"`
		Atlas    *bool    `json:"send_atlas_notification,omitempty"`
	}{req.CSV, req.CallbackAction, req.SendAtlasNotification}
	if body.CSV.ContentType == "" {
		body.CSV.ContentType = "text/csv"
	}
	status, raw, err := c.callAPI(ctx, op, http.MethodPost,
		"/record-lists/"+url.PathEscape(req.ListID)+"/upload-requests", body)
	if err != nil {
		return nil, err
	}
	ur, err := parseCreateAnswer(status, raw, c.apiOnLoopback)
	if err != nil {
		// The error may quote the answer: quote it without credentials.
		creds := c.credentials(c.currentToken())
		if _, serr := parseCreateAnswer(status, scrubbed(raw, creds), c.apiOnLoopback); serr != nil {
			err = serr
		}
		return nil, scrub(err, creds)
	}
	return ur, nil
}

// MarkUploaded PATCHes the upload request's status to UPLOADED, which starts
// Talkdesk's validation of the file.
func (c *Client) MarkUploaded(ctx context.Context, listID, uploadID string) error {
	body := map[string]string{"op": "replace", "path": "/status", "value": "UPLOADED"}
	// A test build can crash once Talkdesk has applied the PATCH, before its answer is read.
	ctx = crashpoint.Trace(ctx, "patch.sent")
	_, _, err := c.callAPI(ctx, "mark uploaded", http.MethodPatch,
		"/record-lists/"+url.PathEscape(listID)+"/upload-requests/"+url.PathEscape(uploadID), body)
	return err
}

// Put uploads body to a signed S3 URL. md5sum is the body's raw MD5 digest,
// sent as Content-MD5 only when the URL signed that header (S3 refuses
// headers that were not signed).
func (c *Client) Put(ctx context.Context, signedURL string, body []byte, md5sum [16]byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, signedURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("upload file to storage: bad signed URL %s", RedactURL(signedURL))
	}
	// bytes.Reader gives a known length, so the body is never sent chunked
	// (S3 answers 501 to chunked uploads).
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("User-Agent", c.ua)
	if signedHeaders(req.URL)["content-md5"] {
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(md5sum[:]))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upload file to storage: %w", redactErr(err))
	}
	defer resp.Body.Close()
	// A read error after a 2xx status does not matter: the bytes are stored.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var se *S3Error
	if len(raw) > maxAnswer {
		se = &S3Error{Status: resp.StatusCode, Message: "answer larger than 1 MiB refused"}
	} else {
		creds := c.credentials(urlCredentials(req.URL)...)
		se = parseS3Error(resp.StatusCode, scrubbed(raw, creds))
		scrub(se, creds)
	}
	se.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
	return se
}

// urlCredentials are the parts of a presigned URL that are credentials.
func urlCredentials(u *url.URL) []string {
	q := u.Query()
	return []string{q.Get("X-Amz-Signature"), q.Get("X-Amz-Credential"), q.Get("X-Amz-Security-Token")}
}

func signedHeaders(u *url.URL) map[string]bool {
	out := map[string]bool{}
	for _, h := range strings.Split(u.Query().Get("X-Amz-SignedHeaders"), ";") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out[h] = true
		}
	}
	return out
}

// callAPI sends one JSON request with a bearer token. A 401 renews the token
// once and sends again: tokens can be revoked or expire early.
func (c *Client) callAPI(ctx context.Context, op, method, path string, in any) (int, []byte, error) {
	var payload []byte
	if in != nil { // a GET has no body
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return 0, nil, fmt.Errorf("%s: encode body: %w", op, err)
		}
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return 0, nil, err
		}
		var reqBody io.Reader
		if payload != nil {
			reqBody = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(crashpoint.OnAnswer(ctx), method, c.api+path, reqBody)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.ua)
		resp, err := c.http.Do(req)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, redactErr(err))
		}
		raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		resp.Body.Close()
		if rerr != nil {
			return 0, nil, fmt.Errorf("%s: read answer: %w", op, rerr)
		}
		if len(raw) > maxAnswer {
			return 0, nil, &APIError{Op: op, Status: resp.StatusCode, Message: "answer larger than 1 MiB refused"}
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			c.forgetToken(tok)
			continue
		}
		if resp.StatusCode/100 == 2 {
			return resp.StatusCode, raw, nil
		}
		creds := c.credentials(tok)
		ae := parseAPIError(op, resp.StatusCode, scrubbed(raw, creds))
		scrub(ae, creds)
		ae.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
		return resp.StatusCode, raw, ae
	}
}

// accessToken returns a valid token, fetching one when there is none or the
// current one is about to expire.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	select {
	case c.tokenLock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.tokenLock }()
	c.mu.Lock()
	tok, exp := c.token, c.tokenExpires
	c.mu.Unlock()
	if tok != "" && c.now().Before(exp) {
		return tok, nil
	}
	return c.fetchToken(ctx)
}

func (c *Client) forgetToken(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
	}
}

func (c *Client) fetchToken(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {Scope}}
	var assertion string
	if c.signer != nil {
		// A fresh assertion each time: the server refuses a jti it has seen.
		var err error
		if assertion, err = c.signer.sign(c.id, c.tokenURL, c.now()); err != nil {
			return "", fmt.Errorf("get access token: %w", err)
		}
		form.Set("client_id", c.id)
		form.Set("client_assertion_type", AssertionType)
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &TokenError{Err: err}
	}
	if c.signer == nil {
		req.SetBasicAuth(c.id, c.secret)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &TokenError{Err: redactErr(err)}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	switch {
	case len(raw) > maxAnswer:
		return "", &TokenError{Status: resp.StatusCode, Description: "answer larger than 1 MiB refused"}
	case rerr != nil:
		return "", &TokenError{Status: resp.StatusCode, Err: fmt.Errorf("read answer: %w", rerr)}
	}
	ans, err := parseTokenAnswer(resp.StatusCode, raw)
	if err != nil {
		// The error may quote the answer: quote it without credentials.
		creds := c.credentials(assertionParts(assertion)...)
		if _, serr := parseTokenAnswer(resp.StatusCode, scrubbed(raw, creds)); serr != nil {
			err = serr
		}
		return "", scrub(err, creds)
	}
	lifetime := ans.lifetime
	// Renew a little before the end, so a token does not expire between
	// being handed out and being used.
	margin := min(lifetime/10, time.Minute)
	c.mu.Lock()
	c.token = ans.token
	c.tokenExpires = start.Add(lifetime - margin)
	c.tokenRenewals++
	c.mu.Unlock()
	c.log.Debug("access token obtained", "expires_in", lifetime)
	return ans.token, nil
}

func (c *Client) currentToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// credentials lists what no error may show: the client secret, also as
// sent in the Basic authorization, and the given tokens. An answer may
// echo them: a proxy printing the request, a server quoting the secret.
func (c *Client) credentials(more ...string) []string {
	var creds []string
	if c.secret != "" {
		creds = append(creds, c.secret, base64.StdEncoding.EncodeToString([]byte(c.id+":"+c.secret)))
	}
	for _, m := range more {
		if m != "" {
			creds = append(creds, m)
		}
	}
	return creds
}

// redactErr keeps a transport error's cause but drops the URL's query
// string, which url.Error would otherwise print whole.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	return err
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
