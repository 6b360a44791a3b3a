//go:build !windows

package config

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests run as root, which can read any file: the check is about the
// mode, which says who else can.
func TestSecretWarnings(t *testing.T) {
	const secret = "Lit3ral-secret-value"
	t.Setenv("LISTDROP_TEST_SECRET", secret)
	tests := []struct {
		name       string
		talkdesk   string // the line after client_id
		configMode os.FileMode
		secretMode os.FileMode
		warnFile   string // "config", "secret" or "" for no warning
	}{
		{"literal, 0644", "client_secret: " + secret, 0o644, 0o600, "config"},
		{"literal, 0640", "client_secret: " + secret, 0o640, 0o600, "config"},
		{"literal, 0604", "client_secret: " + secret, 0o604, 0o600, "config"},
		{"literal, 0600", "client_secret: " + secret, 0o600, 0o600, ""},
		{"literal, 0400", "client_secret: " + secret, 0o400, 0o600, ""},
		{"from the environment, 0644", "client_secret: ${LISTDROP_TEST_SECRET}", 0o644, 0o600, ""},
		{"secret file 0644", "client_secret_file: secret.txt", 0o644, 0o644, "secret"},
		{"secret file 0600", "client_secret_file: secret.txt", 0o644, 0o600, ""},
		{"key file 0644", "private_key_file: key.pem\n  key_id: k", 0o644, 0o644, "key"},
		{"key file 0640", "private_key_file: key.pem\n  key_id: k", 0o644, 0o640, "key"},
		{"key file 0600", "private_key_file: key.pem\n  key_id: k", 0o644, 0o600, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			secretPath := writeFile(t, dir, "secret.txt", secret+"\n")
			if strings.Contains(tt.talkdesk, "key.pem") {
				secretPath = writeFile(t, dir, "key.pem", pemText("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ecKey()))))
			}
			path := writeFile(t, dir, "listdrop.yaml", "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  "+tt.talkdesk+"\n"+foldersOK)
			if err := os.Chmod(path, tt.configMode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(secretPath, tt.secretMode); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.SecretWarnings()
			if tt.warnFile == "" {
				if len(got) != 0 {
					t.Fatalf("warnings %q, want none", got)
				}
				return
			}
			want := map[string]string{"config": path, "secret": filepath.Join(dir, "secret.txt"), "key": filepath.Join(dir, "key.pem")}[tt.warnFile]
			if len(got) != 1 || !strings.HasPrefix(got[0], want+" ") || !strings.Contains(got[0], "chmod 600 "+want) {
				t.Fatalf("warnings %q, want one naming %s", got, want)
			}
			if tt.warnFile == "key" && !strings.Contains(got[0], "holds the private key (talkdesk.private_key_file)") {
				t.Fatalf("warning %q does not say it is about the private key", got[0])
			}
			if strings.Contains(got[0], secret) {
				t.Fatal("the warning shows the secret")
			}
		})
	}
}

// Parse has no file: nothing to check.
func TestSecretWarningsWithoutAFile(t *testing.T) {
	t.Parallel()
	if w := mustParse(t, talkdeskOK+foldersOK, t.TempDir()).SecretWarnings(); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
}
