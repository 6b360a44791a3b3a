package talkdesk

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// maxCAFile bounds the CA file read; a bundle of every public root is
// about 200 KB.
const maxCAFile = 4 << 20

// tlsConfig is the TLS of every connection the client makes: TLS 1.2 at
// least, certificates verified against the system's roots, and also
// against those of caFile when it is set.
func tlsConfig(caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pool, err := loadCAFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("talkdesk: ca file: %w", err)
	}
	tc.RootCAs = pool
	return tc, nil
}

// loadCAFile returns the system's roots with the certificates of the PEM
// file at path added. It fails when the file cannot be read or holds no
// PEM certificate.
func loadCAFile(path string) (*x509.CertPool, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > maxCAFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxCAFile)
	}
	pem, err := os.ReadFile(path)
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
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
