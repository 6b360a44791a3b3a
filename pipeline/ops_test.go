package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/metrics"
	"github.com/listdrop/listdrop/state"
	dto "github.com/prometheus/client_model/go"
)

func TestCheckCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		required   []string
		want       string // "" = fine; else a part of the problem
	}{
		{"good", "first_name,last_name\nAda,Lovelace\n", nil, ""},
		{"good with BOM and CRLF", "\xEF\xBB\xBFfirst_name,last_name\r\nAda,Lovelace\r\n", nil, ""},
		{"no final newline", "a,b\n1,2", nil, ""},
		{"quoted comma and newline", "a,b\n\"x, y\",\"two\nlines\"\n", nil, ""},
		{"latin-1", "a,b\n1,caf\xe9\n", nil, "it appears to be Windows-1252 text (as Excel's \"CSV (Comma delimited)\" writes; line 2 has the first character that is not UTF-8)"},
		{"header only", "a,b\n", nil, "header line but no records"},
		{"blank", "\n\n", nil, "no header line"},
		{"short row", "a,b,c\n1,2,3\n4,5\n", nil, "Line 3 does not have as many fields"},
		{"long row", "a,b\n1,2,3\n", nil, "Line 2 does not have as many fields"},
		{"bare quote", "a,b\n1,x\"y\n", nil, "Line 2 has a misplaced quote"},
		{"required present, any case", "First_Name , Phone\nA,1\n", []string{"first_name", "PHONE"}, ""},
		{"required missing", "first_name\nA\n", []string{"first_name", "last_name", "phone"}, "lacks the required columns last_name, phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkCSV([]byte(tt.data), tt.required)
			if tt.want == "" && got != "" {
				t.Fatalf("a good file was refused: %s", got)
			}
			if tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("problem %q, want it to say %q", got, tt.want)
			}
		})
	}
}

func TestBadCSVFailsBeforeAnyAPICall(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, nil, `
folders:
  - path: in0
    record_list_id: L
    required_columns: [mobile_phone]
  - path: in1
    record_list_id: L2
    csv_check: false
`)
	h.start()
	h.drop(0, "ragged.csv", []byte("first_name,mobile_phone\nAda,+1\nGrace\n"))
	s := h.waitFailed(0, "ragged.csv")
	if !strings.HasPrefix(s, "Line 3 does not have as many fields as the header line.") {
		t.Fatalf("explanation:\n%s", s)
	}
	h.drop(0, "nophone.csv", []byte("first_name\nAda\n"))
	if s := h.waitFailed(0, "nophone.csv"); !strings.Contains(s, "required column mobile_phone") {
		t.Fatalf("explanation:\n%s", s)
	}
	// The check is off for in1: the same ragged file goes to Talkdesk.
	h.drop(1, "ragged.csv", []byte("first_name,mobile_phone\nAda,+1\nGrace\n"))
	h.waitDone(1, "ragged.csv")
	if n := h.requests("POST", "/record-lists/L/"); n != 0 {
		t.Fatalf("%d API calls for files that failed the check", n)
	}
}

func historyOf(t *testing.T, h *harness) []state.Entry {
	t.Helper()
	h.stop()
	s, err := state.Open(h.cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.History(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestVerifyRecordsTalkdesksOutcome(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"ACCEPTED", "INCOMPLETE", "REJECTED", "CORRUPTED"} {
		t.Run(status, func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
			h.fake.SetListStatus("L", "VALIDATION_STARTED")
			h.start()
			h.drop(0, "v.csv", csvBody("v", 2))
			h.waitDone(0, "v.csv")
			// Still validating: listdrop keeps asking.
			eventually(t, "two status requests", func() bool { return h.requests("GET", "/record-lists/L") >= 2 })
			h.fake.SetListStatus("L", status)
			eventually(t, "the outcome in the log", func() bool { return strings.Contains(h.logBuf.String(), "outcome="+status) })
			result := strings.Replace(h.waitDone(0, "v.csv"), "v.csv", "v.csv.result.txt", 1)
			if status == "REJECTED" || status == "CORRUPTED" {
				eventually(t, "the result note", func() bool { return fileExists(result) })
			} else if fileExists(result) {
				t.Fatal("a result note for an accepted list")
			}
			e := historyOf(t, h)
			if len(e) != 1 || e[0].Outcome != status {
				t.Fatalf("history = %+v", e)
			}
		})
	}
}

func TestVerifyGivesUpAsUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "verify_timeout: 300ms\n")
	h.fake.SetListStatus("L", "UPLOADED")
	h.start()
	h.drop(0, "u.csv", csvBody("u", 1))
	eventually(t, "the unknown outcome", func() bool { return strings.Contains(h.logBuf.String(), "outcome=unknown") })
	if e := historyOf(t, h); len(e) != 1 || e[0].Outcome != "unknown" {
		t.Fatalf("history = %+v", e)
	}
}

func TestForceLetsOneDuplicateThrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	body := csvBody("force", 1)
	h.start()
	h.drop(0, "a.csv", body)
	h.waitDone(0, "a.csv")
	h.stop()
	s, err := state.Open(h.cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AllowOnce("L", md5hex(body)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	h.start()
	h.drop(0, "b.csv", body)
	h.waitDone(0, "b.csv")
	h.drop(0, "c.csv", body) // once only
	h.waitFailed(0, "c.csv")
	if n := len(h.fake.Commits()); n != 2 {
		t.Fatalf("commits = %d, want 2", n)
	}
}

func gather(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestMetricsAndStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	m := metrics.New("test")
	h.metrics = m
	h.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 503})
	h.start()
	h.drop(0, "ok.csv", csvBody("ok", 1))
	h.drop(0, "empty.csv", nil)
	h.waitDone(0, "ok.csv")
	h.waitFailed(0, "empty.csv")
	eventually(t, "the validation outcome", func() bool { return strings.Contains(h.logBuf.String(), "outcome=ACCEPTED") })

	var mf map[string]*dto.MetricFamily
	count := func(name string, labels map[string]string) float64 {
		for _, mt := range mf[name].GetMetric() {
			match := true
			for _, lp := range mt.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					match = false
				}
			}
			if match {
				if c := mt.GetCounter(); c != nil {
					return c.GetValue()
				}
				if g := mt.GetGauge(); g != nil {
					return g.GetValue()
				}
				return float64(mt.GetHistogram().GetSampleCount())
			}
		}
		return -1
	}
	folder := h.folder(0).Path
	// A file's metrics are counted just after it is moved: wait for them.
	eventually(t, "both files counted", func() bool {
		mf = gather(t, m)
		return count("listdrop_files_total", map[string]string{"folder": folder, "result": "failed"}) == 1 &&
			count("listdrop_files_total", map[string]string{"folder": folder, "result": "done"}) == 1
	})
	if v := count("listdrop_files_total", map[string]string{"folder": folder, "result": "done"}); v != 1 {
		t.Errorf("files done = %v", v)
	}
	if v := count("listdrop_files_total", map[string]string{"folder": folder, "result": "failed"}); v != 1 {
		t.Errorf("files failed = %v", v)
	}
	if v := count("listdrop_retries_total", map[string]string{"cause": "transient"}); v != 1 {
		t.Errorf("transient retries = %v", v)
	}
	if v := count("listdrop_step_duration_seconds", map[string]string{"step": "create"}); v != 2 {
		t.Errorf("create observations = %v", v)
	}
	if v := count("listdrop_validations_total", map[string]string{"outcome": "ACCEPTED"}); v != 1 {
		t.Errorf("accepted validations = %v", v)
	}
	if v := count("listdrop_last_success_timestamp_seconds", nil); v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last success = %v", v)
	}

	st := h.pipeline.Status()
	if !st.Healthy || len(st.Folders) != 1 || !st.Folders[0].Available {
		t.Fatalf("status = %+v", st)
	}
	if r := st.Folders[0].Recent; len(r) != 2 || r[0].Source == r[1].Source {
		t.Fatalf("recent = %+v", r)
	}
}

func TestStatusShowsStuckFilesAndUnhealthy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{ClientID: testClientID, ClientSecret: "wrong"}, []string{"L"}, "")
	h.start()
	h.drop(0, "stuck.csv", csvBody("stuck", 1))
	eventually(t, "the stuck file in the status", func() bool {
		st := h.pipeline.Status()
		return !st.Healthy && len(st.Folders[0].Held) == 1 && st.Folders[0].Held[0].LastError != ""
	})
	st := h.pipeline.Status()
	if st.Folders[0].Held[0].File != "stuck.csv" || !strings.Contains(st.LastError, "invalid_client") {
		t.Fatalf("status = %+v", st)
	}
}
