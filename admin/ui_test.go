package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
)

// retryCall is one call of the page's retry.
type retryCall struct {
	folder, name string
	force        bool
}

// uiServer serves the endpoint with a failed folder holding failed and a
// retry that records its calls.
type uiServer struct {
	*httptest.Server
	store *state.Store
	mu    sync.Mutex
	calls []retryCall
}

func newUIServer(t *testing.T, failed ...string) *uiServer {
	t.Helper()
	var files []FailedFile
	for _, name := range failed {
		files = append(files, FailedFile{Name: name})
	}
	return newUIServerWith(t, files)
}

// newUIServerWith serves a page whose folder /drop has the failed files
// given.
func newUIServerWith(t *testing.T, failed []FailedFile) *uiServer {
	t.Helper()
	store, err := state.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	u := &uiServer{store: store}
	o := Options{Pipeline: fakePipeline{healthy}, Store: store, Version: "1.2.3", Token: testToken, TokenFile: "state.db" + TokenSuffix, Listen: "127.0.0.1:0",
		FailedFiles: func(folder string) []FailedFile {
			if folder == "/drop" {
				return failed
			}
			return nil
		},
		Retry: func(folder, name string, force bool) (string, error) {
			u.mu.Lock()
			defer u.mu.Unlock()
			u.calls = append(u.calls, retryCall{folder, name, force})
			return "put back " + name, nil
		}}
	u.Server = httptest.NewServer(New(o).Handler())
	t.Cleanup(u.Close)
	return u
}

func (u *uiServer) retries() []retryCall {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]retryCall(nil), u.calls...)
}

// browser is an HTTP client with cookies that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn gets a login code with the token and spends it in c.
func (u *uiServer) signIn(t *testing.T, c *http.Client) {
	t.Helper()
	req, _ := http.NewRequest("POST", u.URL+"/login-code", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, body := do(t, http.DefaultClient, req)
	var lc LoginCode
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &lc) != nil || !strings.HasPrefix(lc.Path, "/login?code=") {
		t.Fatalf("/login-code: %d %s", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", u.URL+lc.Path, nil)
	resp, _ = do(t, c, req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestPageSignIn(t *testing.T) {
	t.Parallel()
	u := newUIServer(t)
	get := func(c *http.Client, path string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", u.URL+path, nil)
		return do(t, c, req)
	}
	// Nobody: the sign-in page, which says how, and no file names.
	if resp, body := get(http.DefaultClient, "/"); resp.StatusCode != 401 || !strings.Contains(body, "listdrop open") || strings.Contains(body, "/drop") {
		t.Fatalf("/ without a session: %d %s", resp.StatusCode, body)
	}
	// A login code needs the token.
	req, _ := http.NewRequest("POST", u.URL+"/login-code", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := do(t, http.DefaultClient, req); resp.StatusCode != 401 {
		t.Fatalf("/login-code without the token: %d", resp.StatusCode)
	}

	c := browser(t)
	req, _ = http.NewRequest("POST", u.URL+"/login-code", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	_, body := do(t, http.DefaultClient, req)
	var lc LoginCode
	if err := json.Unmarshal([]byte(body), &lc); err != nil {
		t.Fatal(err)
	}
	resp, _ := get(c, lc.Path)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("the session cookie lacks %s: %s", want, cookie)
		}
	}
	if resp, body := get(c, "/"); resp.StatusCode != 200 || !strings.Contains(body, "/drop") {
		t.Fatalf("/ with the session: %d %s", resp.StatusCode, body)
	}
	// The code works once.
	if resp, body := get(browser(t), lc.Path); resp.StatusCode != 401 || !strings.Contains(body, "used already or has expired") {
		t.Fatalf("the code a second time: %d %s", resp.StatusCode, body)
	}
	// The session opens the page, not the API.
	for _, path := range []string{"/status", "/history"} {
		if resp, _ := get(c, path); resp.StatusCode != 401 {
			t.Errorf("%s with a page session: %d", path, resp.StatusCode)
		}
	}
	// Signing out (with the page's CSRF token) ends the session: its
	// cookie, sent again, is nobody's.
	base, _ := url.Parse(u.URL)
	old := c.Jar.Cookies(base)
	_, page := get(c, "/")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the page has no CSRF field")
	}
	req, _ = http.NewRequest("POST", u.URL+"/ui/sign-out", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, body := do(t, c, req); resp.StatusCode != 200 || !strings.Contains(body, "Signed out") {
		t.Fatalf("sign out: %d %s", resp.StatusCode, body)
	}
	replay := browser(t)
	replay.Jar.SetCookies(base, old)
	if resp, _ := get(replay, "/"); len(old) != 1 || resp.StatusCode != 401 {
		t.Fatalf("/ with the cookie of a signed-out session: %d (%d cookies)", resp.StatusCode, len(old))
	}
	// A forged cookie is nobody.
	forged := browser(t)
	forged.Jar.SetCookies(base, []*http.Cookie{{Name: sessionCookie, Value: strings.Repeat("ab", sessionIDLength)}})
	if resp, _ := get(forged, "/"); resp.StatusCode != 401 {
		t.Fatalf("/ with a forged cookie: %d", resp.StatusCode)
	}
}

func TestLoginCodeExpires(t *testing.T) {
	t.Parallel()
	s := newSessions()
	now := time.Now()
	s.now = func() time.Time { return now }
	code, _ := s.newCode()
	now = now.Add(loginCodeTTL + time.Second)
	if id := s.useCode(code); id != "" {
		t.Fatal("an expired code signed in")
	}
	code, _ = s.newCode()
	if id := s.useCode(code); id == "" {
		t.Fatal("a fresh code did not sign in")
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestRetryFromThePageNeedsTheCSRFTokenAndAConfirmationToForce(t *testing.T) {
	t.Parallel()
	u := newUIServer(t, "bad.csv", "dup.csv")
	c := browser(t)
	u.signIn(t, c)
	req, _ := http.NewRequest("GET", u.URL+"/", nil)
	_, page := do(t, c, req)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the page has no CSRF field:\n%s", page)
	}
	csrf := m[1]
	post := func(c *http.Client, form url.Values, headers map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", u.URL+"/ui/retry", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, _ := do(t, c, req)
		return resp.StatusCode
	}
	one := url.Values{"folder": {"/drop"}, "name": {"bad.csv"}}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, c2 := range []struct {
		name    string
		client  *http.Client
		form    url.Values
		headers map[string]string
		want    int
	}{
		{"no CSRF token", c, one, nil, 403},
		{"a wrong CSRF token", c, with(one, "csrf", strings.Repeat("0", 64)), nil, 403},
		{"no session", browser(t), with(one, "csrf", csrf), nil, 401},
		{"another site", c, with(one, "csrf", csrf), map[string]string{"Origin": "http://attacker.example"}, 403},
	} {
		if code := post(c2.client, c2.form, c2.headers); code != c2.want {
			t.Errorf("%s: %d, want %d", c2.name, code, c2.want)
		}
	}
	if calls := u.retries(); len(calls) != 0 {
		t.Fatalf("refused forms retried: %v", calls)
	}
	if code := post(c, with(one, "csrf", csrf), nil); code != http.StatusSeeOther {
		t.Fatalf("retry: %d", code)
	}
	if code := post(c, with(url.Values{"folder": {"/drop"}, "name": {"dup.csv"}, "force": {"1"}}, "csrf", csrf), nil); code != http.StatusSeeOther {
		t.Fatalf("force without confirmation: %d", code)
	}
	if code := post(c, with(url.Values{"folder": {"/drop"}, "name": {"dup.csv"}, "force": {"1"}, "confirm": {"yes"}}, "csrf", csrf), nil); code != http.StatusSeeOther {
		t.Fatalf("force: %d", code)
	}
	if code := post(c, with(url.Values{"folder": {"/elsewhere"}, "name": {"x.csv"}}, "csrf", csrf), nil); code != http.StatusSeeOther {
		t.Fatalf("unknown folder: %d", code)
	}
	if code := post(c, with(url.Values{"folder": {"/drop"}, "all": {"1"}}, "csrf", csrf), nil); code != http.StatusSeeOther {
		t.Fatalf("retry all: %d", code)
	}
	want := []retryCall{{"/drop", "bad.csv", false}, {"/drop", "dup.csv", true}, {"/drop", "bad.csv", false}, {"/drop", "dup.csv", false}}
	if got := u.retries(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("retries %v, want %v", got, want)
	}
	// The page says what was done, once.
	req, _ = http.NewRequest("GET", u.URL+"/", nil)
	_, page = do(t, c, req)
	for _, w := range []string{"put back bad.csv", "needs the confirmation box ticked", "not a drop folder: /elsewhere"} {
		if !strings.Contains(page, w) {
			t.Errorf("the page after the retries lacks %q", w)
		}
	}
	req, _ = http.NewRequest("GET", u.URL+"/", nil)
	if _, page = do(t, c, req); strings.Contains(page, "put back bad.csv") {
		t.Error("the messages show twice")
	}
}

// Names and reasons are data: escaped by the template, never markup.
func TestPageEscapesHostileNames(t *testing.T) {
	t.Parallel()
	hostile := `<img src=x onerror=alert(1)>.csv`
	u := newUIServer(t, hostile)
	now := time.Now()
	for i, e := range []state.Entry{
		{At: now.Add(-time.Hour), Folder: "/drop", Source: "/drop/" + hostile, ListID: "L1", Result: state.Failed, Reason: `Line 2 has <script>alert(2)</script>. More.`},
		{At: now, Folder: "/drop", Source: "/drop/\u202egnp.csv", ListID: "L1", Result: state.Done, Outcome: "ACCEPTED"},
	} {
		if _, err := u.store.Finish(string(rune('a'+i)), e); err != nil {
			t.Fatal(err)
		}
	}
	c := browser(t)
	u.signIn(t, c)
	req, _ := http.NewRequest("GET", u.URL+"/", nil)
	resp, page := do(t, c, req)
	if resp.StatusCode != 200 {
		t.Fatalf("/: %d", resp.StatusCode)
	}
	for _, bad := range []string{"<img", "<script>alert"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q as markup", bad)
		}
	}
	for _, good := range []string{"&lt;img src=x onerror=alert(1)&gt;.csv", "&lt;script&gt;alert(2)&lt;/script&gt;", "<bdi>\u202egnp.csv</bdi>"} {
		if !strings.Contains(page, good) {
			t.Errorf("the page lacks %q", good)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy: %q", csp)
	}
}

// While Talkdesk validates a list's last upload, the page says so: the
// list's next file waits for it.
func TestPageShowsAValidationInProgress(t *testing.T) {
	t.Parallel()
	u := newUIServer(t)
	c := browser(t)
	u.signIn(t, c)
	req, _ := http.NewRequest("GET", u.URL+"/", nil)
	_, page := do(t, c, req)
	if !strings.Contains(page, "Talkdesk is validating upload request U-77 since") {
		t.Fatalf("the page does not show the validation in progress:\n%s", page)
	}
	if !strings.Contains(page, "<bdi>big.csv</bdi>: part 7 of 40, hashed since") {
		t.Fatalf("the page does not show the split file's part:\n%s", page)
	}
}

func TestChart(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 3, 10, 30, 0, 0, time.UTC)
	dup := pipeline.DuplicateReason(state.Commit{File: "a.csv", ListID: "L1", At: now, UploadID: "u"})
	entries := []state.Entry{
		{At: now.Add(-25 * time.Hour), Result: state.Done}, // before the window
		{At: now.Add(-23*time.Hour - 10*time.Minute), Result: state.Done},
		{At: now.Add(-time.Minute), Result: state.Done, Outcome: "ACCEPTED"},
		{At: now.Add(-2 * time.Minute), Result: state.Done, Outcome: "REJECTED"},
		{At: now.Add(-3 * time.Minute), Result: state.Failed, Reason: dup},
		{At: now.Add(-4 * time.Minute), Result: state.Failed, Reason: "Line 2 has 3 fields."},
		{At: now.Add(-5 * time.Minute), Result: state.Failed, Reason: "Line 3 has 3 fields."},
	}
	c := chart(entries, now)
	kinds := map[string]int{}
	for _, b := range c.Bars {
		kinds[b.Kind]++
		if b.H <= 0 || b.Y < 0 {
			t.Errorf("bar %+v", b)
		}
	}
	if kinds[kindImported] != 2 || kinds[kindRejected] != 1 || kinds[kindDuplicate] != 1 || kinds[kindRefused] != 1 {
		t.Fatalf("bars by kind %v", kinds)
	}
	legend := map[string]int{}
	for _, l := range c.Legend {
		legend[l.Kind] = l.Count
	}
	if legend[kindImported] != 2 || legend[kindRejected] != 1 || legend[kindDuplicate] != 1 || legend[kindRefused] != 2 || c.Max != 5 {
		t.Fatalf("legend %v, max %d", legend, c.Max)
	}
	if kindOf(state.Entry{Result: state.Failed, Reason: dup}) != kindDuplicate {
		t.Fatal("pipeline.DuplicateReason no longer starts with duplicatePrefix")
	}
	partDup := pipeline.DuplicateReason(state.Commit{File: "/d/big.csv", ListID: "L", Parts: 4, PartsIn: 2})
	if kindOf(state.Entry{Result: state.Failed, Reason: partDup}) != kindDuplicate {
		t.Fatal("the duplicate of a file imported in part is not a duplicate")
	}
	// A split file whose part Talkdesk rejected fails: rejected all the
	// same, not refused.
	if k := kindOf(state.Entry{Result: state.Failed, Outcome: "REJECTED", Parts: 4, PartsIn: []state.PartUpload{{UploadID: "u1"}}}); k != kindRejected {
		t.Fatalf("a split file with a rejected part is %q", k)
	}
	if e := chart(nil, now); !e.Empty || len(e.Bars) != 0 {
		t.Fatalf("an empty chart: %+v", e)
	}
}

// A file imported in part is listed without a plain Retry (put back, its
// first parts would be imported again) and left out of Retry all; its
// .remaining.csv is listed as what it is, with its Retry.
func TestPageOffersNoPlainRetryForAFileImportedInPart(t *testing.T) {
	t.Parallel()
	u := newUIServerWith(t, []FailedFile{{Name: "big.csv", InPart: true}, {Name: "big.remaining.csv", Remainder: true}, {Name: "bad.csv"}})
	c := browser(t)
	u.signIn(t, c)
	req, _ := http.NewRequest("GET", u.URL+"/", nil)
	_, page := do(t, c, req)
	item := func(name string) string {
		start := strings.Index(page, `<li data-file="`+name+`">`)
		if start < 0 {
			t.Fatalf("the page does not list %s:\n%s", name, page)
		}
		end := strings.Index(page[start:], "</li>")
		return page[start : start+end]
	}
	if li := item("big.csv"); strings.Contains(li, `class="retry"`) || !strings.Contains(li, "imported in part: put back its .remaining.csv, not this file") || !strings.Contains(li, "Let it through once") {
		t.Errorf("big.csv, imported in part, is listed as:\n%s", li)
	}
	if li := item("big.remaining.csv"); !strings.Contains(li, `class="retry"`) || !strings.Contains(li, "the records not imported of a file imported in part") {
		t.Errorf("big.remaining.csv is listed as:\n%s", li)
	}
	if li := item("bad.csv"); !strings.Contains(li, `class="retry"`) || strings.Contains(li, "in part") {
		t.Errorf("bad.csv is listed as:\n%s", li)
	}
	if !strings.Contains(page, "Retry all 2</button>") {
		t.Errorf("Retry all does not count the two files it puts back:\n%s", page)
	}
	csrf := csrfField.FindStringSubmatch(page)[1]
	form := url.Values{"folder": {"/drop"}, "all": {"1"}, "csrf": {csrf}}
	req, _ = http.NewRequest("POST", u.URL+"/ui/retry", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, _ := do(t, c, req); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry all: %d", resp.StatusCode)
	}
	want := []retryCall{{"/drop", "big.remaining.csv", false}, {"/drop", "bad.csv", false}}
	if got := u.retries(); !slices.Equal(got, want) {
		t.Errorf("retry all put back %v, want %v", got, want)
	}
}
