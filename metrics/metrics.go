// Package metrics holds listdrop's Prometheus metrics. Every method is safe
// on a nil *Metrics, so code that counts needs no checks when metrics are
// off (tests, the one-shot upload command).
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one registry with listdrop's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	files       *prometheus.CounterVec
	parts       *prometheus.CounterVec
	steps       *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	validations *prometheus.CounterVec
	queue       prometheus.Gauge
	waiting     *prometheus.GaugeVec
	lastSuccess prometheus.Gauge
}

// New registers every collector, with the build's version in build_info.
func New(version string) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "listdrop_files_total", Help: "Files finished, by folder and result (done, failed).",
		}, []string{"folder", "result"}),
		parts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "listdrop_parts_total", Help: "Parts of split files that Talkdesk took, by folder.",
		}, []string{"folder"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "listdrop_step_duration_seconds", Help: "Duration of each upload step (create, put, patch, verify) that got an answer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"step"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "listdrop_retries_total", Help: "Tries that failed and will be tried again, by cause (transient, auth, renew, conflict, filesystem).",
		}, []string{"cause"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "listdrop_validations_total", Help: "Outcomes of Talkdesk's validation of uploaded files.",
		}, []string{"outcome"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "listdrop_queue_depth", Help: "Files waiting for their turn, in all folders.",
		}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "listdrop_files_waiting", Help: "Files waiting or in flight, by folder.",
		}, []string{"folder"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "listdrop_last_success_timestamp_seconds", Help: "When a file was last uploaded (Unix time); 0 before the first.",
		}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "listdrop_build_info", Help: "Always 1; the version is a label.", ConstLabels: prometheus.Labels{"version": version},
	})
	info.Set(1)
	r.MustRegister(m.files, m.parts, m.steps, m.retries, m.validations, m.queue, m.waiting, m.lastSuccess, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// TokenRenewals exposes the client's count of tokens obtained.
func (m *Metrics) TokenRenewals(count func() int) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "listdrop_token_renewals_total", Help: "Access tokens obtained from Talkdesk.",
	}, func() float64 { return float64(count()) }))
}

// Folder makes a folder's series appear at zero before its first file.
func (m *Metrics) Folder(folder string) {
	if m == nil {
		return
	}
	m.files.WithLabelValues(folder, "done")
	m.files.WithLabelValues(folder, "failed")
	m.parts.WithLabelValues(folder)
	m.waiting.WithLabelValues(folder)
}

// FileFinished counts a file that reached done/ or failed/.
func (m *Metrics) FileFinished(folder, result string, at time.Time) {
	if m == nil {
		return
	}
	m.files.WithLabelValues(folder, result).Inc()
	if result == "done" {
		m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
	}
}

// PartIn counts a part of a split file that Talkdesk took.
func (m *Metrics) PartIn(folder string) {
	if m == nil {
		return
	}
	m.parts.WithLabelValues(folder).Inc()
}

// Step observes how long one request took.
func (m *Metrics) Step(step string, d time.Duration) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(step).Observe(d.Seconds())
}

// Retry counts a failed try that will be tried again.
func (m *Metrics) Retry(cause string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(cause).Inc()
}

// Validation counts an outcome of Talkdesk's validation.
func (m *Metrics) Validation(outcome string) {
	if m == nil {
		return
	}
	m.validations.WithLabelValues(outcome).Inc()
}

// Queue sets the number of files waiting for their turn.
func (m *Metrics) Queue(n int) {
	if m == nil {
		return
	}
	m.queue.Set(float64(n))
}

// Waiting sets the files waiting or in flight for one folder.
func (m *Metrics) Waiting(folder string, n int) {
	if m == nil {
		return
	}
	m.waiting.WithLabelValues(folder).Set(float64(n))
}
