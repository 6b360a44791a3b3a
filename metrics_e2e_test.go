package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// TestMetricsCountTheDaemonsFiles reads a running daemon's /metrics after
// it has uploaded and failed files.
func TestMetricsCountTheDaemonsFiles(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	e.start()
	before := time.Now()
	for i := range 3 {
		e.drop(0, fmt.Sprintf("m%d.csv", i), rows(fmt.Sprint("metrics", i)))
	}
	e.drop(1, "n.csv", rows("metrics-n"))
	e.drop(1, "empty.csv", nil)
	e.eventually("5 files finished", func() bool {
		h := e.history()
		return len(h) == 5 && finished(h, "n.csv", state.Done) == 1 && finished(h, "empty.csv", state.Failed) == 1
	})

	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		resp, err := http.Get("http://" + e.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		return fams
	}
	files := func(fams map[string]*dto.MetricFamily, folder, result string) float64 {
		for _, m := range fams["listdrop_files_total"].GetMetric() {
			if label(m, "folder") == folder && label(m, "result") == result {
				return m.GetCounter().GetValue()
			}
		}
		return -1
	}
	want := []struct {
		folder, result string
		n              float64
	}{
		{e.folders[0], "done", 3}, {e.folders[0], "failed", 0}, {e.folders[1], "done", 1}, {e.folders[1], "failed", 1},
	}
	// A file joins the history a moment before it is counted.
	var fams map[string]*dto.MetricFamily
	counted := func() bool {
		fams = scrape()
		for _, c := range want {
			if files(fams, c.folder, c.result) != c.n {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !counted() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range want {
		if got := files(fams, c.folder, c.result); got != c.n {
			t.Errorf("listdrop_files_total{folder=%q,result=%q} = %v, want %v", c.folder, c.result, got, c.n)
		}
	}
	last := fams["listdrop_last_success_timestamp_seconds"].GetMetric()
	if len(last) != 1 || last[0].GetGauge().GetValue() < float64(before.Unix()) {
		t.Errorf("listdrop_last_success_timestamp_seconds: %v, want at least %d", last, before.Unix())
	}
	var puts uint64
	for _, m := range fams["listdrop_step_duration_seconds"].GetMetric() {
		if label(m, "step") == "put" {
			puts = m.GetHistogram().GetSampleCount()
		}
	}
	if puts != 4 {
		t.Errorf("listdrop_step_duration_seconds{step=\"put\"} counts %d, want 4", puts)
	}
	if tok := fams["listdrop_token_renewals_total"].GetMetric(); len(tok) != 1 || tok[0].GetCounter().GetValue() != float64(e.fake.TokensIssued()) {
		t.Errorf("listdrop_token_renewals_total: %v, the fake issued %d", tok, e.fake.TokensIssued())
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
