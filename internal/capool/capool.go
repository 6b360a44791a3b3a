// Package capool loads talkdesk.ca_file, the certificate authorities to
// trust besides the system's: the configuration checks it with the same
// loader the Talkdesk client then uses, so a file the check accepts is a
// file the client can use.
package capool

import (
	"crypto/x509"
	"fmt"
	"io"
	"os"
)

// MaxSize bounds the file read; a bundle of every public root is about
// 200 KB.
const MaxSize = 4 << 20

// Load returns the system's roots with the certificates of the PEM file
// at path added. It fails when the file is not a regular file (a FIFO or a
// device would block or never end), is larger than MaxSize, cannot be read
// or holds no PEM certificate.
func Load(path string) (*x509.CertPool, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(pem) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSize)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		// No system roots to add to (a minimal container): the file's CAs
		// are then the only ones trusted, which is still verification.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}
