package faketalkdesk

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The signed URLs imitate S3 SigV4 presigned URLs: the same query
// parameters, and a signature over the method, the path, the other query
// parameters and the signed headers. It is an HMAC with a key of the server,
// not AWS's derivation: only this server has to verify it.
const (
	amzDateFormat = "20060102T150405Z"
	amzAccessKey  = "FAKEACCESSKEYID"
	amzRegion     = "us-east-1"
	maxPutBytes   = 5 << 20
)

// amzParams must each appear exactly once in a signed URL.
var amzParams = []string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
	"X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
}

// signURL returns the presigned PUT URL of u on base, which the client will
// reach with host in its Host header.
func (s *Server) signURL(base, host string, u *upload) string {
	now := s.now().UTC()
	signed := "content-type;host"
	if s.opts.SignContentMD5 {
		signed = "content-md5;content-type;host" // lowercase, sorted, as SigV4 lists them
	}
	q := url.Values{}
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Credential", amzAccessKey+"/"+now.Format("20060102")+"/"+amzRegion+"/s3/aws4_request")
	q.Set("X-Amz-Date", now.Format(amzDateFormat))
	q.Set("X-Amz-Expires", strconv.Itoa(max(1, int(math.Ceil(s.opts.URLTTL.Seconds())))))
	q.Set("X-Amz-SignedHeaders", signed)
	q.Set("X-Amz-Signature", s.sign(http.MethodPut, uploadPath(u.id, u.filename), q.Encode(), host, "text/csv"))
	return base + "/s3/uploads/" + u.id + "/" + url.PathEscape(u.filename) + "?" + q.Encode()
}

// uploadPath is the unescaped path of an upload's signed URL.
func uploadPath(id, filename string) string {
	return "/s3/uploads/" + id + "/" + filename
}

// sign is the signature of a request; query is the canonical (sorted,
// encoded) query without X-Amz-Signature.
func (s *Server) sign(method, path, query, host, contentType string) string {
	mac := hmac.New(sha256.New, s.signKey)
	mac.Write([]byte(strings.Join([]string{
		method, path, query, "content-type:" + contentType, "host:" + host,
	}, "\n")))
	return hex.EncodeToString(mac.Sum(nil))
}

// handlePut is a request to a signed URL: the fake S3.
func (s *Server) handlePut(r *http.Request, id string) reply {
	if r.ContentLength < 0 || slices.Contains(r.TransferEncoding, "chunked") {
		s.violate(r, "body of unknown length sent chunked; S3 needs a Content-Length")
		return s3ErrorWith(http.StatusNotImplemented, s3ErrorBody{
			Code:    "NotImplemented",
			Message: "A header you provided implies functionality that is not implemented",
			Header:  "Transfer-Encoding",
		})
	}

	q, err := url.ParseQuery(r.URL.RawQuery)
	missing := err != nil
	for _, k := range amzParams {
		missing = missing || len(q[k]) != 1
	}
	if missing {
		s.violate(r, "signed URL query is incomplete or malformed")
		return s3Error(http.StatusBadRequest, "AuthorizationQueryParametersError",
			"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	got := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	canonical := q.Encode()
	want := s.sign(r.Method, r.URL.Path, canonical, r.Host, r.Header.Get("Content-Type"))
	if !hmac.Equal([]byte(got), []byte(want)) {
		switch intact := hmac.Equal([]byte(got), []byte(s.sign(http.MethodPut, r.URL.Path, canonical, r.Host, "text/csv"))); {
		case intact && r.Method != http.MethodPut:
			s.violate(r, "method %s on a URL signed for PUT", r.Method)
		case intact:
			s.violate(r, "Content-Type %q is not the signed value text/csv", r.Header.Get("Content-Type"))
		default:
			s.violate(r, "signed URL was altered: signature does not match")
		}
		return signatureMismatch()
	}

	// X-Amz-Date and X-Amz-Expires are signed: they parse.
	date, _ := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	secs, _ := strconv.Atoi(q.Get("X-Amz-Expires"))
	if s.now().After(date.Add(time.Duration(secs) * time.Second)) {
		// URLs end; a correct client asks for a fresh upload request.
		return s3Error(http.StatusForbidden, "AccessDenied", "Request has expired")
	}

	s.mu.Lock()
	u := s.uploads[id]
	s.mu.Unlock()
	if u == nil {
		s.violate(r, "no upload request %q", id)
		return s3Error(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	}

	signedMD5 := slices.Contains(strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), "content-md5")
	sent := r.Header.Values("Content-MD5")
	var wantMD5 []byte
	switch {
	case !signedMD5 && len(sent) > 0:
		s.violate(r, "Content-MD5 sent but the URL did not sign it")
		return s3ErrorWith(http.StatusForbidden, s3ErrorBody{
			Code:             "AccessDenied",
			Message:          "There were headers present in the request which were not signed",
			HeadersNotSigned: "content-md5",
		})
	case signedMD5 && len(sent) == 0:
		s.violate(r, "the URL signed content-md5 but the request has no Content-MD5 header")
		return signatureMismatch()
	case signedMD5:
		d, err := base64.StdEncoding.DecodeString(sent[0])
		if err != nil || len(d) != md5.Size || len(sent) > 1 {
			hint := ""
			if md5Hex.MatchString(strings.ToLower(sent[0])) {
				hint = " (it is the hex digest)"
			}
			s.violate(r, "Content-MD5 %q is not the base64 of the 16 MD5 bytes%s", sent[0], hint)
			return s3Error(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 you specified is not valid.")
		}
		wantMD5 = d
	}

	body, tooLarge, err := readBody(r, maxPutBytes)
	if err != nil {
		return s3Error(http.StatusBadRequest, "IncompleteBody",
			"You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	if tooLarge {
		s.violate(r, "body larger than %d bytes", maxPutBytes)
		return s3Error(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	sum := md5.Sum(body)
	if wantMD5 != nil && !bytes.Equal(sum[:], wantMD5) {
		s.violate(r, "Content-MD5 does not match the body")
		return s3Error(http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.")
	}
	if len(body) != u.byteSize {
		s.violate(r, "body is %d bytes but the upload request declared byte_size %d", len(body), u.byteSize)
		return s3Error(http.StatusBadRequest, "IncompleteBody",
			"The body is not the size declared as byte_size in the upload request.")
	}
	if sumHex := hex.EncodeToString(sum[:]); sumHex != u.checksum {
		s.violate(r, "body MD5 %s does not match the upload request checksum %s", sumHex, u.checksum)
		return s3Error(http.StatusBadRequest, "BadDigest",
			"The MD5 of the body does not match the checksum declared in the upload request.")
	}

	s.mu.Lock()
	if u.status == StatusUploaded {
		s.violateLocked(r, "PUT after the upload request was set to UPLOADED")
	}
	u.body = body
	u.put = true // a second PUT replaces the object, as S3 does
	s.mu.Unlock()
	return reply{status: http.StatusOK, header: http.Header{
		"Etag": {`"` + hex.EncodeToString(sum[:]) + `"`},
	}}
}

func signatureMismatch() reply {
	return s3Error(http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}
