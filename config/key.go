package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/listdrop/listdrop/internal/fsutil"
)

// PrivateKey is the key of talkdesk.private_key_file, parsed. It prints
// and marshals as "[redacted]", so that no log line or status output can
// show it, however a Config is printed.
type PrivateKey struct {
	signer crypto.Signer
	alg    string
}

// Signer returns the key: an *ecdsa.PrivateKey on P-256 or an
// *rsa.PrivateKey. It is nil when no key is configured.
func (k *PrivateKey) Signer() crypto.Signer {
	if k == nil {
		return nil
	}
	return k.signer
}

// Algorithm is the JWS algorithm the key signs with: ES256 or RS256.
func (k *PrivateKey) Algorithm() string {
	if k == nil {
		return ""
	}
	return k.alg
}

func (k *PrivateKey) String() string { return "[redacted]" }

// GoString keeps %#v from printing the key's numbers.
func (k *PrivateKey) GoString() string { return "[redacted]" }

// MarshalJSON keeps the key out of any JSON made of a Config.
func (k *PrivateKey) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// maxKeyFileSize bounds the key file; a 4096-bit RSA key in PEM is about
// 3.3 KB.
const maxKeyFileSize = 64 << 10

// minRSABits is the smallest RSA key accepted: RS256 with less is refused
// by most identity providers.
const minRSABits = 2048

// resolvePrivateKey checks talkdesk.private_key_file and talkdesk.key_id
// and reads the key: exactly one of client_secret, client_secret_file and
// private_key_file may be set.
func (c *Config) resolvePrivateKey(dir string, p *problems) {
	const key = "talkdesk.private_key_file"
	t := &c.Talkdesk
	if t.PrivateKeyFile == "" {
		if t.KeyID != "" {
			p.fail("talkdesk.key_id", "only used with talkdesk.private_key_file: set that too, or remove talkdesk.key_id")
		}
		return
	}
	if t.ClientSecret != "" || t.ClientSecretFile != "" {
		p.fail(key, "set only one of talkdesk.client_secret, talkdesk.client_secret_file and talkdesk.private_key_file")
		p.cover("talkdesk.client_secret", "talkdesk.client_secret_file")
		return
	}
	if t.KeyID == "" {
		p.fail("talkdesk.key_id", "required with talkdesk.private_key_file: the id Talkdesk shows for the public key you registered")
	}
	t.PrivateKeyFile = resolvePath(p, key, dir, t.PrivateKeyFile)
	// Cover the secret, so that its absence is not reported as well.
	p.cover("talkdesk.client_secret")
	if t.PrivateKeyFile == "" || c.noSecrets {
		return
	}
	data, err := fsutil.ReadLimited(t.PrivateKeyFile, maxKeyFileSize)
	if err != nil {
		p.failErr(key, err)
		return
	}
	k, msg := parsePrivateKey(data)
	if msg != "" {
		p.fail(key, "%s %s", t.PrivateKeyFile, msg)
		return
	}
	t.PrivateKey = k
	t.SecretOrigin = SecretFromKeyFile
}

// parsePrivateKey reads the first private key of a PEM file. Its message
// never quotes the file: what it holds is a secret.
func parsePrivateKey(data []byte) (*PrivateKey, string) {
	const fix = "write the key unencrypted in PEM (openssl pkey -in OLD -out NEW)"
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, "holds no PEM private key (-----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY): " + fix
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
			return nil, "holds an encrypted private key, which listdrop cannot unlock unattended: " + fix
		}
		var parsed any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			parsed, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			// Parameters, certificates or a public key may come first.
			continue
		}
		if err != nil {
			// x509's message says what is malformed, never the key's bytes.
			return nil, fmt.Sprintf("holds a %s block that cannot be read (%s): %s", block.Type, strings.TrimPrefix(err.Error(), "x509: "), fix)
		}
		switch k := parsed.(type) {
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() {
				return nil, fmt.Sprintf("holds an EC key on curve %s: Talkdesk's ES256 needs P-256 (openssl ecparam -name prime256v1 -genkey -noout)", k.Curve.Params().Name)
			}
			return &PrivateKey{signer: k, alg: "ES256"}, ""
		case *rsa.PrivateKey:
			if bits := k.N.BitLen(); bits < minRSABits {
				return nil, fmt.Sprintf("holds a %d-bit RSA key: use at least %d bits (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:%d)", bits, minRSABits, minRSABits)
			}
			return &PrivateKey{signer: k, alg: "RS256"}, ""
		default:
			return nil, fmt.Sprintf("holds a %T key: use an EC P-256 key (ES256) or an RSA key (RS256)", parsed)
		}
	}
}
