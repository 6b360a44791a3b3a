package integration

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// apiOptions choose the signed URLs the fake API hands out.
type apiOptions struct {
	// SignMD5 makes the URLs sign Content-MD5 (the checksum given at
	// create, as base64 of the raw digest) besides Content-Type.
	SignMD5 bool
	// ExpiredFirst hands out that many URLs, first, that have expired
	// already: valid for one second, signed a minute ago.
	ExpiredFirst int
	// Tamper spoils the signature of every URL.
	Tamper bool
}

// fakeAPI is a small Talkdesk record-lists API: a token endpoint, the
// record list's status, the creation of upload requests answered with a real presigned PUT URL to
// versitygw (through the proxy), and the PATCH to UPLOADED, which checks
// that the object is in versitygw with the MD5 given at create. Every
// request that breaks a documented rule is answered with an error and
// recorded as a violation, which fails the test.
type fakeAPI struct {
	t        *testing.T
	opts     apiOptions
	srv      *httptest.Server
	gw       *gateway
	proxy    *md5Proxy
	bucket   string
	presign  *s3.PresignClient
	direct   *s3.Client // to versitygw itself, to check what was stored
	id       string
	secret   string
	tokenTTL time.Duration

	mu         sync.Mutex
	tokens     map[string]bool
	uploads    map[string]*upload
	creates    []upload
	commits    []commit
	violations []string
	nextID     int
}

type upload struct {
	ID, ListID, Filename, Checksum, Key string
	Size                                int
	Kind                                string // "valid", "expired", "tampered"
	SignedURL                           string
	Status                              string
}

type commit struct {
	ListID, UploadID, Filename, Key, MD5 string
	Bytes                                []byte
}

const (
	apiClientID = "it-client"
	apiSecret   = "it-Secret-41c7"
)

func newFakeAPI(t *testing.T, g *gateway, opts apiOptions) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t: t, opts: opts, gw: g,
		proxy:    newMD5Proxy(t, g.URL),
		bucket:   g.newBucket(t),
		direct:   g.client(g.URL),
		id:       apiClientID,
		secret:   apiSecret,
		tokenTTL: time.Hour,
		tokens:   map[string]bool{},
		uploads:  map[string]*upload{},
	}
	f.presign = s3.NewPresignClient(g.client(f.proxy.URL))
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", f.token)
	mux.HandleFunc("/record-lists/{list}", f.recordList)
	mux.HandleFunc("/record-lists/{list}/upload-requests", f.create)
	mux.HandleFunc("/record-lists/{list}/upload-requests/{id}", f.patch)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.refuse(w, http.StatusNotFound, "not_found", fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		if v := f.Violations(); len(v) > 0 {
			t.Errorf("the fake API saw requests that break the documented rules:\n%s", strings.Join(v, "\n"))
		}
	})
	return f
}

func (f *fakeAPI) URL() string      { return f.srv.URL }
func (f *fakeAPI) TokenURL() string { return f.srv.URL + "/oauth/token" }

// refuse answers a request that breaks a rule, and records it.
func (f *fakeAPI) refuse(w http.ResponseWriter, status int, code, msg string) {
	f.mu.Lock()
	f.violations = append(f.violations, fmt.Sprintf("%d %s: %s", status, code, msg))
	f.mu.Unlock()
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.refuse(w, http.StatusMethodNotAllowed, "method", "token endpoint takes POST, not "+r.Method)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != f.id || secret != f.secret {
		f.refuse(w, http.StatusUnauthorized, "invalid_client", "token request without the client's Basic credentials")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		f.refuse(w, http.StatusBadRequest, "invalid_request", "token request body is not a form")
		return
	}
	if r.PostFormValue("grant_type") != "client_credentials" || r.PostFormValue("scope") != "record-lists:manage" {
		f.refuse(w, http.StatusBadRequest, "invalid_request", "token request needs grant_type=client_credentials and scope=record-lists:manage")
		return
	}
	tok := randomHex(16)
	f.mu.Lock()
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(f.tokenTTL / time.Second), "scope": "record-lists:manage",
	})
}

// authorized checks the bearer token and the JSON body of an API call.
func (f *fakeAPI) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.tokens[tok]
	f.mu.Unlock()
	if !valid {
		f.refuse(w, http.StatusUnauthorized, "unauthorized", "API call without a valid bearer token")
		return false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		f.refuse(w, http.StatusBadRequest, "bad_request", "API call body is not JSON: Content-Type "+r.Header.Get("Content-Type"))
		return false
	}
	return true
}

var md5Hex = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		f.refuse(w, http.StatusMethodNotAllowed, "method", "upload requests are created with POST, not "+r.Method)
		return
	}
	if !f.authorized(w, r) {
		return
	}
	var body struct {
		CSV struct {
			Filename    string `json:"filename"`
			ByteSize    int    `json:"byte_size"`
			Checksum    string `json:"checksum"`
			ContentType string `json:"content_type"`
		} `json:"csv_metadata"`
		CallbackAction        json.RawMessage `json:"callback_action"`
		SendAtlasNotification *bool           `json:"send_atlas_notification"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		f.refuse(w, http.StatusBadRequest, "bad_request", "create body: "+err.Error())
		return
	}
	m := body.CSV
	switch n := len([]rune(m.Filename)); {
	case n < 1 || n > 35:
		f.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("filename %q: 1 to 35 characters", m.Filename))
		return
	case m.ByteSize < 1 || m.ByteSize > 20000:
		f.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("byte_size %d: 1 to 20000", m.ByteSize))
		return
	case !md5Hex.MatchString(m.Checksum):
		f.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("checksum %q: an MD5 in 32 lowercase hex digits", m.Checksum))
		return
	case m.ContentType != "text/csv":
		f.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("content_type %q: text/csv", m.ContentType))
		return
	}
	list := r.PathValue("list")
	f.mu.Lock()
	f.nextID++
	n := f.nextID
	f.mu.Unlock()
	u := &upload{
		ID:     fmt.Sprintf("ur-%d", n),
		ListID: list, Filename: m.Filename, Checksum: m.Checksum, Size: m.ByteSize,
		Key:    fmt.Sprintf("record-lists/%s/ur-%d.csv", list, n),
		Kind:   "valid",
		Status: "CREATED",
	}
	switch {
	case n <= f.opts.ExpiredFirst:
		u.Kind = "expired"
	case f.opts.Tamper:
		u.Kind = "tampered"
	}
	signed, err := f.signURL(r.Context(), u)
	if err != nil {
		f.t.Errorf("presign %s: %v", u.Key, err)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": "internal", "message": err.Error()})
		return
	}
	u.SignedURL = signed
	f.mu.Lock()
	f.uploads[u.ID] = u
	f.creates = append(f.creates, *u)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": u.ID, "record_list_id": list, "signed_url": signed, "status": u.Status,
		"_links": map[string]any{
			"self":        map[string]string{"href": f.srv.URL + "/record-lists/" + list + "/upload-requests/" + u.ID},
			"record_list": map[string]string{"href": f.srv.URL + "/record-lists/" + list},
			"upload":      map[string]string{"href": signed},
		},
	})
}

// signURL presigns a PUT of the upload's object with the SDK's presign
// client, signing Content-Type and, when asked, Content-MD5.
func (f *fakeAPI) signURL(ctx context.Context, u *upload) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:      aws.String(f.bucket),
		Key:         aws.String(u.Key),
		ContentType: aws.String("text/csv"),
	}
	if f.opts.SignMD5 {
		raw, err := hex.DecodeString(u.Checksum)
		if err != nil {
			return "", err
		}
		in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(raw))
	}
	opts := []func(*s3.PresignOptions){s3.WithPresignExpires(15 * time.Minute)}
	if u.Kind == "expired" {
		opts = []func(*s3.PresignOptions){func(o *s3.PresignOptions) {
			o.Expires = time.Second
			o.Presigner = backdated{v4.NewSigner(), time.Minute}
		}}
	}
	req, err := f.presign.PresignPutObject(ctx, in, opts...)
	if err != nil {
		return "", err
	}
	if u.Kind == "tampered" {
		return tamper(req.URL), nil
	}
	return req.URL, nil
}

// backdated signs as if it were `ago` earlier: with a short lifetime the
// URL has expired when it is handed out, without the test waiting for it.
type backdated struct {
	s   *v4.Signer
	ago time.Duration
}

func (b backdated) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	signingTime time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return b.s.PresignHTTP(ctx, creds, r, payloadHash, service, region, signingTime.Add(-b.ago), optFns...)
}

// tamper changes one hex digit of the URL's signature, leaving the rest of
// the URL as it was.
func tamper(signed string) string {
	const p = "X-Amz-Signature="
	i := strings.Index(signed, p)
	if i < 0 || i+len(p) >= len(signed) {
		return signed + "&" + p + "0"
	}
	j := i + len(p)
	c := byte('0')
	if signed[j] == '0' {
		c = '1'
	}
	return signed[:j] + string(c) + signed[j+1:]
}

func (f *fakeAPI) patch(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPatch {
		f.refuse(w, http.StatusMethodNotAllowed, "method", "upload requests are updated with PATCH, not "+r.Method)
		return
	}
	if !f.authorized(w, r) {
		return
	}
	var body struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Op != "replace" || body.Path != "/status" || body.Value != "UPLOADED" {
		f.refuse(w, http.StatusBadRequest, "bad_request", fmt.Sprintf(`PATCH body must be {"op":"replace","path":"/status","value":"UPLOADED"} (decode: %v)`, err))
		return
	}
	list, id := r.PathValue("list"), r.PathValue("id")
	f.mu.Lock()
	u := f.uploads[id]
	var status string
	if u != nil {
		status = u.Status
	}
	f.mu.Unlock()
	if u == nil || u.ListID != list {
		f.refuse(w, http.StatusNotFound, "not_found", fmt.Sprintf("upload request %s of list %s does not exist", id, list))
		return
	}
	if status == "UPLOADED" {
		// Not a violation: a PATCH whose answer was lost is sent again.
		writeJSON(w, http.StatusConflict, map[string]any{"code": "conflict", "message": "upload request is already UPLOADED"})
		return
	}
	data, err := f.object(r.Context(), u.Key)
	if err != nil {
		f.refuse(w, http.StatusBadRequest, "file_not_uploaded", fmt.Sprintf("PATCH of %s before its file is in storage: %v", id, err))
		return
	}
	sum := md5.Sum(data)
	if got := hex.EncodeToString(sum[:]); got != u.Checksum || len(data) != u.Size {
		f.refuse(w, http.StatusBadRequest, "checksum_mismatch",
			fmt.Sprintf("object %s holds %d bytes with MD5 %s; create said %d bytes with MD5 %s", u.Key, len(data), got, u.Size, u.Checksum))
		return
	}
	f.mu.Lock()
	u.Status = "UPLOADED"
	f.commits = append(f.commits, commit{ListID: list, UploadID: id, Filename: u.Filename, Key: u.Key, MD5: u.Checksum, Bytes: data})
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "record_list_id": list, "status": "UPLOADED"})
}

// recordList answers the record list's status. Validation here ends at
// once: a list whose uploads were committed is ACCEPTED.
func (f *fakeAPI) recordList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		f.refuse(w, http.StatusMethodNotAllowed, "method", "a record list is read with GET, not "+r.Method)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	valid := ok && f.tokens[tok]
	list := r.PathValue("list")
	records := 0
	for _, c := range f.commits {
		if c.ListID == list {
			records += max(strings.Count(string(c.Bytes), "\n")-1, 0)
		}
	}
	f.mu.Unlock()
	if !valid {
		f.refuse(w, http.StatusUnauthorized, "unauthorized", "API call without a valid bearer token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": list, "name": list, "status": "ACCEPTED", "records_count": records})
}

// object reads an object from versitygw itself, not through the proxy.
func (f *fakeAPI) object(ctx context.Context, key string) ([]byte, error) {
	out, err := f.direct.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// objectType is the Content-Type versitygw stored with an object.
func (f *fakeAPI) objectType(ctx context.Context, key string) (string, error) {
	out, err := f.direct.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ContentType), nil
}

// objectKeys lists every object in the fake's bucket.
func (f *fakeAPI) objectKeys(ctx context.Context) ([]string, error) {
	out, err := f.direct.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(f.bucket)})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

func (f *fakeAPI) Creates() []upload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upload(nil), f.creates...)
}

func (f *fakeAPI) Commits() []commit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]commit(nil), f.commits...)
}

func (f *fakeAPI) Violations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.violations...)
}
