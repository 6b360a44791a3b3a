// Package admin serves listdrop's local HTTP endpoint: /healthz for
// monitors, /metrics for Prometheus, /status and /history for people and
// for the status and history commands, and /allow-once for retry --force
// while the daemon holds the state file. The last three need the token
// the daemon writes beside the state file (see guard).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Pipeline is what the endpoint reads of the running pipeline.
type Pipeline interface {
	Status() pipeline.Status
}

// Store is what the endpoint reads and writes of the state.
type Store interface {
	History(since time.Time) ([]state.Entry, error)
	AllowOnce(listID, md5 string) error
}

var (
	_ Pipeline = (*pipeline.Pipeline)(nil)
	_ Store    = (*state.Store)(nil)
)

// FailedFile is a file in a drop folder's failed folder, as the page lists
// it.
type FailedFile struct {
	Name string
	// InPart: its first parts were imported before it failed; put back,
	// they would be imported again, so the page offers no plain Retry.
	InPart bool
	// Remainder: it holds the records of a file imported in part that
	// were not imported, to be fixed and put back.
	Remainder bool
}

// Options configure the endpoint.
type Options struct {
	Pipeline Pipeline
	Store    Store
	// Registry is served at /metrics; nil serves no /metrics.
	Registry *prometheus.Registry
	Version  string
	// Token is what /status, /history and /allow-once ask for (bearer);
	// TokenFile is where it was written, for the 401 answer's advice.
	Token, TokenFile string
	// Listen is admin.listen: on loopback, Host must be a loopback name
	// or address or its host.
	Listen string
	// WebConfigFile is admin.web_config_file: TLS and basic
	// authentication, through exporter-toolkit; "" serves plain HTTP.
	WebConfigFile string
	// FailedFiles lists the files in a drop folder's failed folder, for
	// the page; nil shows none.
	FailedFiles func(folder string) []FailedFile
	// Retry puts a failed file of a drop folder back, as `listdrop retry`
	// does (force: through the duplicate check once), and says what it
	// did; nil offers no retry on the page.
	Retry func(folder, name string, force bool) (string, error)
	// VerdictWindow is how long after a file's end Talkdesk's verdict may
	// still be written to its history entry (verify_timeout and some);
	// the page reads that much of the history again at each request.
	// Default 15 minutes.
	VerdictWindow time.Duration
}

// Server is the admin endpoint.
type Server struct {
	p          Pipeline
	store      Store
	version    string
	started    time.Time
	token      string
	tokenFile  string
	listen     string
	listenHost string
	loopback   bool
	webConfig  string
	failed     func(string) []FailedFile
	retry      func(folder, name string, force bool) (string, error)
	sessions   *sessions
	handler    http.Handler
	day        *day
}

// New builds the endpoint's handlers.
func New(o Options) *Server {
	s := &Server{p: o.Pipeline, store: o.Store, version: o.Version, started: time.Now(), token: o.Token, tokenFile: o.TokenFile,
		listen: o.Listen, loopback: config.Admin{Listen: o.Listen}.Loopback(), webConfig: o.WebConfigFile,
		failed: o.FailedFiles, retry: o.Retry, sessions: newSessions(), day: &day{window: o.VerdictWindow}}
	if s.day.window <= 0 {
		s.day.window = defaultVerdictWindow
	}
	s.listenHost, _, _ = net.SplitHostPort(o.Listen)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /history", s.history)
	mux.HandleFunc("POST /allow-once", s.allowOnce)
	mux.HandleFunc("POST /login-code", s.loginCode)
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("POST /ui/retry", s.retryForm)
	mux.HandleFunc("POST /ui/sign-out", s.signOut)
	mux.HandleFunc("GET /ui/style.css", s.style)
	if o.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{}))
	}
	s.handler = s.guard(mux)
	return s
}

// Handler is the endpoint's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener, log *slog.Logger) error {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	if s.webConfig == "" {
		log.Info("admin endpoint listening", "addr", l.Addr().String())
		go func() { done <- srv.Serve(l) }()
	} else {
		// exporter-toolkit wraps the handler in its basic authentication
		// and serves TLS, reading the file again at each connection.
		flags := &web.FlagConfig{WebConfigFile: &s.webConfig, WebListenAddresses: &[]string{l.Addr().String()}}
		log.Info("admin endpoint listening", "addr", l.Addr().String(), "web_config_file", s.webConfig)
		go func() { done <- web.Serve(l, srv, flags, log.With("component", "admin")) }()
	}
	select {
	case err := <-done:
		return fmt.Errorf("admin endpoint: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(shut)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin endpoint: %w", err)
	}
	return nil
}

// Report is the body of /status.
type Report struct {
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	pipeline.Status
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	st := s.p.Status()
	if !st.Healthy {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "problems": st.Problems})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Report{Version: s.version, Started: s.started, Status: s.p.Status()})
}

// history answers ?since=RFC3339 (default: everything kept).
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since must be an RFC 3339 time"})
			return
		}
		since = t
	}
	e, err := s.store.History(since)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	if e == nil {
		e = []state.Entry{}
	}
	writeJSON(w, http.StatusOK, e)
}

// AllowOnceRequest is the body of POST /allow-once.
type AllowOnceRequest struct {
	ListID string `json:"list"`
	MD5    string `json:"md5"`
}

func (s *Server) allowOnce(w http.ResponseWriter, r *http.Request) {
	var req AllowOnceRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.ListID == "" || len(req.MD5) != 32 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"list\": ID, \"md5\": 32 hex characters}"})
		return
	}
	if err := s.store.AllowOnce(req.ListID, req.MD5); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
