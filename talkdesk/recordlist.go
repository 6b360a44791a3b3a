package talkdesk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// RecordList is what listdrop reads of a record list: its status tells
// whether Talkdesk's validation of the last upload has ended.
type RecordList struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	RecordsCount int    `json:"records_count"`
}

// Validating reports whether Talkdesk is still validating the list.
func (l *RecordList) Validating() bool {
	return l.Status == "VALIDATION_STARTED" || l.Status == "UPLOADED"
}

// GetRecordList reads a record list.
func (c *Client) GetRecordList(ctx context.Context, listID string) (*RecordList, error) {
	const op = "get record list"
	status, raw, err := c.callAPI(ctx, op, http.MethodGet, "/record-lists/"+url.PathEscape(listID), nil)
	if err != nil {
		return nil, err
	}
	var l RecordList
	if err := json.Unmarshal(raw, &l); err != nil || l.Status == "" {
		return nil, &APIError{Op: op, Status: status, Message: "answer lacks status", Snippet: snippet(raw)}
	}
	return &l, nil
}

// CheckToken obtains an access token, or says why none comes: the check of
// the credentials, the scope and the way to the token endpoint.
func (c *Client) CheckToken(ctx context.Context) error {
	_, err := c.accessToken(ctx)
	return err
}
