package faketalkdesk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of csv_metadata, from the Record Lists reference.
const (
	MaxFilenameChars = 35
	MaxByteSize      = 20000
)

const maxJSONBytes = 1 << 20

var md5Hex = regexp.MustCompile(`^[0-9a-f]{32}$`)

// createRequest is a validated body of POST .../upload-requests.
type createRequest struct {
	filename       string
	byteSize       int
	checksum       string
	callbackAction json.RawMessage
	sendAtlas      *bool
}

// handleCreate is POST /record-lists/{id}/upload-requests.
func (s *Server) handleCreate(r *http.Request, listID string) reply {
	if rep, ok := s.authorize(r); !ok {
		return rep
	}
	if listID == "" {
		s.violate(r, "empty record list id in the path")
		return listNotFound(listID)
	}
	if !s.knownList(listID) {
		return listNotFound(listID)
	}
	if rep, ok := s.jsonContentType(r); !ok {
		return rep
	}
	body, tooLarge, err := readBody(r, maxJSONBytes)
	if err != nil {
		return apiError(http.StatusBadRequest, CodeBadRequest, "Bad Request", "unreadable body")
	}
	if tooLarge {
		s.violate(r, "body larger than %d bytes", maxJSONBytes)
		return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "Payload Too Large", "the request body is too large")
	}
	req, fields := parseCreate(body)
	if len(fields) > 0 {
		s.violate(r, "%s", describeFields(fields))
		return apiError(http.StatusBadRequest, CodeBadRequest, "Bad Request", "errors found in the submitted data", fields...)
	}

	if s.opts.RefuseCreateWhileValidating {
		s.mu.Lock()
		busy := s.validatingLocked(listID)
		s.mu.Unlock()
		if busy {
			return listValidating()
		}
	}
	u := &upload{
		listID: listID, id: newUUID(), filename: req.filename, byteSize: req.byteSize,
		checksum: req.checksum, callbackAction: req.callbackAction, sendAtlas: req.sendAtlas,
		createdAt: s.now(), status: StatusCreated,
	}
	base := baseURL(r)
	signed := s.signURL(base, r.Host, u)
	s.mu.Lock()
	if su, err := url.Parse(signed); err == nil {
		s.signatures = append(s.signatures, su.Query().Get("X-Amz-Signature"))
	}
	s.uploads[u.id] = u
	s.uploadOrder = append(s.uploadOrder, u.id)
	s.mu.Unlock()
	return jsonReply(http.StatusCreated, map[string]any{
		"id":             u.id,
		"record_list_id": listID,
		"signed_url":     signed,
		"status":         StatusCreated,
		"_links":         links(base, u, signed),
	})
}

func links(base string, u *upload, signed string) map[string]any {
	list := base + "/record-lists/" + url.PathEscape(u.listID)
	l := map[string]any{
		"self":        map[string]string{"href": list + "/upload-requests/" + u.id},
		"record_list": map[string]string{"href": list},
	}
	if signed != "" {
		l["upload"] = map[string]string{"href": signed}
	}
	return l
}

// parseCreate validates a create body, naming every bad field.
func parseCreate(body []byte) (createRequest, []fieldError) {
	var req createRequest
	var fields []fieldError
	bad := func(name, format string, args ...any) {
		fields = append(fields, fieldError{Name: name, Description: fmt.Sprintf(format, args...)})
	}
	top, ok := jsonObject(body)
	if !ok {
		bad("body", "must be a JSON object")
		return req, fields
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		switch k {
		case "csv_metadata", "callback_action", "send_atlas_notification":
		default:
			bad(k, "unknown field")
		}
	}

	if raw, ok := top["csv_metadata"]; !ok {
		bad("csv_metadata", "required")
	} else if meta, ok := jsonObject(raw); !ok {
		bad("csv_metadata", "must be an object")
	} else {
		for _, k := range slices.Sorted(maps.Keys(meta)) {
			switch k {
			case "filename", "byte_size", "checksum", "content_type":
			default:
				bad("csv_metadata."+k, "unknown field")
			}
		}
		if v, ok := stringField(meta, "filename", "csv_metadata.filename", bad); ok {
			switch n := utf8.RuneCountInString(v); {
			case !utf8.ValidString(v):
				bad("csv_metadata.filename", "must be valid UTF-8")
			case n < 1 || n > MaxFilenameChars:
				bad("csv_metadata.filename", "must be 1 to %d characters, got %d", MaxFilenameChars, n)
			default:
				req.filename = v
			}
		}
		if raw, ok := meta["byte_size"]; !ok {
			bad("csv_metadata.byte_size", "required")
		} else if n, ok := jsonInt(raw); !ok {
			bad("csv_metadata.byte_size", "must be an integer")
		} else if n < 1 || n > MaxByteSize {
			bad("csv_metadata.byte_size", "must be 1 to %d, got %d", MaxByteSize, n)
		} else {
			req.byteSize = int(n)
		}
		if v, ok := stringField(meta, "checksum", "csv_metadata.checksum", bad); ok {
			if !md5Hex.MatchString(v) {
				bad("csv_metadata.checksum", "must be the MD5 digest as 32 lowercase hex characters")
			} else {
				req.checksum = v
			}
		}
		if v, ok := stringField(meta, "content_type", "csv_metadata.content_type", bad); ok && v != "text/csv" {
			bad("csv_metadata.content_type", "must be text/csv")
		}
	}

	if raw, ok := top["callback_action"]; ok {
		if cb, ok := jsonObject(raw); !ok {
			bad("callback_action", "must be an object")
		} else {
			// Unknown keys are tolerated here: one table of the reference
			// spells "endpoints", and a client may send both spellings.
			before := len(fields)
			if v, ok := stringField(cb, "endpoint", "callback_action.endpoint", bad); ok && v == "" {
				bad("callback_action.endpoint", "must not be empty")
			}
			if v, ok := stringField(cb, "method", "callback_action.method", bad); ok && v == "" {
				bad("callback_action.method", "must not be empty")
			}
			for _, k := range []string{"body", "headers"} {
				if raw, ok := cb[k]; ok {
					if _, ok := jsonObject(raw); !ok {
						bad("callback_action."+k, "must be an object")
					}
				}
			}
			if len(fields) == before {
				req.callbackAction = append(json.RawMessage(nil), raw...)
			}
		}
	}

	if raw, ok := top["send_atlas_notification"]; ok {
		var b bool
		if t := bytes.TrimSpace(raw); !bytes.Equal(t, []byte("true")) && !bytes.Equal(t, []byte("false")) {
			bad("send_atlas_notification", "must be a boolean")
		} else {
			_ = json.Unmarshal(t, &b)
			req.sendAtlas = &b
		}
	}
	return req, fields
}

// patchBody is the only body PATCH accepts.
var patchBody = map[string]string{"op": "replace", "path": "/status", "value": StatusUploaded}

// handlePatch is PATCH /record-lists/{id}/upload-requests/{uid}.
func (s *Server) handlePatch(r *http.Request, listID, uploadID string) reply {
	if rep, ok := s.authorize(r); !ok {
		return rep
	}
	if !s.knownList(listID) {
		s.violate(r, "PATCH on record list %q, which does not exist", listID)
		return listNotFound(listID)
	}
	if rep, ok := s.jsonContentType(r); !ok {
		return rep
	}
	body, tooLarge, err := readBody(r, maxJSONBytes)
	if err != nil {
		return apiError(http.StatusBadRequest, CodeBadRequest, "Bad Request", "unreadable body")
	}
	if tooLarge {
		s.violate(r, "body larger than %d bytes", maxJSONBytes)
		return apiError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "Payload Too Large", "the request body is too large")
	}
	if fields := parsePatch(body); len(fields) > 0 {
		s.violate(r, "%s", describeFields(fields))
		return apiError(http.StatusBadRequest, CodeBadRequest, "Bad Request",
			`errors found in the submitted data: want {"op":"replace","path":"/status","value":"UPLOADED"}`, fields...)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uploads[uploadID]
	switch {
	case u == nil || u.listID != listID:
		s.violateLocked(r, "upload request %q does not exist in record list %q", uploadID, listID)
		return apiError(http.StatusNotFound, CodeNotFound, "Not Found",
			fmt.Sprintf("upload request %s not found in record list %s", uploadID, listID))
	case !u.put:
		s.violateLocked(r, "PATCH to UPLOADED before the file was PUT to the signed URL")
		return apiError(http.StatusBadRequest, CodeFileNotUploaded, "Bad Request",
			"no file was uploaded to the signed URL of this upload request")
	case u.status == StatusUploaded:
		// A client retrying a PATCH whose answer it lost lands here.
		return apiError(http.StatusConflict, CodeConflict, "Conflict",
			"request conflicts with current state of the upload request: it is already UPLOADED")
	case s.busy[listID]:
		return apiError(http.StatusConflict, CodeConflict, "Conflict",
			"request conflicts with current state of the record list: another upload is being processed")
	case s.validatingLocked(listID):
		return listValidating()
	}
	u.status = StatusUploaded
	verdict := s.verdictLocked(u.body)
	if verdict != "" {
		s.verdicts[listID] = verdict
	} else {
		delete(s.verdicts, listID)
	}
	if d := s.validationLocked(listID); d > 0 {
		now := s.now()
		s.validations = append(s.validations, Validation{ListID: listID, UploadID: u.id, Start: now, End: now.Add(d), Verdict: verdict})
	}
	s.records[listID] += countRecords(u.body)
	s.commits = append(s.commits, commit{
		Commit: Commit{
			ListID: listID, UploadID: u.id, Filename: u.filename, Checksum: u.checksum,
			ByteSize: u.byteSize, Body: append([]byte(nil), u.body...), SendAtlas: u.sendAtlas,
			At: s.now(),
		},
		callbackAction: u.callbackAction,
	})
	return jsonReply(http.StatusOK, map[string]any{
		"id":             u.id,
		"record_list_id": listID,
		"status":         StatusUploaded,
		"_links":         links(baseURL(r), u, ""),
	})
}

func parsePatch(body []byte) []fieldError {
	var fields []fieldError
	bad := func(name, format string, args ...any) {
		fields = append(fields, fieldError{Name: name, Description: fmt.Sprintf(format, args...)})
	}
	top, ok := jsonObject(body)
	if !ok {
		bad("body", `must be a JSON object {"op","path","value"}`)
		return fields
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if _, ok := patchBody[k]; !ok {
			bad(k, "unknown field")
		}
	}
	for _, k := range []string{"op", "path", "value"} {
		if v, ok := stringField(top, k, k, bad); ok && v != patchBody[k] {
			bad(k, "must be %q", patchBody[k])
		}
	}
	return fields
}

// handleList is GET /record-lists/{id}.
func (s *Server) handleList(r *http.Request, listID string) reply {
	if rep, ok := s.authorize(r); !ok {
		return rep
	}
	if !s.knownList(listID) {
		return listNotFound(listID)
	}
	s.mu.Lock()
	status := s.listStatus[listID]
	if v := s.verdicts[listID]; v != "" && status == "" {
		status = v
	}
	if s.validatingLocked(listID) {
		status = StatusValidationStarted
	}
	count := s.records[listID]
	name := s.listNames[listID]
	s.listGets[listID]++
	s.mu.Unlock()
	if name == "" {
		name = "Record list " + listID
	}
	if status == "" {
		status = DefaultListStatus
	}
	return jsonReply(http.StatusOK, map[string]any{
		"id":            listID,
		"name":          name,
		"status":        status,
		"records_count": count,
	})
}

// countRecords approximates the records of a CSV: its non-empty lines after
// the header.
func countRecords(body []byte) int {
	n := 0
	for line := range strings.SplitSeq(string(body), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return max(n-1, 0)
}

func (s *Server) jsonContentType(r *http.Request) (reply, bool) {
	if mediaType(r) == "application/json" {
		return reply{}, true
	}
	s.violate(r, "Content-Type %q, want application/json", r.Header.Get("Content-Type"))
	return apiError(http.StatusBadRequest, CodeBadRequest, "Bad Request", "Content-Type must be application/json",
		fieldError{Name: "Content-Type", Description: "must be application/json"}), false
}

// listValidating is Talkdesk's answer to a request that a list refuses
// while it validates an upload.
func listValidating() reply {
	return apiError(http.StatusConflict, CodeConflict, "Conflict",
		"request conflicts with current state of record list or upload request: the record list is validating an upload")
}

func listNotFound(listID string) reply {
	return apiError(http.StatusNotFound, CodeNotFound, "Not Found", fmt.Sprintf("record list %q not found", listID))
}

// baseURL is the scheme and host the request came to, so that links work
// both on a started server and behind any other listener.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func describeFields(fields []fieldError) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f.Name + ": " + f.Description
	}
	return strings.Join(parts, "; ")
}

// jsonObject decodes raw as a JSON object (not null).
func jsonObject(raw []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// stringField reads a required string field of obj, reporting it as name.
func stringField(obj map[string]json.RawMessage, key, name string, bad func(string, string, ...any)) (string, bool) {
	raw, ok := obj[key]
	if !ok {
		bad(name, "required")
		return "", false
	}
	var v string
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '"' || json.Unmarshal(t, &v) != nil {
		bad(name, "must be a string")
		return "", false
	}
	return v, true
}

// jsonInt decodes a JSON number that is an integer (not a string, not 1.5).
func jsonInt(raw []byte) (int64, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] == '"' {
		return 0, false
	}
	var n json.Number
	if json.Unmarshal(t, &n) != nil {
		return 0, false
	}
	v, err := n.Int64()
	return v, err == nil
}
