package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/internal/testutil"
)

// caPEM is a self-signed CA certificate, as a private CA's would be.
func caPEM(t *testing.T) string {
	t.Helper()
	cert, _ := testutil.CA(t)
	return string(cert)
}

func TestCAFile(t *testing.T) {
	t.Parallel()
	ca := caPEM(t)
	tests := []struct {
		name    string
		files   map[string]string // relative to the config's folder
		setting string
		want    string // want CAFile, relative to the config's folder
		err     string // want this error, which also names the file
	}{
		{name: "relative to the config's folder", files: map[string]string{"../tls/ca.pem": ca}, setting: "../tls/ca.pem", want: "../tls/ca.pem"},
		{name: "a bundle with text around", files: map[string]string{"ca.pem": "# our proxy\n" + ca + ca}, setting: "ca.pem", want: "ca.pem"},
		{name: "missing", setting: "nope.pem", err: "talkdesk.ca_file: "},
		{name: "not PEM", files: map[string]string{"ca.pem": "just text\n"}, setting: "ca.pem", err: "talkdesk.ca_file: "},
		{name: "empty", files: map[string]string{"ca.pem": ""}, setting: "ca.pem", err: "talkdesk.ca_file: "},
		{name: "a key, no certificate", files: map[string]string{"ca.pem": "-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n"}, setting: "ca.pem", err: "talkdesk.ca_file: "},
		{name: "a folder", files: map[string]string{"certs/x": ""}, setting: "certs", err: "talkdesk.ca_file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			confDir := filepath.Join(t.TempDir(), "conf")
			os.MkdirAll(confDir, 0o755)
			for name, content := range tt.files {
				writeFile(t, confDir, name, content)
			}
			cfg, err := Parse([]byte(talkdeskOK+"  ca_file: "+tt.setting+"\n"+foldersOK), confDir)
			if tt.err != "" {
				if err == nil {
					t.Fatal("Parse succeeded, want an error")
				}
				checkLines(t, err, []string{tt.err})
				if wantFile := filepath.Join(confDir, tt.setting); !strings.Contains(err.Error(), wantFile) {
					t.Errorf("error %q does not name the file %s", err, wantFile)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(confDir, tt.want); cfg.Talkdesk.CAFile != want {
				t.Errorf("ca_file = %q, want %q", cfg.Talkdesk.CAFile, want)
			}
		})
	}
	t.Run("left out", func(t *testing.T) {
		if cfg := mustParse(t, talkdeskOK+foldersOK, t.TempDir()); cfg.Talkdesk.CAFile != "" {
			t.Errorf("ca_file = %q", cfg.Talkdesk.CAFile)
		}
	})
}

func TestSecretOrigin(t *testing.T) {
	t.Setenv("LISTDROP_TEST_A", "part-a")
	t.Setenv("LISTDROP_TEST_B", "part-b")
	dir := t.TempDir()
	writeFile(t, dir, "secret", "from-a-file\n")
	tests := []struct {
		name, talkdesk string
		want           SecretOrigin
	}{
		{"literal", "client_secret: s3cret", SecretInConfig},
		{"literal with a $", "client_secret: 'pa$$word'", SecretInConfig},
		{"one variable", "client_secret: ${LISTDROP_TEST_A}", SecretFromEnv},
		{"two variables", "client_secret: ${LISTDROP_TEST_A}${LISTDROP_TEST_B}", SecretFromEnv},
		{"a variable and text", "client_secret: x${LISTDROP_TEST_A}", SecretInConfig},
		{"an escaped reference", "client_secret: $${LISTDROP_TEST_A}", SecretInConfig},
		{"a file", "client_secret_file: secret", SecretFromFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  "+tt.talkdesk+"\n"+foldersOK, dir)
			if cfg.Talkdesk.SecretOrigin != tt.want {
				t.Fatalf("SecretOrigin = %v, want %v", cfg.Talkdesk.SecretOrigin, tt.want)
			}
		})
	}
}
