package packaging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/config"
)

// The Windows installer's example configuration loads once its secret file
// is in place, with a rotated log file beside it.
func TestWindowsExampleConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("windows", "listdrop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "listdrop.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "talkdesk.client_secret_file") {
		t.Fatalf("without its secret file: %v, want a talkdesk.client_secret_file error", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client_secret.txt"), []byte("example-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Talkdesk.ClientSecret != "example-secret" || len(cfg.Folders) != 2 {
		t.Errorf("secret %t, %d folders", cfg.Talkdesk.ClientSecret == "example-secret", len(cfg.Folders))
	}
	if !strings.HasSuffix(cfg.Log.File, "listdrop.log") || cfg.Log.MaxSizeMB != 10 || cfg.Log.MaxFiles != 5 {
		t.Errorf("log = %+v", cfg.Log)
	}
}
