package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

const opsBase = `talkdesk: {region: us, account: acme, client_id: a, client_secret: b}
folders:
  - {path: x, record_list_id: L}
`

func TestOperationsKeys(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]byte(opsBase), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Verify || cfg.VerifyTimeout != 10*time.Minute || !cfg.CSVCheck ||
		cfg.State.Retention != 180*24*time.Hour || cfg.Admin.Listen != "127.0.0.1:9464" || !cfg.Folders[0].CheckCSV() {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = Parse([]byte(opsBase+"admin: {listen: \"\"}\nstate: {retention: 7d}\n"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.Listen != "" || cfg.State.Retention != 7*24*time.Hour {
		t.Fatalf("empty listen disables, 7d is a week: %+v %v", cfg.Admin, cfg.State.Retention)
	}
	bad := []struct{ yaml, want string }{
		{"verify_timeout: 0s\n", "verify_timeout: must be greater than 0"},
		{"state: {retention: 12h}\n", "state.retention: must be at least 1d"},
		{"state: {retention: 3x}\n", "state.retention: invalid duration"},
		{"admin: {listen: localhost}\n", "admin.listen: must be host:port"},
		{"csv_check: maybe\n", "csv_check"},
	}
	for _, b := range bad {
		t.Run(b.want, func(t *testing.T) {
			_, err := Parse([]byte(opsBase+b.yaml), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("error %v, want %q", err, b.want)
			}
		})
	}
}

func TestLoadLocalNeedsNoSecrets(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/listdrop.yaml"
	yaml := `talkdesk: {region: us, account: acme, client_id: a, client_secret: "${LISTDROP_UNSET_FOR_TEST}"}
folders:
  - path: x
    record_list_id: L
    callback_action: {endpoint: "https://h.example.com/x", method: POST, headers: {x-api-key: "${LISTDROP_UNSET_HOOK}"}}
  - {path: y, record_list_id: "${LISTDROP_UNSET_LIST}"}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "LISTDROP_UNSET_FOR_TEST is not set") {
		t.Fatalf("Load without the secret: %v", err)
	}
	_, err := LoadLocal(path)
	// Only credentials may be missing: the list id is not one.
	if err == nil || !strings.Contains(err.Error(), "LISTDROP_UNSET_LIST") || strings.Contains(err.Error(), "LISTDROP_UNSET_FOR_TEST") || strings.Contains(err.Error(), "LISTDROP_UNSET_HOOK") {
		t.Fatalf("LoadLocal: %v", err)
	}
	t.Setenv("LISTDROP_UNSET_LIST", "L2")
	cfg, err := LoadLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Talkdesk.ClientSecret != "" || len(cfg.Folders) != 2 || cfg.Folders[1].RecordListID != "L2" {
		t.Fatalf("LoadLocal = %+v", cfg)
	}
	// A secret file nobody may read is no obstacle either.
	os.WriteFile(path, []byte("talkdesk: {region: us, account: acme, client_id: a, client_secret_file: /nonexistent/secret}\nfolders:\n  - {path: x, record_list_id: L}\n"), 0o600)
	if _, err := LoadLocal(path); err != nil {
		t.Fatalf("LoadLocal with an unreadable secret file: %v", err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("Load accepted an unreadable secret file")
	}
}
