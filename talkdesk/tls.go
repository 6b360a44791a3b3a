package talkdesk

import (
	"crypto/tls"
	"fmt"

	"github.com/listdrop/listdrop/internal/capool"
)

// tlsConfig is the TLS of every connection the client makes: TLS 1.2 at
// least, certificates verified against the system's roots, and also
// against those of caFile when it is set.
func tlsConfig(caFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pool, err := capool.Load(caFile)
	if err != nil {
		return nil, fmt.Errorf("talkdesk: ca file: %w", err)
	}
	tc.RootCAs = pool
	return tc, nil
}
