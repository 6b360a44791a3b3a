package admin

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/state"
)

const sum = "0123456789abcdef0123456789abcdef"

// request sends one request to the test server; host, when given, is sent
// as the Host header instead of the server's address.
func request(t *testing.T, method, url, host string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The audit's request: a page on another site posts text/plain to
// /allow-once through a name rebound to 127.0.0.1. Before, it got 200
// and a duplicate went through; now it is refused and nothing changes.
// Each check is then shown alone, with the token, so that none of them
// hides a missing other.
func TestCrossSiteAndRebindingRequestsAreRefused(t *testing.T) {
	t.Parallel()
	srv, store := newTestServer(t, healthy, nil)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	body := `{"list": "L1", "md5": "` + sum + `"}`
	bearer := "Bearer " + testToken

	code, _ := request(t, "POST", srv.URL+"/allow-once", "attacker.example:"+port,
		map[string]string{"Content-Type": "text/plain", "Origin": "http://attacker.example:" + port}, body)
	if code == http.StatusOK {
		t.Fatal("the audit's cross-site text/plain POST was accepted")
	}
	if ok, _ := store.TakeAllowance("L1", sum); ok {
		t.Fatal("the audit's request left an allowance")
	}

	for _, c := range []struct {
		name    string
		method  string
		path    string
		host    string
		headers map[string]string
		want    int
		words   string
	}{
		{"rebound name, POST", "POST", "/allow-once", "attacker.example:" + port, map[string]string{"Content-Type": "application/json", "Authorization": bearer}, 403, "loopback address or localhost"},
		{"rebound name, GET", "GET", "/status", "attacker.example:" + port, map[string]string{"Authorization": bearer}, 403, "loopback address or localhost"},
		{"rebound name, metrics", "GET", "/metrics", "attacker.example", nil, 403, "loopback"},
		{"foreign Origin", "POST", "/allow-once", "", map[string]string{"Content-Type": "application/json", "Authorization": bearer, "Origin": "http://attacker.example"}, 403, "cross-site"},
		{"foreign Origin on the same host, another port", "POST", "/allow-once", "", map[string]string{"Content-Type": "application/json", "Authorization": bearer, "Origin": "http://127.0.0.1:1"}, 403, "cross-site"},
		{"null Origin", "POST", "/allow-once", "", map[string]string{"Content-Type": "application/json", "Authorization": bearer, "Origin": "null"}, 403, "cross-site"},
		{"Sec-Fetch-Site cross-site", "POST", "/allow-once", "", map[string]string{"Content-Type": "application/json", "Authorization": bearer, "Sec-Fetch-Site": "cross-site"}, 403, "cross-site"},
		{"Sec-Fetch-Site same-site", "GET", "/status", "", map[string]string{"Authorization": bearer, "Sec-Fetch-Site": "same-site"}, 403, "cross-site"},
		{"text/plain body", "POST", "/allow-once", "", map[string]string{"Content-Type": "text/plain", "Authorization": bearer}, 415, "JSON"},
		{"form body", "POST", "/allow-once", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": bearer}, 415, "JSON"},
		{"multipart body", "POST", "/allow-once", "", map[string]string{"Content-Type": "multipart/form-data; boundary=x", "Authorization": bearer}, 415, "JSON"},
		{"no Content-Type", "POST", "/allow-once", "", map[string]string{"Authorization": bearer}, 415, "JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, got := request(t, c.method, srv.URL+c.path, c.host, c.headers, body)
			if code != c.want || !strings.Contains(got, c.words) {
				t.Fatalf("%d %s, want %d and %q", code, got, c.want, c.words)
			}
			if ok, _ := store.TakeAllowance("L1", sum); ok {
				t.Fatal("a refused request left an allowance")
			}
		})
	}

	// What the commands send, and a page of the endpoint itself, pass.
	for _, c := range []struct {
		name    string
		host    string
		headers map[string]string
	}{
		{"the commands", "", map[string]string{"Content-Type": "application/json", "Authorization": bearer}},
		{"localhost", "localhost:" + port, map[string]string{"Content-Type": "application/json", "Authorization": bearer}},
		{"localhost.", "localhost.:" + port, map[string]string{"Content-Type": "application/json", "Authorization": bearer}},
		{"same origin", "", map[string]string{"Content-Type": "application/json; charset=utf-8", "Authorization": bearer,
			"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}},
		{"same origin, Origin null (no-referrer)", "", map[string]string{"Content-Type": "application/json", "Authorization": bearer,
			"Origin": "null", "Sec-Fetch-Site": "same-origin"}},
	} {
		t.Run("accepted: "+c.name, func(t *testing.T) {
			if code, got := request(t, "POST", srv.URL+"/allow-once", c.host, c.headers, body); code != 200 {
				t.Fatalf("%d %s", code, got)
			}
			if ok, err := store.TakeAllowance("L1", sum); !ok || err != nil {
				t.Fatalf("no allowance: %v %v", ok, err)
			}
		})
	}
}

// Without the token nothing acts and no file name is shown; health and
// metrics, which show neither, stay open on loopback.
func TestTokenIsNeededForStatusHistoryAndActions(t *testing.T) {
	t.Parallel()
	srv, store := newTestServer(t, healthy, nil)
	if _, err := store.Finish("k", state.Entry{Folder: "/drop", Source: "/drop/secret-name.csv", ListID: "L1", Result: state.Done}); err != nil {
		t.Fatal(err)
	}
	for _, auth := range []struct{ name, header string }{
		{"no token", ""},
		{"wrong token", "Bearer " + strings.Repeat("0", 64)},
		{"token without Bearer", testToken},
		{"empty bearer", "Bearer "},
		{"basic authentication without a web configuration", "Basic " + "YWRtaW46YWRtaW4="},
	} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/status", ""},
			{"GET", "/history", ""},
			{"POST", "/allow-once", `{"list": "L1", "md5": "` + sum + `"}`},
		} {
			t.Run(auth.name+" "+r.path, func(t *testing.T) {
				h := map[string]string{"Content-Type": "application/json"}
				if auth.header != "" {
					h["Authorization"] = auth.header
				}
				code, got := request(t, r.method, srv.URL+r.path, "", h, r.body)
				if code != http.StatusUnauthorized || !strings.Contains(got, "admin token") || !strings.Contains(got, "state.db"+TokenSuffix) {
					t.Fatalf("%d %s, want 401 naming the token file", code, got)
				}
				if strings.Contains(got, "secret-name") {
					t.Fatal("a refused request shows a file name")
				}
				if ok, _ := store.TakeAllowance("L1", sum); ok {
					t.Fatal("a refused request left an allowance")
				}
			})
		}
	}
	if code, body := request(t, "GET", srv.URL+"/healthz", "", nil, ""); code != 200 {
		t.Fatalf("/healthz without a token: %d %s", code, body)
	}
	if code, body := request(t, "GET", srv.URL+"/history", "", map[string]string{"Authorization": "Bearer " + testToken}, ""); code != 200 || !strings.Contains(body, "secret-name.csv") {
		t.Fatalf("/history with the token: %d %s", code, body)
	}
}

// A server built without a token (no file could be written) refuses
// everything that needs one, even an empty bearer.
func TestNoTokenConfiguredRefusesAll(t *testing.T) {
	t.Parallel()
	s := New(Options{Pipeline: fakePipeline{healthy}, Version: "1", Listen: "127.0.0.1:0"})
	for _, h := range []string{"", "Bearer ", "Bearer"} {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/status", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		if s.authorized(r) {
			t.Fatalf("authorized with %q and no token", h)
		}
	}
}
