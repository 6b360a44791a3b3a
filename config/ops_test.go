package config

import (
	"strings"
	"testing"
	"time"
)

const opsBase = `talkdesk: {region: us, account: acme, client_id: a, client_secret: b}
folders:
  - {path: x, record_list_id: L}
`

func TestOperationsKeys(t *testing.T) {
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
