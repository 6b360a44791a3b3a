//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// rawClient makes exactly the HTTP calls listdrop makes for a file (a token
// once, then create, PUT, PATCH), with no filesystem, no state and no
// retries: the limit listdrop is measured against.
type rawClient struct {
	http             *http.Client
	api, tokenURL    string
	clientID, secret string
	token            string
	// wal, when set, makes it the durable raw client: a synced
	// write-ahead record before each PATCH and a synced commit after it.
	wal *durableLog
}

func newRawClient(api, tokenURL, secret string, workers int) *rawClient {
	// The same connection pool as listdrop's uploader: keep-alive, and
	// room for every worker's connection.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = workers + 2
	return &rawClient{
		http: &http.Client{Transport: t, Timeout: 30 * time.Second},
		api:  api, tokenURL: tokenURL, clientID: benchClientID, secret: secret,
	}
}

func (c *rawClient) close() { c.http.CloseIdleConnections() }

func (c *rawClient) do(req *http.Request, want int) ([]byte, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d: %.200s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return body, nil
}

func (c *rawClient) fetchToken(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"record-lists:manage"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.clientID, c.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := c.do(req, http.StatusOK)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("token: no access_token in %.200s", body)
	}
	c.token = tok.AccessToken
	return nil
}

func (c *rawClient) apiRequest(ctx context.Context, method, path string, in any, want int) ([]byte, error) {
	payload, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return c.do(req, want)
}

// upload sends one file: create the upload request, PUT the bytes to the
// signed URL, PATCH the request to UPLOADED and, with verify, read the
// list's status once.
func (c *rawClient) upload(ctx context.Context, list, name string, data []byte, verify bool) error {
	id, err := c.prepare(ctx, list, name, data)
	if err != nil {
		return err
	}
	if err := c.patch(ctx, list, id, data); err != nil {
		return err
	}
	if !verify {
		return nil
	}
	_, err = c.validating(ctx, list)
	return err
}

// prepare creates the upload request of a file and PUTs its bytes; it
// returns the request's id.
func (c *rawClient) prepare(ctx context.Context, list, name string, data []byte) (string, error) {
	sum := md5.Sum(data)
	create := map[string]any{"csv_metadata": map[string]any{
		"filename": name, "byte_size": len(data), "checksum": hex.EncodeToString(sum[:]), "content_type": "text/csv",
	}}
	body, err := c.apiRequest(ctx, http.MethodPost, "/record-lists/"+list+"/upload-requests", create, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	var ur struct {
		ID        string `json:"id"`
		SignedURL string `json:"signed_url"`
	}
	if err := json.Unmarshal(body, &ur); err != nil || ur.ID == "" || ur.SignedURL == "" {
		return "", fmt.Errorf("create: no id or signed_url in %.200s", body)
	}
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, ur.SignedURL, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	put.ContentLength = int64(len(data))
	put.Header.Set("Content-Type", "text/csv")
	if _, err := c.do(put, http.StatusOK); err != nil {
		return "", fmt.Errorf("put: %w", err)
	}
	return ur.ID, nil
}

// patch sets an upload request to UPLOADED; the durable raw client writes
// its record before and its commit after, each synced.
func (c *rawClient) patch(ctx context.Context, list, id string, data []byte) error {
	if c.wal != nil {
		sum := md5.Sum(data)
		if err := c.wal.write(fmt.Appendf(nil, "ahead %s %s %x\n", list, id, sum)); err != nil {
			return fmt.Errorf("write-ahead record: %w", err)
		}
	}
	patch := map[string]string{"op": "replace", "path": "/status", "value": "UPLOADED"}
	if _, err := c.apiRequest(ctx, http.MethodPatch, "/record-lists/"+list+"/upload-requests/"+id, patch, http.StatusOK); err != nil {
		return fmt.Errorf("patch: %w", err)
	}
	if c.wal != nil {
		if err := c.wal.write(fmt.Appendf(nil, "commit %s %s\n", list, id)); err != nil {
			return fmt.Errorf("commit record: %w", err)
		}
	}
	return nil
}

// validating reads the list's status and reports whether it is validating.
func (c *rawClient) validating(ctx context.Context, list string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.api+"/record-lists/"+list, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	body, err := c.do(req, http.StatusOK)
	if err != nil {
		return false, fmt.Errorf("list status: %w", err)
	}
	var l struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &l); err != nil || l.Status == "" {
		return false, fmt.Errorf("list status: no status in %.200s", body)
	}
	return l.Status == "VALIDATION_STARTED" || l.Status == "UPLOADED", nil
}

// rawFile is a file for the raw client: its bytes in memory.
type rawFile struct {
	name string
	list int
	data []byte
	due  time.Time // when it is "dropped" (trickle); zero: at once
	done time.Time // when its PATCH was answered
}

// runRaw uploads files with listdrop's rule of concurrency: one file in
// flight per record list, in the order given, and at most workers lists at
// once. A file with a due time is not sent before it. It returns when every
// file is done, with the first error if any.
func (c *rawClient) runRaw(ctx context.Context, files []*rawFile, lists, workers int, verify bool) error {
	if err := c.fetchToken(ctx); err != nil {
		return err
	}
	queues := make([][]*rawFile, lists)
	for _, f := range files {
		queues[f.list] = append(queues[f.list], f)
	}
	sem := make(chan struct{}, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for k, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range q {
				if d := time.Until(f.due); !f.due.IsZero() && d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				err := c.upload(ctx, listID(k), f.name, f.data, verify)
				<-sem
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				f.done = time.Now()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// runPaced uploads files obeying Talkdesk's validation: a list's files in
// order; the next file's upload request is created and its bytes PUT while
// the list validates, and it is PATCHed once a look at the list (every
// poll) finds it not validating. At most workers requests are in flight at
// once; waits hold none.
func (c *rawClient) runPaced(ctx context.Context, files []*rawFile, lists, workers int, poll time.Duration) error {
	if err := c.fetchToken(ctx); err != nil {
		return err
	}
	queues := make([][]*rawFile, lists)
	for _, f := range files {
		queues[f.list] = append(queues[f.list], f)
	}
	sem := make(chan struct{}, workers)
	slot := func(call func() error) error {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-sem }()
		return call()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for k, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list := listID(k)
			err := func() error {
				for i, f := range q {
					var id string
					if err := slot(func() (err error) { id, err = c.prepare(ctx, list, f.name, f.data); return err }); err != nil {
						return err
					}
					for i > 0 {
						var busy bool
						if err := slot(func() (err error) { busy, err = c.validating(ctx, list); return err }); err != nil {
							return err
						}
						if !busy {
							break
						}
						if err := sleep(ctx, poll); err != nil {
							return err
						}
					}
					if err := slot(func() error { return c.patch(ctx, list, id, f.data) }); err != nil {
						return err
					}
					f.done = time.Now()
				}
				return nil
			}()
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// durableLog is the least durable work exactly-once needs, and no more: an
// append-only file, each record synced before write returns. Records
// written at once by several lists share one write and one sync, as
// listdrop's state writes share a transaction.
type durableLog struct {
	f *os.File

	mu       sync.Mutex
	pending  []byte
	waiters  []chan error
	flushing bool
	wg       sync.WaitGroup
}

func openDurableLog(path string) (*durableLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &durableLog{f: f}, nil
}

// write appends rec and returns once it is on disk.
func (l *durableLog) write(rec []byte) error {
	done := make(chan error, 1)
	l.mu.Lock()
	l.pending = append(l.pending, rec...)
	l.waiters = append(l.waiters, done)
	if !l.flushing {
		l.flushing = true
		l.wg.Add(1)
		go l.flush()
	}
	l.mu.Unlock()
	return <-done
}

// flush writes and syncs what is pending, batch after batch, until nothing
// is.
func (l *durableLog) flush() {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		if len(l.waiters) == 0 {
			l.flushing = false
			l.mu.Unlock()
			return
		}
		batch, waiters := l.pending, l.waiters
		l.pending, l.waiters = nil, nil
		l.mu.Unlock()
		_, err := l.f.Write(batch)
		if err == nil {
			err = l.f.Sync()
		}
		for _, w := range waiters {
			w <- err
		}
	}
}

func (l *durableLog) close() error {
	l.wg.Wait()
	return l.f.Close()
}
