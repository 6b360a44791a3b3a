// Package capool loads talkdesk.ca_file, the certificate authorities to
// trust besides the system's: the configuration checks it with the same
// loader the Talkdesk client then uses, so a file the check accepts is a
// file the client can use.
package capool

import (
	"crypto/x509"
	"fmt"

	"github.com/listdrop/listdrop/internal/fsutil"
)

// MaxSize bounds the file read; a bundle of every public root is about
// 200 KB.
const MaxSize = 4 << 20

// Load returns the system's roots with the certificates of the PEM file
// at path added. It fails when the file is not a regular file (a FIFO or a
// device would block or never end), is larger than MaxSize, cannot be read
// or holds no PEM certificate.
func Load(path string) (*x509.CertPool, error) {
	pem, err := fsutil.ReadLimited(path, MaxSize)
	if err != nil {
		return nil, err
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
