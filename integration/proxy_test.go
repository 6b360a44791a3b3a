package integration

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// md5Proxy stands in front of versitygw and adds the one rule of AWS S3
// that versitygw does not enforce: a Content-MD5 header that the request's
// signature does not cover is refused with 403 AccessDenied. Everything
// else passes through unchanged, the Host header included, since the
// signature covers it.
type md5Proxy struct {
	URL     string
	srv     *httptest.Server
	refused atomic.Int64 // requests refused for an unsigned Content-MD5
	passed  atomic.Int64 // requests passed on to versitygw
}

func newMD5Proxy(t *testing.T, target string) *md5Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &md5Proxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-MD5") != "" && !signedHeaders(r)["content-md5"] {
			p.refused.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
				`<Error><Code>AccessDenied</Code><Message>There were headers present in the request which were not signed</Message>` +
				`<HeadersNotSigned>content-md5</HeadersNotSigned><RequestId>listdrop-it</RequestId></Error>`))
			return
		}
		p.passed.Add(1)
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// signedHeaders lists the headers a SigV4 request signed: from the
// presigned URL's X-Amz-SignedHeaders, or from the Authorization header.
func signedHeaders(r *http.Request) map[string]bool {
	list := r.URL.Query().Get("X-Amz-SignedHeaders")
	if list == "" {
		for part := range strings.SplitSeq(r.Header.Get("Authorization"), ",") {
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(part, "SignedHeaders="); ok {
				list = v
			}
		}
	}
	out := map[string]bool{}
	for h := range strings.SplitSeq(list, ";") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out[h] = true
		}
	}
	return out
}
