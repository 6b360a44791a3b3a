package talkdesk

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testID     = "client-1"
	testSecret = "Sec/ret+Value=7f3a"  // "/" is escaped as "\/" by some JSON encoders
	testToken  = "tok-Ab12/Cd34+Ef56=" // likewise
)

// fakeAPI answers the token endpoint with testToken and hands the other
// requests to its handler functions; it records the raw request URIs.
type fakeAPI struct {
	srv    *httptest.Server
	token  func(w http.ResponseWriter, r *http.Request) // nil: a good token
	create func(w http.ResponseWriter, r *http.Request)
	patch  func(w http.ResponseWriter, r *http.Request)
	put    func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	uris []string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.uris = append(f.uris, r.Method+" "+r.RequestURI)
	f.mu.Unlock()
	var h func(http.ResponseWriter, *http.Request)
	switch {
	case r.URL.Path == "/oauth/token":
		h = f.token
		if h == nil {
			h = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"access_token":"`+testToken+`","token_type":"Bearer","expires_in":3600}`)
			}
		}
	case r.Method == http.MethodPost:
		h = f.create
	case r.Method == http.MethodPatch:
		h = f.patch
	case r.Method == http.MethodPut:
		h = f.put
	}
	if h == nil {
		http.Error(w, "not expected", http.StatusTeapot)
		return
	}
	h(w, r)
}

func (f *fakeAPI) requestURIs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.uris...)
}

func (f *fakeAPI) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Options{APIURL: f.srv.URL, TokenURL: f.srv.URL + "/oauth/token", ClientID: testID, ClientSecret: testSecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func created(id, signedURL string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, fmt.Sprintf(`{"id":%q,"record_list_id":"L","signed_url":%q,"status":"CREATED"}`, id, signedURL))
	}
}

func createReq() CreateRequest {
	return CreateRequest{ListID: "L", CSV: Metadata{Filename: "a.csv", ByteSize: 3, Checksum: strings.Repeat("0", 32)}}
}

// A signed URL that is not https is refused unless the API and the URL are
// both on loopback: the file's bytes would otherwise cross the network in
// clear.
func TestSignedURLMustBeHTTPSUnlessOnLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		apiOnLoopback bool
		signedURL     string
		unsafe        bool
	}{
		{"http, remote API", false, "http://bucket.s3.example.com/k.csv?X-Amz-Signature=sig-777", true},
		{"http to loopback, remote API", false, "http://127.0.0.1:9/k.csv", true},
		{"http to a remote host, API on loopback", true, "http://bucket.s3.example.com/k.csv", true},
		{"http to loopback, API on loopback", true, "http://127.0.0.1:9/k.csv", false},
		{"https, remote API", false, "https://bucket.s3.example.com/k.csv?X-Amz-Signature=sig-777", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.create = created("u-1", tt.signedURL)
			c := f.client(t)
			c.apiOnLoopback = tt.apiOnLoopback
			ur, err := c.CreateUploadRequest(context.Background(), createReq())
			if !tt.unsafe {
				if err != nil || ur.SignedURL != tt.signedURL {
					t.Fatalf("refused a safe URL: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnsafeURL) {
				t.Fatalf("error = %v, want ErrUnsafeURL", err)
			}
			if Classify(err) != Permanent {
				t.Errorf("class = %v, want permanent", Classify(err))
			}
			if strings.Contains(err.Error(), "sig-777") || strings.Contains(err.Error(), "k.csv") {
				t.Errorf("the error shows more of the URL than its host: %v", err)
			}
		})
	}
}

func TestUnusableSignedURLsAndIDsAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, id, signedURL string }{
		{"ftp URL", "u-1", "ftp://bucket.s3.example.com/k.csv"},
		{"no host", "u-1", "https:///k.csv"},
		{"opaque", "u-1", "https:bucket"},
		{"id ..", "..", "https://bucket.s3.example.com/k.csv"},
		{"id .", ".", "https://bucket.s3.example.com/k.csv"},
		{"id with a line break", "u-1\nforged: line", "https://bucket.s3.example.com/k.csv"},
		{"id too long", strings.Repeat("u", maxIDLen+1), "https://bucket.s3.example.com/k.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.create = created(tt.id, tt.signedURL)
			_, err := f.client(t).CreateUploadRequest(context.Background(), createReq())
			var ae *APIError
			if !errors.As(err, &ae) || !strings.Contains(ae.Message, "unusable") {
				t.Fatalf("error = %v, want an unusable id or signed_url", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error spans lines: %q", err)
			}
		})
	}
}

// An id from the API goes into the PATCH's URL as one escaped path
// segment, never as a path: "../" cannot climb, "/" cannot add a segment.
func TestUploadIDIsOnlyUsedPathEscaped(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"../../admin", "a/b", "../", "x/../../y", "..%2F..", "id?x=1#f", "100%"} {
		t.Run(id, func(t *testing.T) {
			f := newFakeAPI(t)
			f.create = created(id, "https://bucket.s3.example.com/k.csv")
			var patched string
			f.patch = func(w http.ResponseWriter, r *http.Request) {
				patched = r.RequestURI
				writeJSON(w, 200, `{"id":"x","status":"UPLOADED"}`)
			}
			c := f.client(t)
			ur, err := c.CreateUploadRequest(context.Background(), createReq())
			if err != nil {
				t.Fatal(err)
			}
			if ur.ID != id {
				t.Fatalf("id = %q, want %q", ur.ID, id)
			}
			if err := c.MarkUploaded(context.Background(), "L", ur.ID); err != nil {
				t.Fatal(err)
			}
			want := "/record-lists/L/upload-requests/" + url.PathEscape(id)
			if patched != want {
				t.Fatalf("PATCH %s, want %s", patched, want)
			}
			segs := strings.Split(strings.TrimPrefix(patched, "/"), "/")
			if len(segs) != 4 {
				t.Fatalf("PATCH path has %d segments: %q", len(segs), patched)
			}
			if seg, _ := url.PathUnescape(segs[3]); seg != id || strings.ContainsAny(segs[3], "/?#") {
				t.Fatalf("the id segment %q is not the escaped id", segs[3])
			}
			for _, u := range f.requestURIs() {
				if strings.Contains(u, "/../") || strings.HasSuffix(u, "/..") || strings.Contains(u, "admin") && !strings.Contains(u, "%2F") {
					t.Fatalf("a request used the id as a path: %s", u)
				}
			}
		})
	}
}

// The documented answers are a few hundred bytes; a proxy that answers
// 10 MB is cut off at 1 MiB and refused, on every step.
func TestTenMegabyteAnswerIsRefused(t *testing.T) {
	t.Parallel()
	huge := func(status int, prefix string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(prefix))
			chunk := []byte(strings.Repeat("a", 64<<10))
			for range (10 << 20) / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return // the client hung up: as it should
				}
			}
		}
	}
	tests := []struct {
		name string
		set  func(f *fakeAPI)
		call func(c *Client) error
	}{
		{"token 200", func(f *fakeAPI) { f.token = huge(200, `{"access_token":"`) }, createCall},
		{"create 201", func(f *fakeAPI) { f.create = huge(201, `{"id":"`) }, createCall},
		{"create 400", func(f *fakeAPI) { f.create = huge(400, `{"message":"`) }, createCall},
		{"patch 200", func(f *fakeAPI) { f.patch = huge(200, `{"id":"`) }, func(c *Client) error {
			return c.MarkUploaded(context.Background(), "L", "u-1")
		}},
		{"put 400", func(f *fakeAPI) { f.put = huge(400, `<Error><Message>`) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			tt.set(f)
			c := f.client(t)
			call := tt.call
			if call == nil {
				call = func(c *Client) error {
					return c.Put(context.Background(), f.srv.URL+"/bucket/k.csv", []byte("a,b\n"), [16]byte{})
				}
			}
			err := call(c)
			if err == nil {
				t.Fatal("a 10 MB answer was accepted")
			}
			if !strings.Contains(err.Error(), "larger than 1 MiB") {
				t.Fatalf("error = %.300s, want the size limit", err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func createCall(c *Client) error {
	_, err := c.CreateUploadRequest(context.Background(), createReq())
	return err
}

// No error of the client shows the client secret (as itself or inside the
// Basic authorization) or an access token, even when an answer echoes
// them: a proxy printing the request it got, a server quoting the secret.
func TestCredentialsNeverInErrors(t *testing.T) {
	t.Parallel()
	basic := base64.StdEncoding.EncodeToString([]byte(testID + ":" + testSecret))
	const signature = "sig-5e3c9d"
	jsonEsc := func(s string) string { return strings.ReplaceAll(s, "/", `\/`) }
	echo := func(status int, format string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			w.WriteHeader(status)
			// Every %s is the Authorization header the request carried.
			io.WriteString(w, strings.ReplaceAll(format, "%s", auth))
		}
	}
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name string
		set  func(f *fakeAPI)
		call func(c *Client, f *fakeAPI) error
	}{
		{"token 401 quoting the secret", func(f *fakeAPI) {
			f.token = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 401, `{"error":"invalid_client `+testSecret+`","error_description":"secret `+jsonEsc(testSecret)+` refused for `+basic+`"}`)
			}
		}, nil},
		{"token 502 HTML echoing the request", func(f *fakeAPI) { f.token = echo(502, "<html><pre>POST /oauth/token\nAuthorization: %s</pre></html>") }, nil},
		{"token 200 with a bad token_type", func(f *fakeAPI) {
			f.token = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"access_token":"`+testToken+`","token_type":"mac `+testSecret+`"}`)
			}
		}, nil},
		{"token 200 garbled", func(f *fakeAPI) { f.token = echo(200, `{"access_token": %s`) }, nil},
		{"token connection dropped", func(f *fakeAPI) { f.token = hangUp }, nil},
		{"create 400 echoing the token", func(f *fakeAPI) {
			f.create = func(w http.ResponseWriter, r *http.Request) {
				tok := jsonEsc(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
				writeJSON(w, 400, `{"code":"`+tok+`","message":"bad token `+tok+`","description":"`+tok+`","fields":[{"name":"`+tok+`","description":"`+tok+`"}]}`)
			}
		}, nil},
		{"create 500 HTML echoing the request", func(f *fakeAPI) { f.create = echo(500, "<h1>Error</h1><p>Authorization: %s</p>") }, nil},
		{"create 201 garbled echo", func(f *fakeAPI) { f.create = echo(201, "<p>%s</p>") }, nil},
		{"create 201 without id, echoing", func(f *fakeAPI) { f.create = echo(201, `{"signed_url":"https://h.example.com/","note":"%s"}`) }, nil},
		{"create 201 with an http URL holding the token", func(f *fakeAPI) {
			f.create = created("u-1", "http://s3.example.com/"+testToken+"?X-Amz-Signature="+testToken)
		}, nil},
		{"create 401 twice, echoing", func(f *fakeAPI) { f.create = echo(401, `{"message":"token %s expired"}`) }, nil},
		{"create connection dropped", func(f *fakeAPI) { f.create = hangUp }, nil},
		{"patch 409 echoing", func(f *fakeAPI) { f.patch = echo(409, `{"code":"conflict","message":"%s"}`) }, func(c *Client, f *fakeAPI) error {
			return c.MarkUploaded(context.Background(), "L", "u-1")
		}},
		{"patch 400 HTML echoing the request", func(f *fakeAPI) { f.patch = echo(400, "<html>%s") }, func(c *Client, f *fakeAPI) error {
			return c.MarkUploaded(context.Background(), "L", "u-1")
		}},
		{"put 403 echoing the signature", func(f *fakeAPI) {
			f.put = func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(403)
				fmt.Fprintf(w, "<Error><Code>SignatureDoesNotMatch %s</Code><Message>signature %s</Message></Error>", signature, r.URL.RawQuery)
			}
		}, putCall(signature)},
		{"put 400 text echoing the query", func(f *fakeAPI) {
			f.put = func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				fmt.Fprintf(w, "bad request: signature %s", r.URL.Query().Get("X-Amz-Signature"))
			}
		}, putCall(signature)},
		{"put connection dropped", func(f *fakeAPI) { f.put = hangUp }, putCall(signature)},
		{"API unreachable", func(f *fakeAPI) { f.srv.Close() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			tt.set(f)
			c := f.client(t)
			call := tt.call
			if call == nil {
				call = func(c *Client, f *fakeAPI) error { return createCall(c) }
			}
			err := call(c, f)
			if err == nil {
				t.Fatal("no error: the test does not test an error path")
			}
			for _, shown := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
				for _, cred := range []string{testSecret, basic, testToken, jsonEsc(testSecret), jsonEsc(testToken), signature} {
					if strings.Contains(shown, cred) {
						t.Fatalf("the error shows a credential (%q): %s", cred, shown)
					}
				}
			}
		})
	}
}

func putCall(signature string) func(c *Client, f *fakeAPI) error {
	return func(c *Client, f *fakeAPI) error {
		u := f.srv.URL + "/bucket/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA1234%2F20261128&X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Signature=" + signature
		return c.Put(context.Background(), u, []byte("a,b\n"), [16]byte{})
	}
}
