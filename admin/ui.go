package admin

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
)

// The status page: one server-rendered page, its style sheet, and the
// sign-in page; no script, nothing fetched from elsewhere. Every file name
// and message goes through html/template's escaping, inside <bdi> so that
// a right-to-left override in a name cannot turn the rest of a line
// around.
//
//go:embed ui/page.html ui/signin.html ui/style.css
var uiFS embed.FS

var (
	pageTmpl   = template.Must(template.New("page.html").Funcs(template.FuncMap{"when": when}).ParseFS(uiFS, "ui/page.html"))
	signInTmpl = template.Must(template.ParseFS(uiFS, "ui/signin.html"))
)

// pageRows is how many recent files the page lists.
const pageRows = 200

// Kinds of a finished file, as the chart and the table show them.
const (
	kindImported  = "imported"
	kindRefused   = "refused"
	kindDuplicate = "duplicate"
	kindRejected  = "rejected"
)

var kindWords = map[string]string{
	kindImported:  "imported",
	kindRefused:   "refused",
	kindDuplicate: "duplicate",
	kindRejected:  "rejected in validation",
}

// duplicatePrefix starts the reason of a file refused as a duplicate
// (pipeline.DuplicateReason); TestDuplicateKind keeps the two together.
const duplicatePrefix = "This file has the same content as "

// kindOf sorts a finished file: imported, refused, a duplicate, or
// rejected by Talkdesk's validation (a file of one upload once imported,
// or a part of a split file, which then failed).
func kindOf(e state.Entry) string {
	switch {
	case e.Result == state.Failed && strings.HasPrefix(e.Reason, duplicatePrefix):
		return kindDuplicate
	case e.Outcome == "REJECTED" || e.Outcome == "CORRUPTED" || (e.Outcome == "INCOMPLETE" && e.Result != state.Failed):
		// A split file fails when a part is rejected: rejected all the same.
		return kindRejected
	case e.Result == state.Failed:
		return kindRefused
	}
	return kindImported
}

type pageView struct {
	Version      string
	Started      time.Time
	Healthy      bool
	Problems     []string
	LastContact  time.Time
	LastError    string
	Folders      []folderView
	Chart        chartView
	Rows         []rowView
	Total        int // rows before the limit
	FolderPaths  []string
	FilterFolder string
	FailedOnly   bool
	CSRF         string
	CanRetry     bool
	Flash        []string
}

type folderView struct {
	Path        string
	ListID      string
	Available   bool
	Waiting     int
	Held        []pipeline.HeldFile
	Validating  *pipeline.Validating
	Failed      []FailedFile
	RetryAll    int // the failed files Retry all puts back: not those imported in part
	LastUpload  time.Time
	LastFailure *rowView
}

type rowView struct {
	At      time.Time
	Name    string
	Folder  string
	List    string
	Size    int64
	Kind    string
	What    string
	Outcome string
	First   string // the reason's first sentence
	Full    string // the whole reason, when longer
}

func row(e state.Entry) rowView {
	k := kindOf(e)
	r := rowView{At: e.At, Name: filepath.Base(e.Source), Folder: e.Folder, List: e.ListID, Size: e.Size, Kind: k, What: kindWords[k], Outcome: e.Outcome}
	r.First = firstSentence(e.Reason)
	if r.First != e.Reason {
		r.Full = e.Reason
	}
	return r
}

// firstSentence is a reason up to its first full stop, at most 200 bytes.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i+1]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return display.Time(t)
}

// chartView is the 24-hour picture: one stacked bar per hour.
type chartView struct {
	Width, Height int
	Bars          []chartBar
	Labels        []chartLabel
	Legend        []legendItem
	Max           int
	Empty         bool
}

type chartBar struct {
	X, Y, W, H float64
	Kind       string
	Title      string
}

type chartLabel struct {
	X    float64
	Text string
}

type legendItem struct {
	Kind, Words string
	Count       int
}

const (
	chartHours  = 24
	chartBarW   = 24.0
	chartGap    = 4.0
	chartPlotH  = 120.0
	chartMargin = 20.0
)

// chart counts the files of the last 24 hours per hour and kind, and lays
// out the bars (drawn by the template as SVG rectangles).
func chart(entries []state.Entry, now time.Time) chartView {
	kinds := [...]string{kindImported, kindRejected, kindDuplicate, kindRefused}
	index := func(k string) int {
		switch k {
		case kindRejected:
			return 1
		case kindDuplicate:
			return 2
		case kindRefused:
			return 3
		}
		return 0
	}
	last := now.Truncate(time.Hour)
	first := last.Add(-(chartHours - 1) * time.Hour)
	var counts [chartHours][len(kinds)]int
	var totals [len(kinds)]int
	for _, e := range entries {
		if e.At.Before(first) || e.At.After(now) {
			continue
		}
		i := int(e.At.Sub(first) / time.Hour)
		k := index(kindOf(e))
		counts[i][k]++
		totals[k]++
	}
	c := chartView{Width: int(chartHours*(chartBarW+chartGap) + chartMargin), Height: int(chartPlotH + 2*chartMargin)}
	for i := range counts {
		n := 0
		for _, v := range counts[i] {
			n += v
		}
		c.Max = max(c.Max, n)
	}
	c.Empty = c.Max == 0
	scale := chartPlotH / float64(max(c.Max, 1))
	for i := range counts {
		x := chartMargin/2 + float64(i)*(chartBarW+chartGap)
		y := chartMargin + chartPlotH
		hour := first.Add(time.Duration(i) * time.Hour).Local()
		for ki, k := range kinds {
			n := counts[i][ki]
			if n == 0 {
				continue
			}
			h := float64(n) * scale
			y -= h
			c.Bars = append(c.Bars, chartBar{X: x, Y: y, W: chartBarW, H: h, Kind: k,
				Title: fmt.Sprintf("%s–%02d:00: %d %s", hour.Format("15:04"), (hour.Hour()+1)%24, n, kindWords[k])})
		}
		if i%3 == 0 {
			c.Labels = append(c.Labels, chartLabel{X: x + chartBarW/2, Text: hour.Format("15:04")})
		}
	}
	for ki, k := range kinds {
		c.Legend = append(c.Legend, legendItem{Kind: k, Words: kindWords[k], Count: totals[ki]})
	}
	return c
}

// page answers GET /: the status page.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	principal := s.principal(r, true)
	now := time.Now()
	st := s.p.Status()
	v := pageView{Version: s.version, Started: s.started, Healthy: st.Healthy, Problems: st.Problems, LastContact: st.LastContact, LastError: st.LastError,
		CSRF: s.sessions.csrf(principal), CanRetry: s.retry != nil, Flash: s.sessions.takeFlash(principal)}
	q := r.URL.Query()
	v.FilterFolder, v.FailedOnly = q.Get("folder"), q.Get("failed") == "1"

	// The day's entries are read under the day's lock: the chart and the
	// rows are built from them there, and nothing of them is kept.
	dayRows := func(entries []state.Entry) {
		v.Chart = chart(entries, now)
		for _, e := range slices.Backward(entries) {
			if (v.FilterFolder != "" && e.Folder != v.FilterFolder) || (v.FailedOnly && e.Result != state.Failed) {
				continue
			}
			v.Total++
			if len(v.Rows) < pageRows {
				v.Rows = append(v.Rows, row(e))
			}
		}
	}
	if s.store == nil {
		dayRows(nil)
	} else if err := s.day.read(s.store, now, dayRows); err != nil {
		dayRows(nil)
		v.Problems = append(v.Problems, "cannot read the history: "+err.Error())
	}
	for _, f := range st.Folders {
		fv := folderView{Path: f.Path, ListID: f.ListID, Available: f.Available, Waiting: f.Waiting, Held: f.Held, Validating: f.Validating}
		if s.failed != nil {
			fv.Failed = s.failed(f.Path)
			fv.RetryAll = len(retryable(fv.Failed))
		}
		for _, e := range f.Recent {
			if e.Result == state.Done && fv.LastUpload.IsZero() {
				fv.LastUpload = e.At
			}
			if e.Result == state.Failed && fv.LastFailure == nil {
				r := row(e)
				fv.LastFailure = &r
			}
		}
		v.Folders = append(v.Folders, fv)
		v.FolderPaths = append(v.FolderPaths, f.Path)
	}
	pageHeaders(w)
	if err := pageTmpl.Execute(w, v); err != nil {
		// The header is out: nothing better to do than end the page.
		fmt.Fprintf(w, "<p>page error: %s</p>", template.HTMLEscapeString(err.Error()))
	}
}

// pageHeaders keep the page to itself: nothing loaded from elsewhere, no
// script, not framed, no address sent on.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// signInPage tells a browser without a session how to get one.
func (s *Server) signInPage(w http.ResponseWriter) {
	pageHeaders(w)
	w.WriteHeader(http.StatusUnauthorized)
	signInTmpl.Execute(w, map[string]string{"Message": ""})
}

func (s *Server) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	http.ServeFileFS(w, r, uiFS, "ui/style.css")
}

// LoginCode is the answer of POST /login-code.
type LoginCode struct {
	// Path is the link to open on this endpoint: /login?code=….
	Path    string    `json:"path"`
	Expires time.Time `json:"expires"`
}

// loginCode answers POST /login-code (token or basic user only): a
// one-time code for `listdrop open`.
func (s *Server) loginCode(w http.ResponseWriter, r *http.Request) {
	code, exp := s.sessions.newCode()
	writeJSON(w, http.StatusOK, LoginCode{Path: "/login?code=" + code, Expires: exp})
}

// login spends a one-time code and signs the browser in.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	id := s.sessions.useCode(r.URL.Query().Get("code"))
	if id == "" {
		pageHeaders(w)
		w.WriteHeader(http.StatusUnauthorized)
		signInTmpl.Execute(w, map[string]string{"Message": "This sign-in link was used already or has expired (a link works once, for 2 minutes)."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// retryForm answers the page's retry buttons: one file, or all failed
// files of a folder; force (a duplicate let through once) only with its
// confirmation box ticked.
func (s *Server) retryForm(w http.ResponseWriter, r *http.Request) {
	principal := s.principal(r, true)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	if !s.sessions.checkCSRF(principal, r.PostForm.Get("csrf")) {
		pageHeaders(w)
		w.WriteHeader(http.StatusForbidden)
		signInTmpl.Execute(w, map[string]string{"Message": "This form is out of date (listdrop restarted, or it came from elsewhere): reload the page and try again."})
		return
	}
	if s.retry == nil {
		http.Error(w, "retry is not available here", http.StatusNotFound)
		return
	}
	folder := r.PostForm.Get("folder")
	known := false
	for _, f := range s.p.Status().Folders {
		known = known || f.Path == folder
	}
	force := r.PostForm.Get("force") == "1"
	var msgs []string
	switch {
	case !known:
		msgs = append(msgs, "not a drop folder: "+folder)
	case force && r.PostForm.Get("confirm") != "yes":
		msgs = append(msgs, "Nothing done: letting a duplicate through needs the confirmation box ticked.")
	default:
		names := []string{r.PostForm.Get("name")}
		if r.PostForm.Get("all") == "1" && s.failed != nil {
			names = retryable(s.failed(folder))
		}
		for _, name := range names {
			msg, err := s.retry(folder, name, force)
			if err != nil {
				msg = "Not put back: " + name + ": " + err.Error()
			}
			msgs = append(msgs, msg)
		}
	}
	s.sessions.addFlash(principal, msgs...)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// retryable is the names of the failed files that Retry all puts back:
// every one but those imported in part, which Retry refuses.
func retryable(files []FailedFile) []string {
	var names []string
	for _, f := range files {
		if !f.InPart {
			names = append(names, f.Name)
		}
	}
	return names
}

// signOut ends the browser's session (with the page's CSRF token).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	principal := s.principal(r, true)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !s.sessions.checkCSRF(principal, r.PostForm.Get("csrf")) {
		http.Error(w, "this form is out of date: reload the page", http.StatusForbidden)
		return
	}
	if id, ok := strings.CutPrefix(principal, "session:"); ok {
		s.sessions.end(id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	pageHeaders(w)
	signInTmpl.Execute(w, map[string]string{"Message": "Signed out."})
}
