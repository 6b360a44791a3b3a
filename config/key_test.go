package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/internal/testutil"
)

var (
	ecKey  = testutil.ECKey
	rsaKey = testutil.RSAKey
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func pemText(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

const keyTalkdesk = "talkdesk:\n  region: us\n  account: acme\n  client_id: id-1\n"

func TestPrivateKeyFile(t *testing.T) {
	t.Parallel()
	p384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	small := must(rsa.GenerateKey(rand.Reader, 1024))
	_, edKey := must2(ed25519.GenerateKey(rand.Reader))
	tests := []struct {
		name, pem, alg, err string
	}{
		{"EC in PKCS#8", pemText("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ecKey()))), "ES256", ""},
		{"EC in SEC 1, after its parameters", pemText("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}) + pemText("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ecKey()))), "ES256", ""},
		{"RSA in PKCS#8", pemText("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(rsaKey()))), "RS256", ""},
		{"RSA in PKCS#1", pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey())), "RS256", ""},
		{"EC on P-384", pemText("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(p384))), "", "holds an EC key on curve P-384: Talkdesk's ES256 needs P-256"},
		{"RSA of 1024 bits", pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), "", "holds a 1024-bit RSA key: use at least 2048 bits"},
		{"Ed25519", pemText("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(edKey))), "", "holds a ed25519.PrivateKey key: use an EC P-256 key"},
		{"encrypted", pemText("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "", "holds an encrypted private key"},
		{"a public key only", pemText("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(&ecKey().PublicKey))), "", "holds no PEM private key"},
		{"not PEM", "MHcCAQEEIB...", "", "holds no PEM private key"},
		{"garbled", pemText("EC PRIVATE KEY", []byte{48, 3, 2, 1, 9}), "", "holds a EC PRIVATE KEY block that cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			keyPath := writeFile(t, dir, "key.pem", tt.pem)
			cfg, err := Parse([]byte(keyTalkdesk+"  private_key_file: key.pem\n  key_id: k-1\n"+foldersOK), dir)
			if tt.err != "" {
				if err == nil {
					t.Fatal("Parse accepted the key")
				}
				checkLines(t, err, []string{"talkdesk.private_key_file: " + keyPath + " " + tt.err})
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := cfg.Talkdesk.PrivateKey
			if k.Signer() == nil || k.Algorithm() != tt.alg || cfg.Talkdesk.KeyID != "k-1" || cfg.Talkdesk.SecretOrigin != SecretFromKeyFile {
				t.Fatalf("key %T, algorithm %q, key id %q, origin %v", k.Signer(), k.Algorithm(), cfg.Talkdesk.KeyID, cfg.Talkdesk.SecretOrigin)
			}
			// However the config is printed, the key is not.
			js, _ := json.Marshal(cfg)
			for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg.Talkdesk), fmt.Sprintf("%#v", cfg.Talkdesk), string(js)} {
				if !strings.Contains(out, "[redacted]") || strings.Contains(out, "BEGIN") {
					t.Fatalf("printed config without the key redacted: %s", out)
				}
				for _, n := range keyNumbers(k) {
					if strings.Contains(out, n) {
						t.Fatalf("printed config shows the key's private number: %s", out)
					}
				}
			}
		})
	}
}

func keyNumbers(k *PrivateKey) []string {
	switch s := k.Signer().(type) {
	case *ecdsa.PrivateKey:
		b, _ := s.Bytes()
		return []string{new(big.Int).SetBytes(b).String(), fmt.Sprintf("%x", b), fmt.Sprint(b)}
	case *rsa.PrivateKey:
		return []string{s.D.String(), s.Primes[0].String()}
	}
	return nil
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func TestCredentialKeysAreExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "key.pem", pemText("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ecKey()))))
	writeFile(t, dir, "secret", "s3cret\n")
	tests := []struct {
		name, lines string
		want        []string
	}{
		{"none of the three", "", []string{"talkdesk.client_secret: required (or set talkdesk.client_secret_file, or talkdesk.private_key_file with talkdesk.key_id)"}},
		{"key and secret", "  client_secret: s3cret\n  private_key_file: key.pem\n  key_id: k\n",
			[]string{"talkdesk.private_key_file: set only one of talkdesk.client_secret, talkdesk.client_secret_file and talkdesk.private_key_file"}},
		{"key and secret file", "  client_secret_file: secret\n  private_key_file: key.pem\n  key_id: k\n",
			[]string{"talkdesk.private_key_file: set only one of talkdesk.client_secret, talkdesk.client_secret_file and talkdesk.private_key_file"}},
		{"key without key id", "  private_key_file: key.pem\n", []string{"talkdesk.key_id: required with talkdesk.private_key_file"}},
		{"key id without key", "  client_secret: s3cret\n  key_id: k\n", []string{"talkdesk.key_id: only used with talkdesk.private_key_file"}},
		{"missing key file", "  private_key_file: nope.pem\n  key_id: k\n", []string{"talkdesk.private_key_file: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(keyTalkdesk+tt.lines+foldersOK), dir)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			checkLines(t, err, tt.want)
		})
	}
}

// The commands that never call Talkdesk do not read the key.
func TestLoadLocalDoesNotReadTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "listdrop.yaml", keyTalkdesk+"  private_key_file: missing.pem\n  key_id: k\n"+foldersOK)
	cfg, err := LoadLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Talkdesk.PrivateKey != nil {
		t.Fatal("LoadLocal read a key")
	}
}
