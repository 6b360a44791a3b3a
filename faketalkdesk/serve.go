package faketalkdesk

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Step names one kind of request, for faults.
type Step string

// The steps a Fault can target.
const (
	StepToken  Step = "token"  // POST /oauth/token
	StepCreate Step = "create" // POST /record-lists/{id}/upload-requests
	StepPut    Step = "put"    // PUT of a signed URL
	StepPatch  Step = "patch"  // PATCH /record-lists/{id}/upload-requests/{uid}
	StepList   Step = "list"   // GET /record-lists/{id}
)

// Fault answers one request of its Step instead of the normal handling.
// Faults of one step are used in the order they were injected.
type Fault struct {
	Step Step
	// Status is the status to answer; 0 means 503 Service Unavailable.
	Status int
	// Body is the raw body to answer. Empty means the documented error body
	// of the step for Status: OAuth JSON for token, S3 XML for put, the
	// Record Lists JSON error otherwise.
	Body string
	// Header is added to the answer, e.g. {"Retry-After": "3"}.
	Header map[string]string
	// Apply runs the normal handling first (so a PATCH is committed, a PUT
	// stored, a token issued) and then answers Status anyway: the request
	// took effect but its answer was lost. If the normal handling fails,
	// its failure is answered instead.
	Apply bool
	// Hang never answers: the request waits until its client goes away or
	// the server is closed. With Apply, the request takes effect first.
	Hang bool
	// Reset answers Status with headers that promise a longer body, writes
	// the first half of it, then closes the connection: a reset mid-body.
	Reset bool
	// Trickle sends the answer one byte at a time, this long apart: a slow
	// or stalled proxy.
	Trickle time.Duration
}

// Inject queues faults. Each one answers the next request of its step that
// has no earlier fault queued. Inject panics on an unknown Step.
func (s *Server) Inject(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range faults {
		switch f.Step {
		case StepToken, StepCreate, StepPut, StepPatch, StepList:
		default:
			panic(fmt.Sprintf("faketalkdesk: Inject: unknown step %q", f.Step))
		}
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		s.faults[f.Step] = append(s.faults[f.Step], f)
	}
}

// PendingFaults is the number of injected faults not used yet.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.faults {
		n += len(q)
	}
	return n
}

func (s *Server) takeFault(step Step) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[step]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[step] = q[1:]
	return q[0], true
}

// reply is an answer not yet written, so that a fault can replace it.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (rep reply) ok() bool { return rep.status >= 200 && rep.status < 300 }

// endpoint is what a request was routed to. step is empty for requests that
// no fault can target (unknown paths, wrong methods).
type endpoint struct {
	step   Step
	handle func(*http.Request) reply
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	idx := s.recordArrival(r)
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if !s.wait(r.Context(), latency) {
		abort()
	}
	ep := s.route(r)
	if ep.step != "" {
		if f, ok := s.takeFault(ep.step); ok {
			s.serveFault(w, r, idx, ep, f)
			return
		}
	}
	s.write(w, idx, ep.handle(r))
}

func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, idx int, ep endpoint, f Fault) {
	if f.Apply {
		if rep := ep.handle(r); !rep.ok() {
			s.write(w, idx, rep)
			return
		}
	}
	if f.Hang {
		// The server notices a client going away only once the request
		// body has been read.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxPutBytes))
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		abort()
	}
	rep := s.faultReply(ep.step, f.Status)
	if f.Body != "" {
		rep.body = []byte(f.Body)
		if strings.HasPrefix(strings.TrimSpace(f.Body), "<") {
			rep.header.Set("Content-Type", "application/xml")
		} else {
			rep.header.Set("Content-Type", "application/json")
		}
	}
	for k, v := range f.Header {
		rep.header.Set(k, v)
	}
	switch {
	case f.Reset:
		s.reset(w, idx, rep)
	case f.Trickle > 0:
		s.trickle(w, r, idx, rep, f.Trickle)
	default:
		s.write(w, idx, rep)
	}
}

// reset writes the head of rep and half its body, then cuts the connection.
func (s *Server) reset(w http.ResponseWriter, idx int, rep reply) {
	s.recordStatus(idx, rep.status)
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(rep.body)+100))
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body[:len(rep.body)/2])
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	abort()
}

// trickle writes rep one byte every d, until done or the client leaves.
func (s *Server) trickle(w http.ResponseWriter, r *http.Request, idx int, rep reply, d time.Duration) {
	s.recordStatus(idx, rep.status)
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(rep.body)))
	w.WriteHeader(rep.status)
	fl, _ := w.(http.Flusher)
	for i := range rep.body {
		if !s.wait(r.Context(), d) {
			abort()
		}
		_, _ = w.Write(rep.body[i : i+1])
		if fl != nil {
			fl.Flush()
		}
	}
}

// faultReply is the documented error body of a step for status.
func (s *Server) faultReply(step Step, status int) reply {
	desc := fmt.Sprintf("injected fault for step %s", step)
	switch step {
	case StepToken:
		code := "server_error"
		switch {
		case status == http.StatusUnauthorized:
			code = "invalid_client"
		case status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests:
			code = "temporarily_unavailable"
		case status >= 400 && status < 500:
			code = "invalid_request"
		}
		return oauthError(status, code, desc)
	case StepPut:
		code := "InternalError"
		switch status {
		case http.StatusBadRequest:
			code = "BadRequest"
		case http.StatusForbidden:
			code = "AccessDenied"
		case http.StatusNotFound:
			code = "NoSuchKey"
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			code = "SlowDown"
		}
		return s3Error(status, code, desc)
	default:
		return apiError(status, codeForStatus(status), http.StatusText(status), desc)
	}
}

// abort ends a request without an answer: a handler that merely returned
// would answer 200 with an empty body.
func abort() { panic(http.ErrAbortHandler) }

// wait waits d, and reports false if the client went away or the server
// closed first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

func (s *Server) recordArrival(r *http.Request) int {
	req := Request{Method: r.Method, Path: r.URL.Path, At: s.now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	return len(s.requests) - 1
}

// write records the status before sending, so a client that has its answer
// also finds it in Requests.
func (s *Server) recordStatus(idx, status int) {
	s.mu.Lock()
	s.requests[idx].Status = status
	s.mu.Unlock()
}

func (s *Server) write(w http.ResponseWriter, idx int, rep reply) {
	s.recordStatus(idx, rep.status)
	for k, vs := range rep.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

func (s *Server) route(r *http.Request) endpoint {
	p := r.URL.Path
	switch {
	case p == "/oauth/token":
		if r.Method != http.MethodPost {
			return s.methodNotAllowed(http.MethodPost)
		}
		return endpoint{StepToken, s.handleToken}

	case strings.HasPrefix(p, "/s3/uploads/"):
		id, name, _ := strings.Cut(strings.TrimPrefix(p, "/s3/uploads/"), "/")
		if id == "" || name == "" {
			break
		}
		// Any method goes to the PUT handler: a URL signed for PUT refuses
		// other methods with SignatureDoesNotMatch, as S3 does.
		step := Step("")
		if r.Method == http.MethodPut {
			step = StepPut
		}
		return endpoint{step, func(r *http.Request) reply { return s.handlePut(r, id) }}

	case strings.HasPrefix(p, "/record-lists/"):
		seg := strings.Split(strings.TrimPrefix(p, "/record-lists/"), "/")
		switch {
		case len(seg) == 1:
			if r.Method != http.MethodGet {
				return s.methodNotAllowed(http.MethodGet)
			}
			return endpoint{StepList, func(r *http.Request) reply { return s.handleList(r, seg[0]) }}
		case len(seg) == 2 && seg[1] == "upload-requests":
			if r.Method != http.MethodPost {
				return s.methodNotAllowed(http.MethodPost)
			}
			return endpoint{StepCreate, func(r *http.Request) reply { return s.handleCreate(r, seg[0]) }}
		case len(seg) == 3 && seg[1] == "upload-requests":
			if r.Method != http.MethodPatch {
				return s.methodNotAllowed(http.MethodPatch)
			}
			return endpoint{StepPatch, func(r *http.Request) reply { return s.handlePatch(r, seg[0], seg[2]) }}
		}
	}
	return endpoint{"", func(r *http.Request) reply {
		s.violate(r, "no such endpoint")
		if strings.HasPrefix(r.URL.Path, "/s3/") {
			return s3Error(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		}
		return apiError(http.StatusNotFound, CodeNotFound, "Not Found", "no such endpoint")
	}}
}

func (s *Server) methodNotAllowed(allow string) endpoint {
	return endpoint{"", func(r *http.Request) reply {
		s.violate(r, "method not allowed (allowed: %s)", allow)
		rep := apiError(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "Method Not Allowed",
			fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, allow))
		if r.URL.Path == "/oauth/token" {
			rep = oauthError(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint accepts POST only")
		}
		rep.header.Set("Allow", allow)
		return rep
	}}
}

// Codes of the Record Lists error body. Talkdesk does not publish its codes:
// these are the fake's, stable so that tests can rely on them.
const (
	CodeBadRequest       = "1000"
	CodeUnauthorized     = "1001"
	CodeForbidden        = "1003"
	CodeNotFound         = "1004"
	CodeMethodNotAllowed = "1005"
	CodeConflict         = "1009"
	CodePayloadTooLarge  = "1013"
	CodeTooManyRequests  = "1029"
	CodeInternal         = "1050"
	// CodeFileNotUploaded answers a PATCH to UPLOADED before any PUT.
	CodeFileNotUploaded = "FILE_NOT_UPLOADED"
)

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodePayloadTooLarge
	case http.StatusTooManyRequests:
		return CodeTooManyRequests
	}
	if status < 500 {
		return CodeBadRequest
	}
	return CodeInternal
}

// fieldError names one field of a refused request body.
type fieldError struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// apiErrorBody is the documented error body of every Record Lists endpoint.
type apiErrorBody struct {
	Code        string       `json:"code"`
	Message     string       `json:"message"`
	Description string       `json:"description"`
	Fields      []fieldError `json:"fields"`
}

func apiError(status int, code, message, description string, fields ...fieldError) reply {
	if fields == nil {
		fields = []fieldError{} // the field is required: [] rather than null
	}
	return jsonReply(status, apiErrorBody{Code: code, Message: message, Description: description, Fields: fields})
}

func oauthError(status int, code, description string) reply {
	rep := jsonReply(status, map[string]string{"error": code, "error_description": description})
	rep.header.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		rep.header.Set("WWW-Authenticate", `Basic realm="talkdesk"`)
	}
	return rep
}

func jsonReply(status int, v any) reply {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the fake's own types are marshalled
	}
	return reply{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: body}
}

// s3ErrorBody is the XML error body of S3.
type s3ErrorBody struct {
	XMLName          xml.Name `xml:"Error"`
	Code             string   `xml:"Code"`
	Message          string   `xml:"Message"`
	Header           string   `xml:"Header,omitempty"`
	HeadersNotSigned string   `xml:"HeadersNotSigned,omitempty"`
	RequestID        string   `xml:"RequestId"`
}

func s3Error(status int, code, message string) reply {
	return s3ErrorWith(status, s3ErrorBody{Code: code, Message: message})
}

func s3ErrorWith(status int, e s3ErrorBody) reply {
	e.RequestID = strings.ToUpper(randomHex(8))
	body, err := xml.Marshal(e)
	if err != nil {
		panic(err)
	}
	body = append([]byte(xml.Header), body...)
	return reply{status: status, header: http.Header{
		"Content-Type":     {"application/xml"},
		"X-Amz-Request-Id": {e.RequestID},
	}, body: body}
}

// mediaType is the request's Content-Type without parameters, lowercased;
// empty when missing or malformed.
func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// readBody reads at most limit bytes; tooLarge reports a longer body.
func readBody(r *http.Request, limit int64) (body []byte, tooLarge bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	return body, false, nil
}
