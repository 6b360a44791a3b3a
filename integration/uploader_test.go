package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/talkdesk"
)

func newClient(t *testing.T, f *fakeAPI) *talkdesk.Client {
	t.Helper()
	c, err := talkdesk.New(talkdesk.Options{
		APIURL: f.URL(), TokenURL: f.TokenURL(),
		ClientID: apiClientID, ClientSecret: apiSecret,
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func csvBody(tag string, rows int) []byte {
	var b strings.Builder
	b.WriteString("first_name,last_name,mobile_phone\n")
	for i := range rows {
		fmt.Fprintf(&b, "%s,Person%d,+1202555%04d\n", tag, i, i)
	}
	return []byte(b.String())
}

// createFor asks the fake API for an upload request for data, through the
// product's client.
func createFor(t *testing.T, ctx context.Context, c *talkdesk.Client, list, name string, data []byte) *talkdesk.UploadRequest {
	t.Helper()
	sum := md5.Sum(data)
	ur, err := c.CreateUploadRequest(ctx, talkdesk.CreateRequest{
		ListID: list,
		CSV:    talkdesk.Metadata{Filename: name, ByteSize: len(data), Checksum: hex.EncodeToString(sum[:]), ContentType: "text/csv"},
	})
	if err != nil {
		t.Fatalf("create upload request: %v", err)
	}
	return ur
}

func signedList(t *testing.T, signed string) string {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("X-Amz-SignedHeaders")
}

// rawPut sends a PUT the product would never send, to show that the
// server refuses it: the checks the product passes are real.
func rawPut(t *testing.T, ctx context.Context, signed string, body []byte, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, signed, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	xml.Unmarshal(raw, &x)
	return resp.StatusCode, x.Code, x.Message
}

func wantS3Error(t *testing.T, err error, status int, code string, class talkdesk.Class) *talkdesk.S3Error {
	t.Helper()
	var se *talkdesk.S3Error
	if !errors.As(err, &se) {
		t.Fatalf("Put: want an S3 error %d %s, got %v", status, code, err)
	}
	if se.Status != status || se.Code != code {
		t.Fatalf("Put: want HTTP %d %s, got %v", status, code, se)
	}
	if got := talkdesk.Classify(err); got != class {
		t.Fatalf("Classify(%v) = %s, want %s", err, got, class)
	}
	return se
}

// A URL that signs Content-MD5: the client must send the signed value,
// base64 of the raw digest, and versitygw checks it against the body.
func TestClientPutSigningContentMD5(t *testing.T) {
	g := needGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFakeAPI(t, g, apiOptions{SignMD5: true})
	c := newClient(t, f)
	data := csvBody("md5", 40)
	ur := createFor(t, ctx, c, "list-a", "contacts.csv", data)
	if got := signedList(t, ur.SignedURL); !strings.Contains(got, "content-md5") || !strings.Contains(got, "content-type") {
		t.Fatalf("the fake should sign content-md5 and content-type; X-Amz-SignedHeaders=%q", got)
	}

	// Controls: the hex digest instead of base64, and another content type,
	// break the signature.
	sum := md5.Sum(data)
	if st, code, _ := rawPut(t, ctx, ur.SignedURL, data, map[string]string{"Content-Type": "text/csv", "Content-MD5": hex.EncodeToString(sum[:])}); st != http.StatusForbidden || code != "SignatureDoesNotMatch" {
		t.Fatalf("a hex Content-MD5: want 403 SignatureDoesNotMatch from versitygw, got %d %s", st, code)
	}
	if st, code, _ := rawPut(t, ctx, ur.SignedURL, data, map[string]string{"Content-Type": "text/plain", "Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}); st != http.StatusForbidden || code != "SignatureDoesNotMatch" {
		t.Fatalf("Content-Type text/plain: want 403 SignatureDoesNotMatch from versitygw, got %d %s", st, code)
	}

	if err := c.Put(ctx, ur.SignedURL, data, sum); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := c.MarkUploaded(ctx, "list-a", ur.ID); err != nil {
		t.Fatalf("MarkUploaded: %v", err)
	}
	commits := f.Commits()
	if len(commits) != 1 || commits[0].UploadID != ur.ID || !bytes.Equal(commits[0].Bytes, data) {
		t.Fatalf("want one commit of %s with the file's bytes, got %+v", ur.ID, commits)
	}
	if ct, err := f.objectType(ctx, commits[0].Key); err != nil || ct != "text/csv" {
		t.Fatalf("stored object's Content-Type = %q (%v), want text/csv", ct, err)
	}
	if n := f.proxy.refused.Load(); n != 0 {
		t.Fatalf("the proxy refused %d requests", n)
	}
}

// A URL that signs only Content-Type: the client must not send Content-MD5,
// which AWS (here the proxy) refuses when it is not signed.
func TestClientPutSigningContentTypeOnly(t *testing.T) {
	g := needGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFakeAPI(t, g, apiOptions{SignMD5: false})
	c := newClient(t, f)
	data := csvBody("ct", 25)
	sum := md5.Sum(data)
	ur := createFor(t, ctx, c, "list-b", "contacts.csv", data)
	if got := signedList(t, ur.SignedURL); strings.Contains(got, "content-md5") || !strings.Contains(got, "content-type") {
		t.Fatalf("the fake should sign content-type and not content-md5; X-Amz-SignedHeaders=%q", got)
	}

	// Control: an unsigned Content-MD5, even a correct one, is refused.
	st, code, msg := rawPut(t, ctx, ur.SignedURL, data, map[string]string{"Content-Type": "text/csv", "Content-MD5": base64.StdEncoding.EncodeToString(sum[:])})
	if st != http.StatusForbidden || code != "AccessDenied" || !strings.Contains(msg, "not signed") {
		t.Fatalf("an unsigned Content-MD5: want 403 AccessDenied from the proxy, got %d %s %q", st, code, msg)
	}
	refusedBefore := f.proxy.refused.Load()

	if err := c.Put(ctx, ur.SignedURL, data, sum); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n := f.proxy.refused.Load() - refusedBefore; n != 0 {
		t.Fatalf("the client sent an unsigned Content-MD5 (%d refused)", n)
	}
	if err := c.MarkUploaded(ctx, "list-b", ur.ID); err != nil {
		t.Fatalf("MarkUploaded: %v", err)
	}
	if commits := f.Commits(); len(commits) != 1 || !bytes.Equal(commits[0].Bytes, data) {
		t.Fatalf("want one commit with the file's bytes, got %+v", commits)
	}
}

// An expired URL: versitygw answers 403 "Request has expired", which the
// client reports as a reason to ask for a fresh URL; the fresh one works.
func TestClientPutExpiredURL(t *testing.T) {
	g := needGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFakeAPI(t, g, apiOptions{SignMD5: true, ExpiredFirst: 1})
	c := newClient(t, f)
	data := csvBody("exp", 10)
	sum := md5.Sum(data)

	first := createFor(t, ctx, c, "list-c", "contacts.csv", data)
	err := c.Put(ctx, first.SignedURL, data, sum)
	se := wantS3Error(t, err, http.StatusForbidden, "AccessDenied", talkdesk.Renew)
	if !se.Expired() {
		t.Fatalf("Expired() = false for %v", se)
	}

	second := createFor(t, ctx, c, "list-c", "contacts.csv", data)
	if err := c.Put(ctx, second.SignedURL, data, sum); err != nil {
		t.Fatalf("Put to a fresh URL: %v", err)
	}
	if err := c.MarkUploaded(ctx, "list-c", second.ID); err != nil {
		t.Fatalf("MarkUploaded: %v", err)
	}
}

// A URL whose signature was spoiled: 403 SignatureDoesNotMatch.
func TestClientPutTamperedSignature(t *testing.T) {
	g := needGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFakeAPI(t, g, apiOptions{SignMD5: true, Tamper: true})
	c := newClient(t, f)
	data := csvBody("tamper", 10)
	ur := createFor(t, ctx, c, "list-d", "contacts.csv", data)
	err := c.Put(ctx, ur.SignedURL, data, md5.Sum(data))
	wantS3Error(t, err, http.StatusForbidden, "SignatureDoesNotMatch", talkdesk.Renew)
	if strings.Contains(err.Error(), "X-Amz-Signature") {
		t.Fatalf("the error shows the signed URL's query: %v", err)
	}
}

// A body whose MD5 is not the signed Content-MD5: versitygw computes the
// body's digest and answers 400 BadDigest, which is the file's fault.
func TestClientPutBadDigest(t *testing.T) {
	g := needGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFakeAPI(t, g, apiOptions{SignMD5: true})
	c := newClient(t, f)
	announced := csvBody("one", 10)
	sent := csvBody("two", 10) // same length, other bytes
	ur := createFor(t, ctx, c, "list-e", "contacts.csv", announced)
	err := c.Put(ctx, ur.SignedURL, sent, md5.Sum(announced))
	wantS3Error(t, err, http.StatusBadRequest, "BadDigest", talkdesk.Permanent)
	keys, err := f.objectKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("versitygw stored %v after a bad digest", keys)
	}
}
