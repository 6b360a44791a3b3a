//go:build windows

package config

import (
	"os"
	"testing"
)

// Mode bits mean nothing on Windows: the check is left to NTFS ACLs.
func TestSecretWarningsAreLeftToACLsOnWindows(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "listdrop.yaml", talkdeskOK+foldersOK)
	os.Chmod(path, 0o644)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Talkdesk.SecretOrigin != SecretInConfig {
		t.Fatalf("SecretOrigin = %v", cfg.Talkdesk.SecretOrigin)
	}
	if w := cfg.SecretWarnings(); len(w) != 0 {
		t.Fatalf("warnings %q", w)
	}
}
