package faketalkdesk

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listdrop/listdrop/internal/testutil"
)

const (
	clientID     = "listdrop-test"
	clientSecret = "very-secret-value-42"
	list         = "L1"
)

var csvContent = []byte("first_name,last_name,mobile_phone\nAda,Lovelace,+351910000001\nAlan,Turing,+351910000002\n")

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID, opts.ClientSecret = clientID, clientSecret
	}
	srv, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

var client = &http.Client{Timeout: 10 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func newRequest(t *testing.T, method, target string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

const goodForm = "grant_type=client_credentials&scope=record-lists%3Amanage"

func tokenRequest(t *testing.T, base, id, secret, contentType, form string) response {
	t.Helper()
	req := newRequest(t, http.MethodPost, base+"/oauth/token", strings.NewReader(form))
	if id != "" || secret != "" {
		req.SetBasicAuth(id, secret)
	}
	req.Header.Set("Content-Type", contentType)
	return send(t, req)
}

func getToken(t *testing.T, base string) string {
	t.Helper()
	resp := tokenRequest(t, base, clientID, clientSecret, "application/x-www-form-urlencoded", goodForm)
	if resp.status != http.StatusOK {
		t.Fatalf("token: status %d: %s", resp.status, resp.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp.body, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: body %s: %v", resp.body, err)
	}
	return tok.AccessToken
}

// apiCall sends body (a string is sent as is, anything else as JSON) with a
// Bearer token and Content-Type application/json.
func apiCall(t *testing.T, method, target, token string, body any) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req := newRequest(t, method, target, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

func hexMD5(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func base64MD5(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// createBody is a valid create body for a file.
func createBody(name string, content []byte) map[string]any {
	return map[string]any{"csv_metadata": map[string]any{
		"filename":     name,
		"byte_size":    len(content),
		"checksum":     hexMD5(content),
		"content_type": "text/csv",
	}}
}

type link struct {
	Href string `json:"href"`
}

type created struct {
	ID           string `json:"id"`
	RecordListID string `json:"record_list_id"`
	SignedURL    string `json:"signed_url"`
	Status       string `json:"status"`
	Links        struct {
		Self       link `json:"self"`
		RecordList link `json:"record_list"`
		Upload     link `json:"upload"`
	} `json:"_links"`
}

func createURL(base, listID string) string {
	return base + "/record-lists/" + listID + "/upload-requests"
}

func mustCreate(t *testing.T, base, token, listID string, body any) created {
	t.Helper()
	resp := apiCall(t, http.MethodPost, createURL(base, listID), token, body)
	if resp.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", resp.status, resp.body)
	}
	var c created
	if err := json.Unmarshal(resp.body, &c); err != nil {
		t.Fatalf("create: %v: %s", err, resp.body)
	}
	return c
}

// putFile PUTs content with Content-Type text/csv and Content-Length, then
// applies header; an empty value removes a header.
func putFile(t *testing.T, signedURL string, content []byte, header map[string]string) response {
	t.Helper()
	req := newRequest(t, http.MethodPut, signedURL, bytes.NewReader(content))
	req.Header.Set("Content-Type", "text/csv")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return send(t, req)
}

var uploadedBody = map[string]string{"op": "replace", "path": "/status", "value": "UPLOADED"}

func patchURL(base, listID, uploadID string) string {
	return createURL(base, listID) + "/" + uploadID
}

func decodeAPIError(t *testing.T, resp response) apiErrorBody {
	t.Helper()
	var e apiErrorBody
	if err := json.Unmarshal(resp.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, resp.body)
	}
	if e.Code == "" || e.Message == "" || e.Description == "" || e.Fields == nil {
		t.Fatalf("error body lacks code, message, description or fields: %s", resp.body)
	}
	return e
}

func fieldNames(e apiErrorBody) []string {
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Name)
	}
	return names
}

func decodeS3Error(t *testing.T, resp response) s3ErrorBody {
	t.Helper()
	var e s3ErrorBody
	if err := xml.Unmarshal(resp.body, &e); err != nil {
		t.Fatalf("error body is not S3 XML: %v: %s", err, resp.body)
	}
	return e
}

func decodeOAuthError(t *testing.T, resp response) string {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(resp.body, &e); err != nil || e.Error == "" || e.Description == "" {
		t.Fatalf("not an OAuth error body: %v: %s", err, resp.body)
	}
	return e.Error
}

func wantViolations(t *testing.T, srv *Server, n int) {
	t.Helper()
	if v := srv.Violations(); len(v) != n {
		t.Fatalf("got %d violations, want %d: %q", len(v), n, v)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, what, cond)
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	for _, signMD5 := range []bool{false, true} {
		t.Run(fmt.Sprintf("SignContentMD5=%v", signMD5), func(t *testing.T) {
			clock := newClock()
			srv := startServer(t, Options{SignContentMD5: signMD5, Lists: []string{list}, Now: clock.Now})
			tok := getToken(t, srv.URL())

			body := createBody("contacts é.csv", csvContent)
			body["callback_action"] = map[string]any{
				"endpoint": "http://example.test/callback", "method": "POST",
				"body": map[string]any{"address": "old street"}, "headers": map[string]any{"x-api-key": "k"},
			}
			body["send_atlas_notification"] = true
			c := mustCreate(t, srv.URL(), tok, list, body)
			if c.ID == "" || c.RecordListID != list || c.Status != StatusCreated {
				t.Fatalf("create answer: %+v", c)
			}
			if c.Links.Upload.Href != c.SignedURL ||
				c.Links.RecordList.Href != srv.URL()+"/record-lists/"+list ||
				c.Links.Self.Href != patchURL(srv.URL(), list, c.ID) {
				t.Fatalf("create links: %+v", c.Links)
			}
			u, err := url.Parse(c.SignedURL)
			if err != nil {
				t.Fatal(err)
			}
			wantSigned := "content-type;host"
			if signMD5 {
				wantSigned = "content-md5;content-type;host"
			}
			q := u.Query()
			if got := q.Get("X-Amz-SignedHeaders"); got != wantSigned {
				t.Fatalf("X-Amz-SignedHeaders = %q, want %q", got, wantSigned)
			}
			if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Expires") != "900" ||
				q.Get("X-Amz-Date") != "20250304T100000Z" || len(q.Get("X-Amz-Signature")) != 64 {
				t.Fatalf("signed URL query: %v", q)
			}
			if !strings.HasPrefix(c.SignedURL, srv.URL()+"/s3/uploads/"+c.ID+"/contacts%20%C3%A9.csv?") {
				t.Fatalf("signed URL %s", c.SignedURL)
			}

			header := map[string]string{}
			if signMD5 {
				header["Content-MD5"] = base64MD5(csvContent)
			}
			put := putFile(t, c.SignedURL, csvContent, header)
			if put.status != http.StatusOK || put.header.Get("ETag") != `"`+hexMD5(csvContent)+`"` {
				t.Fatalf("PUT: status %d, ETag %q: %s", put.status, put.header.Get("ETag"), put.body)
			}
			if ur := srv.UploadRequests(); len(ur) != 1 || !ur[0].Uploaded || ur[0].Status != StatusCreated {
				t.Fatalf("upload requests after PUT: %+v", ur)
			}

			clock.Advance(time.Second)
			patch := apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), tok, uploadedBody)
			if patch.status != http.StatusOK {
				t.Fatalf("PATCH: status %d: %s", patch.status, patch.body)
			}
			var pr struct {
				ID, RecordListID, Status string
			}
			var raw map[string]any
			if err := json.Unmarshal(patch.body, &raw); err != nil {
				t.Fatal(err)
			}
			pr.ID, _ = raw["id"].(string)
			pr.RecordListID, _ = raw["record_list_id"].(string)
			pr.Status, _ = raw["status"].(string)
			if pr.ID != c.ID || pr.RecordListID != list || pr.Status != "UPLOADED" || raw["_links"] == nil {
				t.Fatalf("PATCH answer: %s", patch.body)
			}

			commits := srv.Commits()
			if len(commits) != 1 {
				t.Fatalf("got %d commits, want 1", len(commits))
			}
			got := commits[0]
			if got.ListID != list || got.UploadID != c.ID || got.Filename != "contacts é.csv" ||
				got.Checksum != hexMD5(csvContent) || got.ByteSize != len(csvContent) ||
				!bytes.Equal(got.Body, csvContent) || got.SendAtlas == nil || !*got.SendAtlas ||
				!got.At.Equal(clock.Now()) {
				t.Fatalf("commit: %+v", got)
			}
			if got.CallbackAction["endpoint"] != "http://example.test/callback" ||
				got.CallbackAction["body"].(map[string]any)["address"] != "old street" {
				t.Fatalf("commit callback: %v", got.CallbackAction)
			}
			if n := len(srv.CommitsFor(list)); n != 1 {
				t.Fatalf("CommitsFor(%s) = %d commits", list, n)
			}
			if n := len(srv.CommitsFor("other")); n != 0 {
				t.Fatalf("CommitsFor(other) = %d commits", n)
			}

			// Getters hand out copies.
			got.Body[0] = 'X'
			got.CallbackAction["endpoint"] = "changed"
			*got.SendAtlas = false
			again := srv.Commits()[0]
			if !bytes.Equal(again.Body, csvContent) || again.CallbackAction["endpoint"] != "http://example.test/callback" || !*again.SendAtlas {
				t.Fatal("Commits returned shared memory")
			}

			reqs := srv.Requests()
			want := []Request{
				{Method: "POST", Path: "/oauth/token", Status: 200},
				{Method: "POST", Path: "/record-lists/L1/upload-requests", Status: 201},
				{Method: "PUT", Path: "/s3/uploads/" + c.ID + "/contacts é.csv", Status: 200},
				{Method: "PATCH", Path: "/record-lists/L1/upload-requests/" + c.ID, Status: 200},
			}
			if len(reqs) != len(want) {
				t.Fatalf("requests: %+v", reqs)
			}
			for i := range want {
				if reqs[i].Method != want[i].Method || reqs[i].Path != want[i].Path || reqs[i].Status != want[i].Status {
					t.Errorf("request %d = %+v, want %+v", i, reqs[i], want[i])
				}
			}
			if srv.TokensIssued() != 1 {
				t.Fatalf("TokensIssued = %d", srv.TokensIssued())
			}
			wantViolations(t, srv, 0)
		})
	}
}

func TestTokenRules(t *testing.T) {
	t.Parallel()
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name            string
		id, secret      string
		contentType     string
		form            string
		wantStatus      int
		wantError       string
		wantViolations  int
		wantTokenIssued bool
	}{
		{"ok", clientID, clientSecret, form, goodForm, 200, "", 0, true},
		{"ok with other scopes", clientID, clientSecret, form, "grant_type=client_credentials&scope=openid+record-lists%3Amanage", 200, "", 0, true},
		{"no basic auth", "", "", form, goodForm + "&client_id=" + clientID, 401, "invalid_client", 1, false},
		{"wrong secret", clientID, "not-the-secret", form, goodForm, 401, "invalid_client", 0, false},
		{"wrong client id", "someone", clientSecret, form, goodForm, 401, "invalid_client", 0, false},
		{"json content type", clientID, clientSecret, "application/json", goodForm, 400, "invalid_request", 1, false},
		{"missing grant type", clientID, clientSecret, form, "scope=record-lists%3Amanage", 400, "invalid_request", 1, false},
		{"wrong grant type", clientID, clientSecret, form, "grant_type=password&scope=record-lists%3Amanage", 400, "unsupported_grant_type", 1, false},
		{"missing scope", clientID, clientSecret, form, "grant_type=client_credentials", 400, "invalid_scope", 1, false},
		{"wrong scope", clientID, clientSecret, form, "grant_type=client_credentials&scope=record-lists%3Aread", 400, "invalid_scope", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, Options{TokenTTL: 90 * time.Second})
			resp := tokenRequest(t, srv.URL(), tt.id, tt.secret, tt.contentType, tt.form)
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.wantStatus, resp.body)
			}
			if tt.wantError != "" {
				if got := decodeOAuthError(t, resp); got != tt.wantError {
					t.Fatalf("error %q, want %q", got, tt.wantError)
				}
			} else {
				var tok map[string]any
				if err := json.Unmarshal(resp.body, &tok); err != nil {
					t.Fatal(err)
				}
				if tok["token_type"] != "Bearer" || tok["expires_in"] != 90.0 || tok["scope"] != Scope || tok["access_token"] == "" {
					t.Fatalf("token answer: %s", resp.body)
				}
			}
			if bytes.Contains(resp.body, []byte(clientSecret)) {
				t.Fatal("answer echoes the client secret")
			}
			if issued := srv.TokensIssued() == 1; issued != tt.wantTokenIssued {
				t.Fatalf("TokensIssued = %d", srv.TokensIssued())
			}
			wantViolations(t, srv, tt.wantViolations)
			for _, v := range srv.Violations() {
				if strings.Contains(v, clientSecret) {
					t.Fatalf("violation echoes the secret: %s", v)
				}
			}
		})
	}
}

func TestBearerRules(t *testing.T) {
	t.Parallel()
	clock := newClock()
	srv := startServer(t, Options{TokenTTL: time.Minute, Now: clock.Now})
	target := createURL(srv.URL(), list)
	body := createBody("a.csv", csvContent)

	t.Run("missing", func(t *testing.T) {
		before := len(srv.Violations())
		resp := apiCall(t, http.MethodPost, target, "", body)
		if resp.status != 401 || decodeAPIError(t, resp).Code != CodeUnauthorized {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, before+1)
	})
	t.Run("never issued", func(t *testing.T) {
		before := len(srv.Violations())
		resp := apiCall(t, http.MethodPost, target, "made-up-token-123", body)
		if resp.status != 401 || bytes.Contains(resp.body, []byte("made-up-token-123")) {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, before+1)
		if v := srv.Violations(); strings.Contains(v[len(v)-1], "made-up-token-123") {
			t.Fatalf("violation echoes the token: %s", v[len(v)-1])
		}
	})
	t.Run("expired by TTL", func(t *testing.T) {
		before := len(srv.Violations())
		tok := getToken(t, srv.URL())
		clock.Advance(59 * time.Second)
		if resp := apiCall(t, http.MethodPost, target, tok, body); resp.status != 201 {
			t.Fatalf("before expiry: status %d: %s", resp.status, resp.body)
		}
		clock.Advance(time.Second)
		resp := apiCall(t, http.MethodPost, target, tok, body)
		if resp.status != 401 || decodeAPIError(t, resp).Message != "Unauthorized" {
			t.Fatalf("after expiry: status %d: %s", resp.status, resp.body)
		}
		if resp := apiCall(t, http.MethodPost, target, getToken(t, srv.URL()), body); resp.status != 201 {
			t.Fatalf("fresh token: status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, before) // tokens end: not a client bug
	})
	t.Run("ExpireTokens", func(t *testing.T) {
		before := len(srv.Violations())
		tok := getToken(t, srv.URL())
		srv.ExpireTokens()
		if resp := apiCall(t, http.MethodPost, target, tok, body); resp.status != 401 {
			t.Fatalf("expired token: status %d: %s", resp.status, resp.body)
		}
		if resp := apiCall(t, http.MethodPost, target, getToken(t, srv.URL()), body); resp.status != 201 {
			t.Fatalf("token issued after ExpireTokens: status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, before)
	})
}

func TestCreateRules(t *testing.T) {
	t.Parallel()
	meta := func(key string, value any) func(map[string]any) {
		return func(b map[string]any) {
			m := b["csv_metadata"].(map[string]any)
			if value == nil {
				delete(m, key)
			} else {
				m[key] = value
			}
		}
	}
	top := func(key string, value any) func(map[string]any) {
		return func(b map[string]any) {
			if value == nil {
				delete(b, key)
			} else {
				b[key] = value
			}
		}
	}
	tests := []struct {
		name      string
		edit      func(map[string]any)
		wantField string // "" for 201
	}{
		{"valid", func(map[string]any) {}, ""},
		{"filename of 35 multibyte characters", meta("filename", strings.Repeat("é", 31)+".csv"), ""},
		{"filename of 36 characters", meta("filename", strings.Repeat("a", 32)+".csv"), "csv_metadata.filename"},
		{"filename empty", meta("filename", ""), "csv_metadata.filename"},
		{"filename missing", meta("filename", nil), "csv_metadata.filename"},
		{"filename not a string", meta("filename", 12), "csv_metadata.filename"},
		{"byte_size 0", meta("byte_size", 0), "csv_metadata.byte_size"},
		{"byte_size 20000", meta("byte_size", 20000), ""},
		{"byte_size 20001", meta("byte_size", 20001), "csv_metadata.byte_size"},
		{"byte_size as string", meta("byte_size", "413"), "csv_metadata.byte_size"},
		{"byte_size fractional", meta("byte_size", 41.5), "csv_metadata.byte_size"},
		{"checksum uppercase", meta("checksum", strings.ToUpper(hexMD5(csvContent))), "csv_metadata.checksum"},
		{"checksum of 31 characters", meta("checksum", hexMD5(csvContent)[:31]), "csv_metadata.checksum"},
		{"checksum base64", meta("checksum", base64MD5(csvContent)), "csv_metadata.checksum"},
		{"content_type text/plain", meta("content_type", "text/plain"), "csv_metadata.content_type"},
		{"content_type with charset", meta("content_type", "text/csv; charset=utf-8"), "csv_metadata.content_type"},
		{"content_type missing", meta("content_type", nil), "csv_metadata.content_type"},
		{"unknown csv_metadata field", meta("size", 3), "csv_metadata.size"},
		{"unknown top-level field", top("records", 3), "records"},
		{"csv_metadata missing", top("csv_metadata", nil), "csv_metadata"},
		{"csv_metadata not an object", top("csv_metadata", "x"), "csv_metadata"},
		{"callback ok", top("callback_action", map[string]any{"endpoint": "http://cb.test", "method": "POST"}), ""},
		{"callback with both spellings", top("callback_action", map[string]any{"endpoint": "http://cb.test", "endpoints": "http://cb.test", "method": "POST"}), ""},
		{"callback without endpoint", top("callback_action", map[string]any{"method": "POST"}), "callback_action.endpoint"},
		{"callback spelled endpoints", top("callback_action", map[string]any{"endpoints": "http://cb.test", "method": "POST"}), "callback_action.endpoint"},
		{"callback without method", top("callback_action", map[string]any{"endpoint": "http://cb.test"}), "callback_action.method"},
		{"callback body not an object", top("callback_action", map[string]any{"endpoint": "http://cb.test", "method": "POST", "body": "x"}), "callback_action.body"},
		{"send_atlas_notification false", top("send_atlas_notification", false), ""},
		{"send_atlas_notification not a boolean", top("send_atlas_notification", "yes"), "send_atlas_notification"},
	}
	srv := startServer(t, Options{})
	tok := getToken(t, srv.URL())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Violations())
			body := createBody("contacts.csv", csvContent)
			tt.edit(body)
			resp := apiCall(t, http.MethodPost, createURL(srv.URL(), list), tok, body)
			if tt.wantField == "" {
				if resp.status != http.StatusCreated {
					t.Fatalf("status %d, want 201: %s", resp.status, resp.body)
				}
				wantViolations(t, srv, before)
				return
			}
			if resp.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.status, resp.body)
			}
			e := decodeAPIError(t, resp)
			if names := fieldNames(e); !slices.Contains(names, tt.wantField) {
				t.Fatalf("fields %q, want %q", names, tt.wantField)
			}
			wantViolations(t, srv, before+1)
		})
	}

	t.Run("body not JSON", func(t *testing.T) {
		before := len(srv.Violations())
		resp := apiCall(t, http.MethodPost, createURL(srv.URL(), list), tok, `{"csv_metadata":`)
		if resp.status != 400 || !slices.Contains(fieldNames(decodeAPIError(t, resp)), "body") {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, before+1)
	})
	t.Run("content type not JSON", func(t *testing.T) {
		before := len(srv.Violations())
		data, _ := json.Marshal(createBody("contacts.csv", csvContent))
		req := newRequest(t, http.MethodPost, createURL(srv.URL(), list), bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/plain")
		resp := send(t, req)
		if resp.status != 400 || !slices.Contains(fieldNames(decodeAPIError(t, resp)), "Content-Type") {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, before+1)
	})
}

func TestCreateListIDs(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{Lists: []string{list}})
	tok := getToken(t, srv.URL())
	body := createBody("contacts.csv", csvContent)

	resp := apiCall(t, http.MethodPost, createURL(srv.URL(), "unknown"), tok, body)
	if resp.status != 404 || decodeAPIError(t, resp).Code != CodeNotFound {
		t.Fatalf("unknown list: status %d: %s", resp.status, resp.body)
	}
	wantViolations(t, srv, 0) // a misconfigured list id is not a client bug

	resp = apiCall(t, http.MethodPost, createURL(srv.URL(), ""), tok, body)
	if resp.status != 404 {
		t.Fatalf("empty list id: status %d: %s", resp.status, resp.body)
	}
	wantViolations(t, srv, 1)

	mustCreate(t, srv.URL(), tok, list, body)
}

func TestPutRules(t *testing.T) {
	t.Parallel()
	other := bytes.Replace(csvContent, []byte("Ada"), []byte("Bob"), 1) // same length, other MD5
	tests := []struct {
		name     string
		signMD5  bool
		advance  time.Duration // moves the clock after create
		edit     func(t *testing.T, req *http.Request)
		status   int
		s3Code   string
		message  string // part of the S3 message, when it matters
		violates bool
	}{
		{name: "ok", edit: func(*testing.T, *http.Request) {}, status: 200},
		{name: "ok with signed Content-MD5", signMD5: true, status: 200,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Set("Content-MD5", base64MD5(csvContent)) }},
		{name: "ok just before expiry", advance: 15 * time.Minute, edit: func(*testing.T, *http.Request) {}, status: 200},
		{name: "chunked body", status: 501, s3Code: "NotImplemented", message: "not implemented", violates: true,
			edit: func(_ *testing.T, r *http.Request) {
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(csvContent)))
				r.ContentLength = -1
			}},
		{name: "unsigned Content-MD5 sent", status: 403, s3Code: "AccessDenied", message: "not signed", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Set("Content-MD5", base64MD5(csvContent)) }},
		{name: "signed Content-MD5 missing", signMD5: true, status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(*testing.T, *http.Request) {}},
		{name: "signed Content-MD5 as hex", signMD5: true, status: 400, s3Code: "InvalidDigest", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Set("Content-MD5", hexMD5(csvContent)) }},
		{name: "signed Content-MD5 of other bytes", signMD5: true, status: 400, s3Code: "BadDigest", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Set("Content-MD5", base64MD5(other)) }},
		{name: "expired URL", advance: 15*time.Minute + time.Second, status: 403, s3Code: "AccessDenied", message: "Request has expired",
			edit: func(*testing.T, *http.Request) {}},
		{name: "tampered signature", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) {
				q := r.URL.Query()
				sig := []byte(q.Get("X-Amz-Signature"))
				if sig[0] == '0' {
					sig[0] = '1'
				} else {
					sig[0] = '0'
				}
				q.Set("X-Amz-Signature", string(sig))
				r.URL.RawQuery = q.Encode()
			}},
		{name: "tampered expiry", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) {
				q := r.URL.Query()
				q.Set("X-Amz-Expires", "604800")
				r.URL.RawQuery = q.Encode()
			}},
		{name: "signature parameter missing", status: 400, s3Code: "AuthorizationQueryParametersError", violates: true,
			edit: func(_ *testing.T, r *http.Request) {
				q := r.URL.Query()
				q.Del("X-Amz-Signature")
				r.URL.RawQuery = q.Encode()
			}},
		{name: "other path", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }},
		{name: "Content-Type text/plain", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Set("Content-Type", "text/plain") }},
		{name: "Content-Type with charset", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Set("Content-Type", "text/csv; charset=utf-8") }},
		{name: "Content-Type missing", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Header.Del("Content-Type") }},
		{name: "POST instead of PUT", status: 403, s3Code: "SignatureDoesNotMatch", violates: true,
			edit: func(_ *testing.T, r *http.Request) { r.Method = http.MethodPost }},
		{name: "body not matching checksum", status: 400, s3Code: "BadDigest", violates: true,
			edit: func(_ *testing.T, r *http.Request) {
				r.Body = io.NopCloser(bytes.NewReader(other))
				r.ContentLength = int64(len(other))
			}},
		{name: "body not of byte_size", status: 400, s3Code: "IncompleteBody", violates: true,
			edit: func(_ *testing.T, r *http.Request) {
				r.Body = io.NopCloser(bytes.NewReader(csvContent[1:]))
				r.ContentLength = int64(len(csvContent) - 1)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			srv := startServer(t, Options{SignContentMD5: tt.signMD5, Now: clock.Now})
			tok := getToken(t, srv.URL())
			c := mustCreate(t, srv.URL(), tok, list, createBody("contacts.csv", csvContent))
			clock.Advance(tt.advance)

			req := newRequest(t, http.MethodPut, c.SignedURL, bytes.NewReader(csvContent))
			req.Header.Set("Content-Type", "text/csv")
			tt.edit(t, req)
			resp := send(t, req)
			if resp.status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tt.status, resp.body)
			}
			uploaded := srv.UploadRequests()[0].Uploaded
			if tt.status == 200 {
				if !uploaded {
					t.Fatal("200 but the body was not stored")
				}
			} else {
				e := decodeS3Error(t, resp)
				if e.Code != tt.s3Code || !strings.Contains(e.Message, tt.message) {
					t.Fatalf("S3 error %s %q, want %s %q", e.Code, e.Message, tt.s3Code, tt.message)
				}
				if uploaded {
					t.Fatal("a refused PUT stored the body")
				}
			}
			n := 0
			if tt.violates {
				n = 1
			}
			wantViolations(t, srv, n)
			for _, r := range srv.Requests() {
				if strings.Contains(r.Path, "X-Amz") {
					t.Fatalf("request path holds the query: %s", r.Path)
				}
			}
		})
	}
}

func TestPutTwiceReplaces(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{})
	tok := getToken(t, srv.URL())
	c := mustCreate(t, srv.URL(), tok, list, createBody("contacts.csv", csvContent))
	for i := range 2 {
		if resp := putFile(t, c.SignedURL, csvContent, nil); resp.status != 200 {
			t.Fatalf("PUT %d: status %d: %s", i, resp.status, resp.body)
		}
	}
	wantViolations(t, srv, 0)

	// After the commit the object can still be replaced, as on S3, but a
	// correct client never does it.
	if resp := apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), tok, uploadedBody); resp.status != 200 {
		t.Fatalf("PATCH: status %d: %s", resp.status, resp.body)
	}
	if resp := putFile(t, c.SignedURL, csvContent, nil); resp.status != 200 {
		t.Fatalf("PUT after commit: status %d: %s", resp.status, resp.body)
	}
	wantViolations(t, srv, 1)
}

func TestPatchRules(t *testing.T) {
	t.Parallel()
	type fixture struct {
		srv *Server
		tok string
		c   created
	}
	// setup creates an upload request in list, and PUTs it when put is set.
	setup := func(t *testing.T, put bool) fixture {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		c := mustCreate(t, srv.URL(), tok, list, createBody("contacts.csv", csvContent))
		if put {
			if resp := putFile(t, c.SignedURL, csvContent, nil); resp.status != 200 {
				t.Fatalf("PUT: status %d: %s", resp.status, resp.body)
			}
		}
		return fixture{srv, tok, c}
	}

	shapes := []struct {
		name       string
		body       any
		wantFields []string
	}{
		{"key status instead of value", map[string]string{"op": "replace", "path": "/status", "status": "UPLOADED"}, []string{"status", "value"}},
		{"value DONE", map[string]string{"op": "replace", "path": "/status", "value": "DONE"}, []string{"value"}},
		{"op add", map[string]string{"op": "add", "path": "/status", "value": "UPLOADED"}, []string{"op"}},
		{"path /state", map[string]string{"op": "replace", "path": "/state", "value": "UPLOADED"}, []string{"path"}},
		{"JSON Patch array", []map[string]string{uploadedBody}, []string{"body"}},
		{"plain status object", map[string]string{"status": "UPLOADED"}, []string{"status", "op", "path", "value"}},
	}
	for _, tt := range shapes {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, true)
			resp := apiCall(t, http.MethodPatch, patchURL(f.srv.URL(), list, f.c.ID), f.tok, tt.body)
			if resp.status != 400 {
				t.Fatalf("status %d, want 400: %s", resp.status, resp.body)
			}
			names := fieldNames(decodeAPIError(t, resp))
			for _, want := range tt.wantFields {
				if !slices.Contains(names, want) {
					t.Fatalf("fields %q lack %q", names, want)
				}
			}
			if len(f.srv.Commits()) != 0 {
				t.Fatal("a refused PATCH committed")
			}
			wantViolations(t, f.srv, 1)
		})
	}

	t.Run("content type not JSON", func(t *testing.T) {
		f := setup(t, true)
		data, _ := json.Marshal(uploadedBody)
		req := newRequest(t, http.MethodPatch, patchURL(f.srv.URL(), list, f.c.ID), bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+f.tok)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp := send(t, req); resp.status != 400 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, f.srv, 1)
	})

	t.Run("before PUT", func(t *testing.T) {
		f := setup(t, false)
		resp := apiCall(t, http.MethodPatch, patchURL(f.srv.URL(), list, f.c.ID), f.tok, uploadedBody)
		if resp.status != 400 || decodeAPIError(t, resp).Code != CodeFileNotUploaded {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		if len(f.srv.Commits()) != 0 {
			t.Fatal("committed without a file")
		}
		wantViolations(t, f.srv, 1)
	})

	t.Run("twice", func(t *testing.T) {
		f := setup(t, true)
		target := patchURL(f.srv.URL(), list, f.c.ID)
		if resp := apiCall(t, http.MethodPatch, target, f.tok, uploadedBody); resp.status != 200 {
			t.Fatalf("first: status %d: %s", resp.status, resp.body)
		}
		resp := apiCall(t, http.MethodPatch, target, f.tok, uploadedBody)
		if resp.status != 409 || decodeAPIError(t, resp).Code != CodeConflict {
			t.Fatalf("second: status %d: %s", resp.status, resp.body)
		}
		if n := len(f.srv.Commits()); n != 1 {
			t.Fatalf("%d commits, want 1", n)
		}
		wantViolations(t, f.srv, 0) // a retry after a lost answer meets this
	})

	t.Run("busy list", func(t *testing.T) {
		f := setup(t, true)
		target := patchURL(f.srv.URL(), list, f.c.ID)
		f.srv.SetListBusy(list, true)
		resp := apiCall(t, http.MethodPatch, target, f.tok, uploadedBody)
		if resp.status != 409 {
			t.Fatalf("busy: status %d: %s", resp.status, resp.body)
		}
		if len(f.srv.Commits()) != 0 {
			t.Fatal("committed while busy")
		}
		f.srv.SetListBusy(list, false)
		if resp := apiCall(t, http.MethodPatch, target, f.tok, uploadedBody); resp.status != 200 {
			t.Fatalf("no longer busy: status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, f.srv, 0)
	})

	t.Run("unknown upload id", func(t *testing.T) {
		f := setup(t, true)
		resp := apiCall(t, http.MethodPatch, patchURL(f.srv.URL(), list, "no-such-id"), f.tok, uploadedBody)
		if resp.status != 404 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, f.srv, 1)
	})

	t.Run("upload id of another list", func(t *testing.T) {
		f := setup(t, true)
		resp := apiCall(t, http.MethodPatch, patchURL(f.srv.URL(), "L2", f.c.ID), f.tok, uploadedBody)
		if resp.status != 404 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		if len(f.srv.Commits()) != 0 {
			t.Fatal("committed through another list")
		}
		wantViolations(t, f.srv, 1)
	})

	t.Run("expired token", func(t *testing.T) {
		f := setup(t, true)
		f.srv.ExpireTokens()
		if resp := apiCall(t, http.MethodPatch, patchURL(f.srv.URL(), list, f.c.ID), f.tok, uploadedBody); resp.status != 401 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, f.srv, 0)
	})
}

func TestPatchUnknownList(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{Lists: []string{list}})
	tok := getToken(t, srv.URL())
	c := mustCreate(t, srv.URL(), tok, list, createBody("contacts.csv", csvContent))
	resp := apiCall(t, http.MethodPatch, patchURL(srv.URL(), "L9", c.ID), tok, uploadedBody)
	if resp.status != 404 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	wantViolations(t, srv, 1)
}

func TestRecordList(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{Lists: []string{list, "L2"}})
	tok := getToken(t, srv.URL())
	get := func(id string) (response, map[string]any) {
		resp := apiCall(t, http.MethodGet, srv.URL()+"/record-lists/"+id, tok, nil)
		var m map[string]any
		if resp.status == 200 {
			if err := json.Unmarshal(resp.body, &m); err != nil {
				t.Fatal(err)
			}
		}
		return resp, m
	}
	resp, m := get(list)
	if resp.status != 200 || m["id"] != list || m["status"] != DefaultListStatus || m["records_count"] != 0.0 || m["name"] == "" {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}

	c := mustCreate(t, srv.URL(), tok, list, createBody("contacts.csv", csvContent))
	putFile(t, c.SignedURL, csvContent, nil)
	apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), tok, uploadedBody)
	srv.SetListStatus(list, "VALIDATION_STARTED")
	if _, m := get(list); m["status"] != "VALIDATION_STARTED" || m["records_count"] != 2.0 {
		t.Fatalf("after commit: %v", m)
	}
	if _, m := get("L2"); m["status"] != DefaultListStatus || m["records_count"] != 0.0 {
		t.Fatalf("other list: %v", m)
	}
	if resp, _ := get("L3"); resp.status != 404 {
		t.Fatalf("unknown list: status %d", resp.status)
	}
	if resp := apiCall(t, http.MethodGet, srv.URL()+"/record-lists/"+list, "", nil); resp.status != 401 {
		t.Fatalf("without token: status %d", resp.status)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{})
	tok := getToken(t, srv.URL())
	tests := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"unknown path", http.MethodGet, "/nothing/here", 404, ""},
		{"unknown record list subpath", http.MethodGet, "/record-lists/L1/records/x/y", 404, ""},
		{"GET upload requests", http.MethodGet, "/record-lists/L1/upload-requests", 405, "POST"},
		{"PUT upload request", http.MethodPut, "/record-lists/L1/upload-requests/x", 405, "PATCH"},
		{"DELETE record list", http.MethodDelete, "/record-lists/L1", 405, "GET"},
		{"GET token", http.MethodGet, "/oauth/token", 405, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Violations())
			resp := apiCall(t, tt.method, srv.URL()+tt.path, tok, nil)
			if resp.status != tt.status || resp.header.Get("Allow") != tt.allow {
				t.Fatalf("status %d, Allow %q: %s", resp.status, resp.header.Get("Allow"), resp.body)
			}
			if !json.Valid(resp.body) || resp.header.Get("Content-Type") != "application/json" {
				t.Fatalf("answer is not JSON: %s", resp.body)
			}
			wantViolations(t, srv, before+1)
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("status and header on create", func(t *testing.T) {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		srv.Inject(Fault{Step: StepCreate, Status: 429, Header: map[string]string{"Retry-After": "7"}})
		resp := apiCall(t, http.MethodPost, createURL(srv.URL(), list), tok, createBody("a.csv", csvContent))
		if resp.status != 429 || resp.header.Get("Retry-After") != "7" || decodeAPIError(t, resp).Code != CodeTooManyRequests {
			t.Fatalf("status %d, Retry-After %q: %s", resp.status, resp.header.Get("Retry-After"), resp.body)
		}
		if len(srv.UploadRequests()) != 0 {
			t.Fatal("a fault without Apply created an upload request")
		}
		if srv.PendingFaults() != 0 {
			t.Fatal("fault not used")
		}
		mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
		wantViolations(t, srv, 0)
	})

	t.Run("token with default body", func(t *testing.T) {
		srv := startServer(t, Options{})
		srv.Inject(Fault{Step: StepToken})
		resp := tokenRequest(t, srv.URL(), clientID, clientSecret, "application/x-www-form-urlencoded", goodForm)
		if resp.status != 503 || decodeOAuthError(t, resp) != "temporarily_unavailable" {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		if srv.TokensIssued() != 0 {
			t.Fatal("a fault without Apply issued a token")
		}
		getToken(t, srv.URL())
	})

	t.Run("put with raw body, then list", func(t *testing.T) {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		c := mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
		srv.Inject(
			Fault{Step: StepPut, Status: 500, Body: "<Error><Code>InternalError</Code><Message>boom</Message></Error>"},
			Fault{Step: StepList, Status: 502},
		)
		resp := putFile(t, c.SignedURL, csvContent, nil)
		if resp.status != 500 || decodeS3Error(t, resp).Message != "boom" || resp.header.Get("Content-Type") != "application/xml" {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		if srv.UploadRequests()[0].Uploaded {
			t.Fatal("a fault without Apply stored the body")
		}
		if resp := apiCall(t, http.MethodGet, srv.URL()+"/record-lists/"+list, tok, nil); resp.status != 502 {
			t.Fatalf("list: status %d: %s", resp.status, resp.body)
		}
		if resp := putFile(t, c.SignedURL, csvContent, nil); resp.status != 200 {
			t.Fatalf("PUT after the fault: status %d: %s", resp.status, resp.body)
		}
	})

	t.Run("apply on patch", func(t *testing.T) {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		c := mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
		putFile(t, c.SignedURL, csvContent, nil)
		srv.Inject(Fault{Step: StepPatch, Status: 502, Apply: true})
		target := patchURL(srv.URL(), list, c.ID)
		if resp := apiCall(t, http.MethodPatch, target, tok, uploadedBody); resp.status != 502 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
		if n := len(srv.Commits()); n != 1 {
			t.Fatalf("%d commits after an applied fault, want 1", n)
		}
		if resp := apiCall(t, http.MethodPatch, target, tok, uploadedBody); resp.status != 409 {
			t.Fatalf("retry: status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, 0)
	})

	t.Run("apply on patch that fails", func(t *testing.T) {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		c := mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
		srv.Inject(Fault{Step: StepPatch, Status: 502, Apply: true})
		resp := apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), tok, uploadedBody)
		if resp.status != 400 {
			t.Fatalf("status %d, want the failure of the normal handling: %s", resp.status, resp.body)
		}
	})

	t.Run("hang released by client timeout", func(t *testing.T) {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		c := mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
		srv.Inject(Fault{Step: StepPut, Hang: true})
		impatient := &http.Client{Timeout: 100 * time.Millisecond}
		req := newRequest(t, http.MethodPut, c.SignedURL, bytes.NewReader(csvContent))
		req.Header.Set("Content-Type", "text/csv")
		_, err := impatient.Do(req)
		var ne interface{ Timeout() bool }
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("want a timeout, got %v", err)
		}
		reqs := srv.Requests()
		if last := reqs[len(reqs)-1]; last.Method != http.MethodPut || last.Status != 0 {
			t.Fatalf("hung request recorded as %+v", last)
		}
		if srv.UploadRequests()[0].Uploaded {
			t.Fatal("a hang without Apply stored the body")
		}
		if resp := putFile(t, c.SignedURL, csvContent, nil); resp.status != 200 {
			t.Fatalf("PUT after the hang: status %d: %s", resp.status, resp.body)
		}
		wantViolations(t, srv, 0)
	})

	t.Run("apply and hang on patch", func(t *testing.T) {
		srv := startServer(t, Options{})
		tok := getToken(t, srv.URL())
		c := mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
		putFile(t, c.SignedURL, csvContent, nil)
		srv.Inject(Fault{Step: StepPatch, Hang: true, Apply: true})
		data, _ := json.Marshal(uploadedBody)
		req := newRequest(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if _, err := (&http.Client{Timeout: 100 * time.Millisecond}).Do(req); err == nil {
			t.Fatal("a hanging PATCH was answered")
		}
		if n := len(srv.Commits()); n != 1 {
			t.Fatalf("%d commits, want 1", n)
		}
	})

	t.Run("hang released by Close", func(t *testing.T) {
		srv, err := New(Options{ClientID: clientID, ClientSecret: clientSecret})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		srv.Inject(Fault{Step: StepToken, Hang: true})
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/oauth/token", strings.NewReader(goodForm))
			req.SetBasicAuth(clientID, clientSecret)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := (&http.Client{}).Do(req)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("answered %d", resp.StatusCode)
			}
			done <- err
		}()
		waitFor(t, "the fault to be taken", func() bool { return srv.PendingFaults() == 0 })
		srv.Close()
		closed := make(chan struct{})
		go func() { ts.Close(); close(closed) }() // waits for every handler to return
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the hanging request was not released by Close")
		}
		if err := <-done; err == nil || strings.HasPrefix(err.Error(), "answered") {
			t.Fatalf("the hanging request got an answer: %v", err)
		}
	})

	t.Run("unknown step panics", func(t *testing.T) {
		srv := startServer(t, Options{})
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		srv.Inject(Fault{Step: "upload"})
	})
}

func TestLatency(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{Latency: time.Hour})
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	req := newRequest(t, http.MethodPost, srv.TokenURL(), strings.NewReader(goodForm))
	req.SetBasicAuth(clientID, clientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := impatient.Do(req); err == nil {
		t.Fatal("answered before the latency passed")
	}
	srv.SetLatency(20 * time.Millisecond)
	start := time.Now()
	getToken(t, srv.URL())
	if elapsed := time.Since(start); elapsed < 20*time.Millisecond {
		t.Fatalf("answered after %v, latency is 20ms", elapsed)
	}
	srv.SetLatency(0)
	getToken(t, srv.URL())
}

func TestHandlerBehindHTTPTest(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{ClientID: clientID, ClientSecret: clientSecret, SignContentMD5: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close) // runs first: releases hanging requests

	tok := getToken(t, ts.URL)
	c := mustCreate(t, ts.URL, tok, list, createBody("a.csv", csvContent))
	if !strings.HasPrefix(c.SignedURL, ts.URL+"/s3/") {
		t.Fatalf("signed URL %s is not on %s", c.SignedURL, ts.URL)
	}
	if resp := putFile(t, c.SignedURL, csvContent, map[string]string{"Content-MD5": base64MD5(csvContent)}); resp.status != 200 {
		t.Fatalf("PUT: status %d: %s", resp.status, resp.body)
	}
	if resp := apiCall(t, http.MethodPatch, patchURL(ts.URL, list, c.ID), tok, uploadedBody); resp.status != 200 {
		t.Fatalf("PATCH: status %d: %s", resp.status, resp.body)
	}
	if len(srv.Commits()) != 1 || srv.URL() != "" {
		t.Fatalf("commits %d, URL %q", len(srv.Commits()), srv.URL())
	}
	wantViolations(t, srv, 0)
}

func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{SignContentMD5: true})
	tok := getToken(t, srv.URL())
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			content := fmt.Appendf(nil, "first_name,last_name,mobile_phone\nA%d,B,+35191000000%d\n", i, i)
			errs <- uploadOnce(srv.URL(), tok, fmt.Sprintf("L%d", i%3), fmt.Sprintf("f%d.csv", i), content)
			_ = srv.Requests()
			_ = srv.Commits()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := len(srv.Commits()); got != n {
		t.Fatalf("%d commits, want %d", got, n)
	}
	wantViolations(t, srv, 0)
}

// uploadOnce runs create, PUT (with Content-MD5) and PATCH; it does not use
// t, so that goroutines can call it.
func uploadOnce(base, token, listID, name string, content []byte) error {
	call := func(method, target string, header map[string]string, body []byte) (*http.Response, []byte, error) {
		req, err := http.NewRequest(method, target, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp, data, err
	}
	api := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	body, _ := json.Marshal(createBody(name, content))
	resp, data, err := call(http.MethodPost, createURL(base, listID), api, body)
	if err != nil || resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create %s: %v %s", name, err, data)
	}
	var c created
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	resp, data, err = call(http.MethodPut, c.SignedURL, map[string]string{"Content-Type": "text/csv", "Content-MD5": base64MD5(content)}, content)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %v %s", name, err, data)
	}
	patch, _ := json.Marshal(uploadedBody)
	resp, data, err = call(http.MethodPatch, patchURL(base, listID, c.ID), api, patch)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PATCH %s: %v %s", name, err, data)
	}
	return nil
}

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{"no credentials", Options{}},
		{"no secret", Options{ClientID: "a"}},
		{"colon in client id", Options{ClientID: "a:b", ClientSecret: "s"}},
		{"negative TTL", Options{ClientID: "a", ClientSecret: "s", TokenTTL: -time.Second}},
		{"empty list id", Options{ClientID: "a", ClientSecret: "s", Lists: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
	srv, err := Start(Options{ClientID: "a", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if srv.TokenURL() != srv.URL()+"/oauth/token" || !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q, TokenURL %q", srv.URL(), srv.TokenURL())
	}
	srv.Close()
	srv.Close() // twice is fine
}

func TestResetAndTrickleFaults(t *testing.T) {
	t.Parallel()
	srv, err := Start(Options{ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tokenReq := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.TokenURL(), strings.NewReader("grant_type=client_credentials&scope=record-lists:manage"))
		req.SetBasicAuth("id", "secret")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return c.Do(req)
	}

	srv.Inject(Fault{Step: StepToken, Status: 200, Body: `{"access_token":"abcdefghijklmnop","token_type":"Bearer","expires_in":60}`, Reset: true})
	resp, err := tokenReq(http.DefaultClient)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a reset mid-body read as a whole answer")
	}

	srv.Inject(Fault{Step: StepToken, Status: 503, Trickle: 50 * time.Millisecond})
	c := &http.Client{Timeout: 200 * time.Millisecond}
	resp, err = tokenReq(c)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a trickled answer longer than the client's timeout came through")
	}
	// The next request is served normally.
	resp, err = tokenReq(http.DefaultClient)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the faults: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestValidationTakesTimeAndRefusesAPatchMeanwhile(t *testing.T) {
	t.Parallel()
	clock := newClock()
	srv := startServer(t, Options{Lists: []string{list, "L2"}, Validation: 3 * time.Second, Now: clock.Now})
	tok := getToken(t, srv.URL())
	status := func(id string) string {
		t.Helper()
		resp := apiCall(t, http.MethodGet, srv.URL()+"/record-lists/"+id, tok, nil)
		var m map[string]any
		if err := json.Unmarshal(resp.body, &m); err != nil || resp.status != 200 {
			t.Fatalf("GET list %s: status %d: %s", id, resp.status, resp.body)
		}
		s, _ := m["status"].(string)
		return s
	}
	upload := func(id, name string) (created, response) {
		t.Helper()
		content := []byte("first_name,last_name,mobile_phone\n" + name + ",X,+351910000001\n")
		c := mustCreate(t, srv.URL(), tok, id, createBody(name+".csv", content))
		putFile(t, c.SignedURL, content, nil)
		return c, apiCall(t, http.MethodPatch, patchURL(srv.URL(), id, c.ID), tok, uploadedBody)
	}

	first, resp := upload(list, "a")
	if resp.status != 200 {
		t.Fatalf("first PATCH: status %d: %s", resp.status, resp.body)
	}
	if got := status(list); got != StatusValidationStarted {
		t.Fatalf("status while validating = %q", got)
	}
	if got := status("L2"); got != DefaultListStatus {
		t.Fatalf("another list's status = %q", got)
	}
	// The next upload's request and bytes are accepted meanwhile; its PATCH
	// is refused with Talkdesk's error body, and it is no violation.
	second, resp := upload(list, "b")
	if e := decodeAPIError(t, resp); resp.status != 409 || e.Code != CodeConflict || !strings.Contains(e.Description, "request conflicts with current state of record list") {
		t.Fatalf("PATCH while validating: status %d: %s", resp.status, resp.body)
	}
	clock.Advance(2999 * time.Millisecond)
	if got := status(list); got != StatusValidationStarted {
		t.Fatalf("status just before the end = %q", got)
	}
	clock.Advance(time.Millisecond)
	if got := status(list); got != DefaultListStatus {
		t.Fatalf("status after the validation = %q", got)
	}
	if resp := apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, second.ID), tok, uploadedBody); resp.status != 200 {
		t.Fatalf("PATCH after the validation: status %d: %s", resp.status, resp.body)
	}
	// A per-list validation time, and a verdict set for the list.
	srv.SetValidation(list, time.Second)
	srv.SetListStatus(list, "REJECTED")
	clock.Advance(3 * time.Second)
	third, resp := upload(list, "c")
	if resp.status != 200 {
		t.Fatalf("third PATCH: status %d: %s", resp.status, resp.body)
	}
	if got := status(list); got != StatusValidationStarted {
		t.Fatalf("status while validating = %q", got)
	}
	clock.Advance(time.Second)
	if got := status(list); got != "REJECTED" {
		t.Fatalf("verdict = %q", got)
	}

	v := srv.Validations()
	if len(v) != 3 || v[0].UploadID != first.ID || v[1].UploadID != second.ID || v[2].UploadID != third.ID {
		t.Fatalf("validations = %+v", v)
	}
	if d := v[0].End.Sub(v[0].Start); d != 3*time.Second {
		t.Fatalf("first validation lasted %s", d)
	}
	if d := v[2].End.Sub(v[2].Start); d != time.Second {
		t.Fatalf("third validation lasted %s", d)
	}
	if g, g2, all := srv.ListGets(list), srv.ListGets("L2"), srv.ListGets(""); g != 5 || g2 != 1 || all != 6 {
		t.Fatalf("list GETs = %d, %d, %d; want 5, 1, 6", g, g2, all)
	}
	if vs := srv.Violations(); len(vs) != 0 {
		t.Fatalf("violations: %v", vs)
	}
}

func TestCreateWhileValidatingCanBeRefused(t *testing.T) {
	t.Parallel()
	clock := newClock()
	srv := startServer(t, Options{Validation: time.Second, RefuseCreateWhileValidating: true, Now: clock.Now})
	tok := getToken(t, srv.URL())
	c := mustCreate(t, srv.URL(), tok, list, createBody("a.csv", csvContent))
	putFile(t, c.SignedURL, csvContent, nil)
	if resp := apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), tok, uploadedBody); resp.status != 200 {
		t.Fatalf("PATCH: status %d: %s", resp.status, resp.body)
	}
	resp := apiCall(t, http.MethodPost, createURL(srv.URL(), list), tok, createBody("b.csv", csvContent))
	if resp.status != 409 || decodeAPIError(t, resp).Code != CodeConflict {
		t.Fatalf("create while validating: status %d: %s", resp.status, resp.body)
	}
	if resp := apiCall(t, http.MethodPost, createURL(srv.URL(), "L2"), tok, createBody("b.csv", csvContent)); resp.status != 201 {
		t.Fatalf("create in another list: status %d: %s", resp.status, resp.body)
	}
	clock.Advance(time.Second)
	c = mustCreate(t, srv.URL(), tok, list, createBody("b.csv", csvContent))
	putFile(t, c.SignedURL, csvContent, nil)
	srv.SetValidation(list, time.Hour)
	if resp := apiCall(t, http.MethodPatch, patchURL(srv.URL(), list, c.ID), tok, uploadedBody); resp.status != 200 {
		t.Fatalf("PATCH: status %d: %s", resp.status, resp.body)
	}
	clock.Advance(time.Minute)
	srv.EndValidation(list)
	if v := srv.Validations(); len(v) != 2 || !v[1].End.Equal(clock.Now()) {
		t.Fatalf("after EndValidation: %+v", v)
	}
	mustCreate(t, srv.URL(), tok, list, createBody("c.csv", csvContent))
}

// The verdict follows the content: with the template's columns, an upload
// without them as its header is REJECTED, and SetVerdict decides first.
func TestVerdictFromContent(t *testing.T) {
	t.Parallel()
	srv := startServer(t, Options{Lists: []string{list}, Columns: []string{"first_name", "phone"}, Validation: time.Millisecond, SignContentMD5: true})
	tok := getToken(t, srv.URL())
	status := func() string {
		resp := apiCall(t, http.MethodGet, srv.URL()+"/record-lists/"+list, tok, nil)
		var m map[string]any
		if err := json.Unmarshal(resp.body, &m); err != nil {
			t.Fatal(err)
		}
		return m["status"].(string)
	}
	settled := func() string {
		var s string
		waitFor(t, "the validation's end", func() bool { s = status(); return s != StatusValidationStarted })
		return s
	}
	for _, tt := range []struct{ name, body, want string }{
		{"the header, in another order and case", "\uFEFFPhone,First_Name\r\n+351910000001,Ann\r\n", "ACCEPTED"},
		{"a record where the header should be", "+351910000002,Bob\n+351910000003,Cy\n", "REJECTED"},
		{"verdict set by the test", "first_name,phone\nREJECT-ME,+351910000004\n", "INCOMPLETE"},
	} {
		if tt.want == "INCOMPLETE" {
			srv.SetVerdict(func(b []byte) string {
				if bytes.Contains(b, []byte("REJECT-ME")) {
					return "INCOMPLETE"
				}
				return ""
			})
		}
		if err := uploadOnce(srv.URL(), tok, list, "x.csv", []byte(tt.body)); err != nil {
			t.Fatal(err)
		}
		if got := settled(); got != tt.want {
			t.Errorf("%s: status %s, want %s", tt.name, got, tt.want)
		}
		if v := srv.Validations(); v[len(v)-1].Verdict != tt.want {
			t.Errorf("%s: recorded verdict %q", tt.name, v[len(v)-1].Verdict)
		}
	}
}
