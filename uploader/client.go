// Package uploader is the Talkdesk client: access tokens, upload requests,
// the PUT of a file's bytes to its signed URL, and the PATCH that starts
// Talkdesk's validation. It knows nothing of folders or files on disk.
package uploader

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
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
	Timeout      time.Duration // per HTTP request
	// MaxConns is the most connections kept open per host; set it to at
	// least the number of uploads that run at once.
	MaxConns  int
	Logger    *slog.Logger
	UserAgent string
	// Transport replaces the default HTTP transport (tests, private CAs).
	Transport http.RoundTripper
}

// Client talks to one Talkdesk account. It is safe for concurrent use.
type Client struct {
	api, tokenURL string
	id, secret    string
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
		return nil, errors.New("uploader: api and token URLs are required")
	}
	api, err := url.Parse(opts.APIURL)
	if err != nil {
		return nil, fmt.Errorf("uploader: api url: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 4
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
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
	var ur UploadRequest
	if err := json.Unmarshal(raw, &ur); err != nil || ur.ID == "" || ur.SignedURL == "" {
		return nil, &APIError{Op: op, Status: status, Message: "answer lacks id or signed_url", Snippet: snippet(raw)}
	}
	u, err := url.Parse(ur.SignedURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, &APIError{Op: op, Status: status, Message: "answer has an unusable signed_url"}
	}
	if u.Scheme != "https" && !(c.apiOnLoopback && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("%s: %w (%s)", op, ErrUnsafeURL, RedactURL(ur.SignedURL))
	}
	return &ur, nil
}

// MarkUploaded PATCHes the upload request's status to UPLOADED, which starts
// Talkdesk's validation of the file.
func (c *Client) MarkUploaded(ctx context.Context, listID, uploadID string) error {
	body := map[string]string{"op": "replace", "path": "/status", "value": "UPLOADED"}
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
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := &S3Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(raw, &x) == nil {
		se.Code, se.Message = x.Code, x.Message
	} else if s := snippet(raw); s != "" {
		se.Message = s
	}
	return se
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
	payload, err := json.Marshal(in)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: encode body: %w", op, err)
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return 0, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, c.api+path, bytes.NewReader(payload))
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
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
		ae := &APIError{Op: op, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), c.now())}
		var body struct {
			Code        any          `json:"code"`
			Message     string       `json:"message"`
			Description string       `json:"description"`
			Fields      []FieldError `json:"fields"`
		}
		if json.Unmarshal(raw, &body) == nil && (body.Code != nil || body.Message != "") {
			if body.Code != nil {
				ae.Code = fmt.Sprint(body.Code)
			}
			ae.Message, ae.Description, ae.Fields = body.Message, body.Description, body.Fields
		} else {
			ae.Snippet = snippet(raw)
		}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &TokenError{Err: err}
	}
	req.SetBasicAuth(c.id, c.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &TokenError{Err: redactErr(err)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	var body struct {
		AccessToken      string          `json:"access_token"`
		TokenType        string          `json:"token_type"`
		ExpiresIn        json.Number     `json:"expires_in"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
		Scope            json.RawMessage `json:"scope"`
	}
	jerr := json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusOK {
		te := &TokenError{Status: resp.StatusCode, Code: body.Error, Description: body.ErrorDescription}
		if jerr != nil {
			te.Description = snippet(raw)
		}
		return "", te
	}
	if jerr != nil || body.AccessToken == "" {
		return "", &TokenError{Status: resp.StatusCode, Description: "answer lacks access_token"}
	}
	if body.TokenType != "" && !strings.EqualFold(body.TokenType, "bearer") {
		return "", &TokenError{Status: resp.StatusCode, Description: "unexpected token_type " + strconv.Quote(body.TokenType)}
	}
	lifetime := 5 * time.Minute // not documented; used when the answer has none
	if n, err := body.ExpiresIn.Int64(); err == nil && n > 0 {
		lifetime = time.Duration(n) * time.Second
	}
	// Renew a little before the end, so a token does not expire between
	// being handed out and being used.
	margin := min(lifetime/10, time.Minute)
	c.mu.Lock()
	c.token = body.AccessToken
	c.tokenExpires = start.Add(lifetime - margin)
	c.tokenRenewals++
	c.mu.Unlock()
	c.log.Debug("access token obtained", "expires_in", lifetime)
	return body.AccessToken, nil
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

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// snippet is a short, printable start of an unexpected answer, for errors
// that a person reads.
func snippet(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
