package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// An endpoint that other machines can reach is refused without a web
// configuration (TLS and a password), with a sentence saying how to
// enable them; loopback needs none.
func TestAdminListenOffLoopbackNeedsAWebConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		listen   string
		loopback bool
	}{
		{"127.0.0.1:9464", true},
		{"127.3.4.5:9464", true},
		{"localhost:9464", true},
		{"[::1]:9464", true},
		{"0.0.0.0:9464", false},
		{":9464", false},
		{"[::]:9464", false},
		{"192.0.2.10:9464", false},
		{"monitor.example.com:9464", false},
	} {
		t.Run(tt.listen, func(t *testing.T) {
			if got := (Admin{Listen: tt.listen}).Loopback(); got != tt.loopback {
				t.Fatalf("Loopback() = %v, want %v", got, tt.loopback)
			}
			yaml := talkdeskOK + foldersOK + "admin:\n  listen: " + quote(tt.listen) + "\n"
			cfg, err := Parse([]byte(yaml), t.TempDir())
			if tt.loopback {
				if err != nil {
					t.Fatalf("a loopback address is refused: %v", err)
				}
				if cfg.Admin.WebConfigFile != "" {
					t.Fatalf("web_config_file = %q", cfg.Admin.WebConfigFile)
				}
				return
			}
			if err == nil {
				t.Fatal("an address other machines can reach is accepted without TLS and authentication")
			}
			for _, want := range []string{"admin.listen: " + tt.listen + " can be reached from other machines", "set admin.web_config_file", "tls_server_config", "basic_auth_users"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q:\n%v", want, err)
				}
			}
			dir := t.TempDir()
			cfg = mustParse(t, yaml+"  web_config_file: web.yml\n", dir)
			if want := filepath.Join(dir, "web.yml"); cfg.Admin.WebConfigFile != want {
				t.Fatalf("web_config_file = %q, want %q (relative to the configuration's folder)", cfg.Admin.WebConfigFile, want)
			}
		})
	}
}

func TestAdminWebConfigWithoutAnEndpoint(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(talkdeskOK+foldersOK+"admin:\n  listen: ''\n  web_config_file: web.yml\n"), t.TempDir())
	if err == nil {
		t.Fatal("admin.web_config_file is accepted with the endpoint off")
	}
	checkLines(t, err, []string{"admin.web_config_file: is set while admin.listen is empty"})
}

func quote(s string) string { return "'" + s + "'" }

// A callback endpoint over plain http to another machine would carry its
// headers in clear: warned about, naming the key and not the URL's
// credentials.
func TestCallbackWarnings(t *testing.T) {
	t.Parallel()
	folder := func(endpoint, headers string) string {
		return "  - path: d" + endpoint[len(endpoint)-1:] + "\n    record_list_id: l\n    callback_action:\n      endpoint: " + endpoint + "\n      method: POST\n" + headers
	}
	cfg := mustParse(t, talkdeskOK+"folders:\n"+
		folder("https://hooks.example.com/a", "      headers: {x-api-key: k}\n")+
		folder("http://user:pw@hooks.example.com/b?key=secret", "      headers: {x-api-key: k}\n")+
		folder("http://127.0.0.1:8080/c", "      headers: {x-api-key: k}\n")+
		folder("HTTP://hooks.example.com/d", ""), t.TempDir())
	got := cfg.CallbackWarnings()
	if len(got) != 2 {
		t.Fatalf("warnings %q, want 2 (folders[1] and folders[3])", got)
	}
	if !strings.HasPrefix(got[0], "folders[1].callback_action.endpoint is plain http") || !strings.Contains(got[0], "headers (often an API key)") ||
		!strings.Contains(got[0], "use an https URL") {
		t.Errorf("warning 0: %q", got[0])
	}
	if !strings.HasPrefix(got[1], "folders[3].callback_action.endpoint is plain http") || strings.Contains(got[1], "headers") {
		t.Errorf("warning 1: %q", got[1])
	}
	for _, w := range got {
		if strings.Contains(w, "pw") || strings.Contains(w, "secret") {
			t.Errorf("the warning shows a credential of the URL: %q", w)
		}
	}
	if all := cfg.Warnings(); len(all) != 2 {
		t.Errorf("Warnings() = %q", all)
	}
}
