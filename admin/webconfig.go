package admin

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"
)

// maxWebConfigSize bounds the web configuration file, read at every
// request (by exporter-toolkit, and here for its user names).
const maxWebConfigSize = 1 << 20

// webConfig is what listdrop reads of an exporter-toolkit web
// configuration itself; exporter-toolkit reads the rest.
type webConfig struct {
	TLS   map[string]any    `yaml:"tls_server_config"`
	Users map[string]string `yaml:"basic_auth_users"`
}

func readWebConfig(path string) (webConfig, error) {
	var c webConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if len(data) > maxWebConfigSize {
		return c, fmt.Errorf("%s is larger than %d bytes", path, maxWebConfigSize)
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// webUsers returns the basic_auth_users names of a web configuration.
func webUsers(path string) (map[string]bool, error) {
	c, err := readWebConfig(path)
	if err != nil {
		return nil, err
	}
	users := make(map[string]bool, len(c.Users))
	for u := range c.Users {
		users[u] = true
	}
	return users, nil
}

// CheckWebConfig checks admin.web_config_file: that exporter-toolkit
// accepts it (its certificate and key load, its passwords are bcrypt
// hashes) and, for an endpoint other machines can reach (loopback false),
// that it turns on both TLS and basic authentication. The error says what
// to add.
func CheckWebConfig(path string, loopback bool) error {
	const key = "admin.web_config_file"
	if path == "" {
		return nil
	}
	c, err := readWebConfig(path)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("%s: %s: %w (the format is exporter-toolkit's web configuration, as for Prometheus' exporters)", key, path, err)
	}
	if loopback {
		return nil
	}
	var missing []string
	if len(c.TLS) == 0 {
		missing = append(missing, "tls_server_config (cert_file and key_file)")
	}
	if len(c.Users) == 0 {
		missing = append(missing, "basic_auth_users (a user name and the bcrypt hash of its password, e.g. from htpasswd -nBC 10 USER)")
	}
	switch len(missing) {
	case 1:
		return fmt.Errorf("%s: %s turns on only part of what admin.listen off loopback needs: add %s", key, path, missing[0])
	case 2:
		return fmt.Errorf("%s: %s turns on neither TLS nor authentication, which admin.listen off loopback needs: add %s and %s", key, path, missing[0], missing[1])
	}
	return nil
}

// ClientTLS is how the commands reach an endpoint that a web
// configuration puts behind TLS: they trust exactly the certificate in its
// cert_file (or cert), whatever names it carries, since they connect on
// loopback. nil when the file turns on no TLS.
func ClientTLS(path string) (*tls.Config, error) {
	c, err := readWebConfig(path)
	if err != nil {
		return nil, fmt.Errorf("admin.web_config_file: %w", err)
	}
	if len(c.TLS) == 0 {
		return nil, nil
	}
	var pemData []byte
	if s, _ := c.TLS["cert"].(string); s != "" {
		pemData = []byte(s)
	} else if f, _ := c.TLS["cert_file"].(string); f != "" {
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		if pemData, err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("admin.web_config_file: read its cert_file: %w", err)
		}
	} else {
		return nil, fmt.Errorf("admin.web_config_file: %s has tls_server_config without cert_file or cert", path)
	}
	var pinned [][]byte
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			pinned = append(pinned, b.Bytes)
		}
	}
	if len(pinned) == 0 {
		return nil, fmt.Errorf("admin.web_config_file: the certificate of %s holds no PEM certificate", path)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The usual check (a CA and a name) cannot apply to a certificate
		// made for other machines' view of this one; the pin replaces it.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				for _, p := range pinned {
					if bytes.Equal(raw[0], p) {
						return nil
					}
				}
			}
			return fmt.Errorf("the admin endpoint's certificate is not the one in %s", path)
		},
	}, nil
}
