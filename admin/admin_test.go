package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/listdrop/listdrop/metrics"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
)

// fakePipeline answers Status with its function.
type fakePipeline struct{ status func() pipeline.Status }

func (f fakePipeline) Status() pipeline.Status { return f.status() }

var _ Pipeline = fakePipeline{}

func healthy() pipeline.Status {
	return pipeline.Status{Healthy: true, Folders: []pipeline.FolderStatus{{Path: "/drop", ListID: "L1", Available: true, Waiting: 2,
		Held: []pipeline.HeldFile{{File: "a.csv", Phase: "patching", Attempts: 3, LastError: "busy"}}, Recent: []state.Entry{},
		Validating: &pipeline.Validating{UploadID: "U-77", Since: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}}}}
}

// testToken is the token the test servers ask for.
const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// newTestServer serves the endpoint over a real state file, on loopback,
// asking for testToken.
func newTestServer(t *testing.T, status func() pipeline.Status, reg *metrics.Metrics) (*httptest.Server, *state.Store) {
	t.Helper()
	store, err := state.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	o := Options{Pipeline: fakePipeline{status}, Store: store, Version: "1.2.3", Token: testToken, TokenFile: "state.db" + TokenSuffix, Listen: "127.0.0.1:0"}
	if reg != nil {
		o.Registry = reg.Registry
	}
	srv := httptest.NewServer(New(o).Handler())
	t.Cleanup(srv.Close)
	return srv, store
}

// get sends a GET with the token.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	st := healthy()
	srv, _ := newTestServer(t, func() pipeline.Status { return st }, nil)
	code, ctype, body := get(t, srv.URL+"/healthz")
	if code != 200 || ctype != "application/json" {
		t.Fatalf("healthy: %d %s %s", code, ctype, body)
	}
	var ok map[string]any
	if err := json.Unmarshal([]byte(body), &ok); err != nil || ok["status"] != "ok" {
		t.Fatalf("healthy body %s: %v", body, err)
	}

	st = pipeline.Status{Healthy: false, Problems: []string{"folder /drop is not available", "the last contact with Talkdesk failed: timeout"}}
	code, _, body = get(t, srv.URL+"/healthz")
	var bad struct {
		Status   string   `json:"status"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(body), &bad); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || bad.Status != "unhealthy" || len(bad.Problems) != 2 || bad.Problems[0] != "folder /drop is not available" {
		t.Fatalf("unhealthy: %d %s", code, body)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	before := time.Now()
	srv, _ := newTestServer(t, healthy, nil)
	code, ctype, body := get(t, srv.URL+"/status")
	if code != 200 || ctype != "application/json" {
		t.Fatalf("status: %d %s %s", code, ctype, body)
	}
	var r Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != "1.2.3" || r.Started.Before(before.Add(-time.Second)) || r.Started.After(time.Now()) || !r.Healthy {
		t.Fatalf("report: %+v", r)
	}
	if len(r.Folders) != 1 || r.Folders[0].ListID != "L1" || r.Folders[0].Waiting != 2 || len(r.Folders[0].Held) != 1 ||
		r.Folders[0].Held[0].Attempts != 3 || r.Folders[0].Held[0].Phase != "patching" {
		t.Fatalf("folders: %+v", r.Folders)
	}
	// The keys the status command and other readers rely on.
	for _, k := range []string{`"version"`, `"started"`, `"healthy"`, `"folders"`, `"held"`, `"recent"`, `"waiting"`, `"list"`} {
		if !strings.Contains(body, k) {
			t.Errorf("/status lacks %s:\n%s", k, body)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New("1.2.3")
	m.TokenRenewals(func() int { return 3 })
	m.Folder("/drop")
	m.FileFinished("/drop", "done", time.Unix(1700000000, 0))
	m.FileFinished("/drop", "failed", time.Unix(1700000100, 0))
	m.Step("create", 20*time.Millisecond)
	m.Retry("transient")
	m.Queue(4)
	m.Waiting("/drop", 5)
	m.Validation("ACCEPTED")
	srv, _ := newTestServer(t, healthy, m)

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, name := range []string{"listdrop_files_total", "listdrop_step_duration_seconds", "listdrop_retries_total", "listdrop_queue_depth",
		"listdrop_files_waiting", "listdrop_last_success_timestamp_seconds", "listdrop_token_renewals_total", "listdrop_build_info", "listdrop_validations_total", "listdrop_parts_total"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			return -1
		}
	next:
		for _, mt := range f.GetMetric() {
			for k, v := range labels {
				if label(mt, k) != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return mt.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return mt.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(mt.GetHistogram().GetSampleCount())
			}
		}
		t.Errorf("%s%v not found", name, labels)
		return -1
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"listdrop_files_total", map[string]string{"folder": "/drop", "result": "done"}, 1},
		{"listdrop_files_total", map[string]string{"folder": "/drop", "result": "failed"}, 1},
		{"listdrop_step_duration_seconds", map[string]string{"step": "create"}, 1},
		{"listdrop_retries_total", map[string]string{"cause": "transient"}, 1},
		{"listdrop_queue_depth", nil, 4},
		{"listdrop_files_waiting", map[string]string{"folder": "/drop"}, 5},
		{"listdrop_last_success_timestamp_seconds", nil, 1700000000},
		{"listdrop_token_renewals_total", nil, 3},
		{"listdrop_build_info", map[string]string{"version": "1.2.3"}, 1},
		{"listdrop_validations_total", map[string]string{"outcome": "ACCEPTED"}, 1},
	} {
		if got := value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestNoMetricsWithoutARegistry(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, healthy, nil)
	if code, _, _ := get(t, srv.URL+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics without a registry: %d", code)
	}
}

func TestHistorySince(t *testing.T) {
	t.Parallel()
	srv, store := newTestServer(t, healthy, nil)
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, name := range []string{"old.csv", "mid.csv", "new.csv"} {
		at := base.Add(time.Duration(i) * time.Hour)
		if _, err := store.Finish("k"+name, state.Entry{At: at, Folder: "/drop", Source: "/drop/" + name, ListID: "L1", Result: state.Done}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(query string) (int, []string) {
		t.Helper()
		code, _, body := get(t, srv.URL+"/history"+query)
		if code != 200 {
			return code, nil
		}
		var es []state.Entry
		if err := json.Unmarshal([]byte(body), &es); err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, e := range es {
			out = append(out, filepath.Base(e.Source))
		}
		return code, out
	}
	for _, c := range []struct {
		query string
		want  string
	}{
		{"", "old.csv mid.csv new.csv"},
		{"?since=2025-03-01T11:00:00Z", "mid.csv new.csv"},
		{"?since=2025-03-01T11:00:00.000000001Z", "new.csv"},
		{"?since=2025-03-01T13:00:00%2B01:00", "new.csv"}, // 12:00 UTC
		{"?since=2025-03-02T00:00:00Z", ""},
	} {
		code, got := names(c.query)
		if code != 200 || strings.Join(got, " ") != c.want {
			t.Errorf("/history%s: %d %v, want %q", c.query, code, got, c.want)
		}
	}
	// Nothing in the period is an empty list, not null.
	if _, _, body := get(t, srv.URL+"/history?since=2030-01-01T00:00:00Z"); strings.TrimSpace(body) != "[]" {
		t.Errorf("empty history: %q", body)
	}
	for _, bad := range []string{"?since=yesterday", "?since=2025-03-01"} {
		if code, _, body := get(t, srv.URL+"/history"+bad); code != http.StatusBadRequest || !strings.Contains(body, "RFC 3339") {
			t.Errorf("/history%s: %d %s", bad, code, body)
		}
	}
}

func TestAllowOnce(t *testing.T) {
	t.Parallel()
	srv, store := newTestServer(t, healthy, nil)
	const sum = "0123456789abcdef0123456789abcdef"
	post := func(body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/allow-once", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, bad := range []string{
		``,
		`not json`,
		`{"md5": "` + sum + `"}`,
		`{"list": "L1"}`,
		`{"list": "L1", "md5": "0123"}`,
		`{"list": "L1", "md5": "` + sum + `0"}`,
		`{"list": "L1", "md5": "` + sum + `", "pad": "` + strings.Repeat("x", 5000) + `"}`,
	} {
		if code, body := post(bad); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("POST %.40q: %d %s", bad, code, body)
		}
	}
	if ok, _ := store.TakeAllowance("L1", sum); ok {
		t.Fatal("a refused request left an allowance")
	}
	if code, body := post(`{"list": "L1", "md5": "` + sum + `"}`); code != 200 {
		t.Fatalf("good request: %d %s", code, body)
	}
	if ok, err := store.TakeAllowance("L1", sum); !ok || err != nil {
		t.Fatalf("no allowance after /allow-once: %v %v", ok, err)
	}
	if ok, _ := store.TakeAllowance("L2", sum); ok {
		t.Fatal("the allowance is for another list too")
	}
	if code, _, _ := get(t, srv.URL+"/allow-once"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /allow-once: %d", code)
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Pipeline: fakePipeline{healthy}, Version: "1.2.3", Listen: l.Addr().String()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l, slog.New(slog.DiscardHandler)) }()
	if code, _, _ := get(t, "http://"+l.Addr().String()+"/healthz"); code != 200 {
		t.Fatalf("healthz over Serve: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
