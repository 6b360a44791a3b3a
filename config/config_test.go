package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/internal/testutil"
)

// Building blocks for inline configs: a valid talkdesk block and a valid
// folders block. Paths are relative so that they resolve inside t.TempDir().
const (
	talkdeskOK = `talkdesk:
  region: us
  account: acme
  client_id: id-1
  client_secret: s3cret
`
	foldersOK = `folders:
  - path: in
    record_list_id: list-1
`
)

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	return testutil.WriteFile(t, filepath.Join(dir, name), []byte(content))
}

// unsetEnv unsets name for the test and restores it afterwards.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for name, value := range env {
		if value == "<unset>" {
			unsetEnv(t, name)
		} else {
			t.Setenv(name, value)
		}
	}
}

func mustParse(t *testing.T, data, dir string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(data), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func ptr[T any](v T) *T { return &v }

func TestLoadFullConfig(t *testing.T) {
	t.Setenv("LISTDROP_TEST_SECRET", "s3cr3t: #{not yaml}")
	t.Setenv("LISTDROP_TEST_HOOK", "hook-key")
	dir := t.TempDir()
	path := writeFile(t, dir, "etc/listdrop.yaml", `
talkdesk:
  region: eu
  account: acme
  client_id: "abc123"
  client_secret: "${LISTDROP_TEST_SECRET}"
  timeout: 10s
state_file: state/state.db
settle: 500ms
empty_grace: 90s
rescan: 1m
workers: 8
retry:
  max_backoff: 2m
  give_up_after: 12h
log:
  level: DEBUG
  format: json
  file: logs/listdrop.log
  max_size_mb: 20
  max_files: 3
verify: false
verify_timeout: 2m
csv_check: false
split_max_size: 5 MiB
state:
  retention: 30d
admin:
  listen: "127.0.0.1:9999"
folders:
  - path: vip
    record_list_id: "6c0c0a3a-2b7e-4a57-9a61-5e1b8f4bd0a1"
    csv_check: true
    required_columns: [first_name, " Mobile_Phone "]
    convert: true
    xlsx: true
    sheet: Contacts
    split: true
    split_max_size: 2MB
    done: out/vip-done
    failed: ./out/../out/vip-failed
    send_atlas_notification: true
    callback_action:
      endpoint: https://hooks.example.com/listdrop
      method: post
      headers: { x-api-key: "${LISTDROP_TEST_HOOK}" }
      body: { source: listdrop, n: 3, ok: false, tags: [a, b], nested: { k: "${LISTDROP_TEST_HOOK}" } }
  - path: leads
    record_list_id: list-2
    send_atlas_notification: false
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	want := &Config{
		Talkdesk: Talkdesk{
			Region:       "eu",
			Account:      "acme",
			ClientID:     "abc123",
			ClientSecret: "s3cr3t: #{not yaml}",
			APIURL:       "https://api.talkdeskapp.eu",
			TokenURL:     "https://acme.talkdeskid.eu/oauth/token",
			Timeout:      10 * time.Second,
			SecretOrigin: SecretFromEnv,
		},
		StateFile:     filepath.Join(etc, "state", "state.db"),
		Settle:        500 * time.Millisecond,
		EmptyGrace:    90 * time.Second,
		Rescan:        time.Minute,
		Workers:       8,
		Retry:         Retry{MaxBackoff: 2 * time.Minute, GiveUpAfter: 12 * time.Hour},
		Log:           Log{Level: "debug", Format: "json", File: filepath.Join(etc, "logs", "listdrop.log"), MaxSizeMB: 20, MaxFiles: 3},
		Verify:        false,
		VerifyTimeout: 2 * time.Minute,
		CSVCheck:      false,
		SplitMaxSize:  5 << 20,
		State:         State{Retention: 30 * 24 * time.Hour},
		Admin:         Admin{Listen: "127.0.0.1:9999"},
		Folders: []Folder{
			{
				Path:                  filepath.Join(etc, "vip"),
				RecordListID:          "6c0c0a3a-2b7e-4a57-9a61-5e1b8f4bd0a1",
				Done:                  filepath.Join(etc, "out", "vip-done"),
				Failed:                filepath.Join(etc, "out", "vip-failed"),
				SendAtlasNotification: ptr(true),
				CSVCheck:              ptr(true),
				RequiredColumns:       []string{"first_name", " Mobile_Phone "},
				Convert:               true,
				XLSX:                  true,
				Sheet:                 "Contacts",
				Split:                 ptr(true),
				SplitMaxSize:          2 * MB,
				CallbackAction: &CallbackAction{
					Endpoint: "https://hooks.example.com/listdrop",
					Method:   "POST",
					Headers:  map[string]string{"x-api-key": "hook-key"},
					Body: map[string]any{
						"source": "listdrop",
						"n":      3,
						"ok":     false,
						"tags":   []any{"a", "b"},
						"nested": map[string]any{"k": "hook-key"},
					},
				},
			},
			{
				Path:                  filepath.Join(etc, "leads"),
				RecordListID:          "list-2",
				Done:                  filepath.Join(etc, "leads", "done"),
				Failed:                filepath.Join(etc, "leads", "failed"),
				SendAtlasNotification: ptr(false),
				CSVCheck:              ptr(false), // from the top-level csv_check
				Split:                 ptr(false),
				SplitMaxSize:          5 << 20,
			},
		},
		Path: path,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load:\n got %#v\nwant %#v", *cfg, *want)
		for i := range min(len(cfg.Folders), len(want.Folders)) {
			if !reflect.DeepEqual(cfg.Folders[i], want.Folders[i]) {
				t.Errorf("folders[%d]:\n got %#v\nwant %#v", i, cfg.Folders[i], want.Folders[i])
			}
		}
	}
	if got := cfg.SlogLevel(); got != slog.LevelDebug {
		t.Errorf("SlogLevel = %v, want debug", got)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := mustParse(t, talkdeskOK+foldersOK, dir)
	checks := []struct {
		name      string
		got, want any
	}{
		{"talkdesk.timeout", cfg.Talkdesk.Timeout, 30 * time.Second},
		{"settle", cfg.Settle, 2 * time.Second},
		{"rescan", cfg.Rescan, 30 * time.Second},
		{"workers", cfg.Workers, 4},
		{"retry.max_backoff", cfg.Retry.MaxBackoff, 5 * time.Minute},
		{"retry.give_up_after", cfg.Retry.GiveUpAfter, 24 * time.Hour},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "text"},
		{"log.file", cfg.Log.File, ""},
		{"log.max_size_mb", cfg.Log.MaxSizeMB, 10},
		{"log.max_files", cfg.Log.MaxFiles, 5},
		{"state_file", cfg.StateFile, DefaultStateFile()},
		{"folders[0].path", cfg.Folders[0].Path, filepath.Join(dir, "in")},
		{"folders[0].done", cfg.Folders[0].Done, filepath.Join(dir, "in", "done")},
		{"folders[0].failed", cfg.Folders[0].Failed, filepath.Join(dir, "in", "failed")},
		{"folders[0].send_atlas_notification", cfg.Folders[0].SendAtlasNotification == nil, true},
		{"folders[0].callback_action", cfg.Folders[0].CallbackAction == nil, true},
		{"talkdesk.api_url", cfg.Talkdesk.APIURL, "https://api.talkdeskapp.com"},
		{"talkdesk.token_url", cfg.Talkdesk.TokenURL, "https://acme.talkdeskid.com/oauth/token"},
		{"path", cfg.Path, ""},
		{"SlogLevel", cfg.SlogLevel(), slog.LevelInfo},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Keys given with no value (null) keep their defaults; an explicit zero
// does not.
func TestNullKeepsDefault(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, talkdeskOK+foldersOK+"workers:\nsettle: ~\nlog:\n  level:\n", t.TempDir())
	if cfg.Workers != 4 || cfg.Settle != 2*time.Second || cfg.Log.Level != "info" {
		t.Errorf("workers %d, settle %v, level %q: want the defaults", cfg.Workers, cfg.Settle, cfg.Log.Level)
	}
	cfg = mustParse(t, talkdeskOK+foldersOK+"settle: 0s\n", t.TempDir())
	if cfg.Settle != 0 {
		t.Errorf("settle: 0s gave %v, want 0", cfg.Settle)
	}
	// A null item in a list is kept, empty, so that the others keep their
	// positions.
	cfg = mustParse(t, talkdeskOK+foldersOK+"    required_columns: [a, ~, b]\n", t.TempDir())
	if got, want := cfg.Folders[0].RequiredColumns, []string{"a", "", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("required_columns = %q, want %q", got, want)
	}
}

func TestRegionURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		talkdesk string
		api      string
		token    string
	}{
		{"us", "region: us\n  account: acme", "https://api.talkdeskapp.com", "https://acme.talkdeskid.com/oauth/token"},
		{"eu", "region: eu\n  account: acme", "https://api.talkdeskapp.eu", "https://acme.talkdeskid.eu/oauth/token"},
		{"ca", "region: ca\n  account: acme", "https://api.talkdeskappca.com", "https://acme.talkdeskidca.com/oauth/token"},
		{"region and account in upper case", "region: CA\n  account: AcMe", "https://api.talkdeskappca.com", "https://acme.talkdeskidca.com/oauth/token"},
		{"au with api_url", "region: au\n  account: acme\n  api_url: https://api.example.au", "https://api.example.au", "https://acme.talkdeskid.au/oauth/token"},
		{"api_url overrides region, trailing slash trimmed", "region: eu\n  account: acme\n  api_url: https://proxy.example.com/talkdesk/", "https://proxy.example.com/talkdesk", "https://acme.talkdeskid.eu/oauth/token"},
		{"token_url overrides region and account", "region: eu\n  token_url: https://id.example.com/oauth/token", "https://api.talkdeskapp.eu", "https://id.example.com/oauth/token"},
		{"both URLs without region or account", "api_url: https://api.example.com\n  token_url: https://id.example.com/token", "https://api.example.com", "https://id.example.com/token"},
		{"both URLs override region", "region: us\n  account: acme\n  api_url: https://a.example.com\n  token_url: https://t.example.com/t", "https://a.example.com", "https://t.example.com/t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "talkdesk:\n  " + tt.talkdesk + "\n  client_id: id\n  client_secret: s\n" + foldersOK
			cfg := mustParse(t, data, t.TempDir())
			if cfg.Talkdesk.APIURL != tt.api {
				t.Errorf("api_url = %q, want %q", cfg.Talkdesk.APIURL, tt.api)
			}
			if cfg.Talkdesk.TokenURL != tt.token {
				t.Errorf("token_url = %q, want %q", cfg.Talkdesk.TokenURL, tt.token)
			}
		})
	}
}

// errorCase is a config that must fail. Each want is the start of one line
// of the error, and the error must have exactly len(want) lines: no
// problem missed, none reported twice.
type errorCase struct {
	name string
	env  map[string]string // "<unset>" unsets
	yaml string
	want []string
}

var errorCases = []errorCase{
	// Required keys.
	{name: "no folders key", yaml: talkdeskOK,
		want: []string{"folders: required (list at least one folder)"}},
	{name: "empty folders list", yaml: talkdeskOK + "folders: []\n",
		want: []string{"folders: required"}},
	{name: "folder path missing", yaml: talkdeskOK + "folders:\n  - record_list_id: l\n",
		want: []string{"folders[0].path: required"}},
	{name: "record_list_id missing in second folder", yaml: talkdeskOK + foldersOK + "  - path: b\n",
		want: []string{"folders[1].record_list_id: required"}},
	{name: "empty folder entry", yaml: talkdeskOK + "folders:\n  -\n",
		want: []string{"folders[0].path: required", "folders[0].record_list_id: required"}},
	{name: "client_id missing", yaml: "talkdesk:\n  region: us\n  account: acme\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.client_id: required"}},
	{name: "neither client_secret nor client_secret_file", yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n" + foldersOK,
		want: []string{"talkdesk.client_secret: required (or set talkdesk.client_secret_file, or talkdesk.private_key_file with talkdesk.key_id)"}},
	{name: "both client_secret and client_secret_file", yaml: talkdeskOK + "  client_secret_file: secret.txt\n" + foldersOK,
		want: []string{"talkdesk.client_secret_file: set either talkdesk.client_secret or talkdesk.client_secret_file, not both"}},
	{name: "secret from an empty variable", env: map[string]string{"LISTDROP_TEST_EMPTY": ""},
		yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: ${LISTDROP_TEST_EMPTY}\n" + foldersOK,
		want: []string{"talkdesk.client_secret: required"}},
	{name: "client_id from an empty variable", env: map[string]string{"LISTDROP_TEST_EMPTY": ""},
		yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: \"${LISTDROP_TEST_EMPTY}\"\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.client_id: required"}},
	{name: "talkdesk missing", yaml: foldersOK,
		want: []string{"talkdesk.region: required", "talkdesk.client_id: required", "talkdesk.client_secret: required"}},
	{name: "region missing", yaml: "talkdesk:\n  account: acme\n  client_id: id\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.region: required (us, eu, ca or au) unless both talkdesk.api_url and talkdesk.token_url are set"}},
	{name: "region missing with only api_url", yaml: "talkdesk:\n  api_url: https://api.example.com\n  client_id: id\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.region: required"}},
	{name: "account missing", yaml: "talkdesk:\n  region: eu\n  client_id: id\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.account: required to build the token URL for region eu (or set talkdesk.token_url)"}},
	{name: "unknown region", yaml: "talkdesk:\n  region: mars\n  account: acme\n  client_id: id\n  client_secret: s\n" + foldersOK,
		want: []string{`talkdesk.region: unknown region "mars": want us, eu, ca or au`}},
	{name: "au needs api_url", yaml: "talkdesk:\n  region: au\n  account: acme\n  client_id: id\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.api_url: required for region au: its API host is not confirmed"}},
	{name: "account is not a host label", yaml: "talkdesk:\n  region: us\n  account: acme.evil.example\n  client_id: id\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.account: must be a single host name label"}},

	// Unknown keys, at every level.
	{name: "unknown top-level key", yaml: talkdeskOK + foldersOK + "workerz: 3\n",
		want: []string{"workerz: unknown key (did you mean workers?)"}},
	{name: "Path is not a key", yaml: talkdeskOK + foldersOK + "path: /etc/x.yaml\n",
		want: []string{"path: unknown key"}},
	{name: "unknown key in talkdesk", yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: s\n  client_secert: t\n" + foldersOK,
		want: []string{"talkdesk.client_secert: unknown key (did you mean client_secret?)"}},
	{name: "misspelt key in folders[1]", yaml: talkdeskOK + foldersOK + "  - path: b\n    recrod_list_id: l2\n",
		want: []string{"folders[1].recrod_list_id: unknown key (did you mean record_list_id?)", "folders[1].record_list_id: required"}},
	{name: "unknown key in callback_action", yaml: talkdeskOK + foldersOK + "    callback_action:\n      url: https://h.example.com\n      method: POST\n",
		want: []string{"folders[0].callback_action.url: unknown key", "folders[0].callback_action.endpoint: required"}},
	{name: "unknown keys in retry and log", yaml: talkdeskOK + foldersOK + "retry:\n  backoff: 1m\nlog:\n  Level: debug\n",
		want: []string{"retry.backoff: unknown key (did you mean max_backoff?)", "log.Level: unknown key (did you mean level?)"}},
	{name: "duplicate key", yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: a\n  client_id: b\n  client_secret: s\n" + foldersOK,
		want: []string{"talkdesk.client_id: duplicate key"}},

	// Variables.
	{name: "unset variable", env: map[string]string{"LISTDROP_TEST_UNSET": "<unset>"},
		yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: ${LISTDROP_TEST_UNSET}\n" + foldersOK,
		want: []string{"talkdesk.client_secret: environment variable LISTDROP_TEST_UNSET is not set"}},
	{name: "unset variable in a header", env: map[string]string{"LISTDROP_TEST_UNSET": "<unset>"},
		yaml: talkdeskOK + foldersOK + "    callback_action:\n      endpoint: https://h.example.com\n      method: POST\n      headers: {x-key: \"${LISTDROP_TEST_UNSET}\"}\n",
		want: []string{"folders[0].callback_action.headers.x-key: environment variable LISTDROP_TEST_UNSET is not set"}},
	{name: "unterminated variable", yaml: talkdeskOK + "state_file: ${HOME\n" + foldersOK,
		want: []string{`state_file: "${" without a closing "}"`}},
	{name: "bad variable name", yaml: talkdeskOK + "state_file: ${1X}\n" + foldersOK,
		want: []string{`state_file: "${...}" must hold an environment variable name`}},

	// Durations and numbers.
	{name: "duration with words", yaml: talkdeskOK + foldersOK + "settle: 2 seconds\n",
		want: []string{`settle: invalid duration "2 seconds"`}},
	{name: "duration without unit", yaml: talkdeskOK + foldersOK + "rescan: 30\n",
		want: []string{`rescan: invalid duration "30"`}},
	{name: "duration as a list", yaml: talkdeskOK + foldersOK + "rescan: [1s]\n",
		want: []string{"rescan: must be a duration, not a list"}},
	{name: "zero rescan", yaml: talkdeskOK + foldersOK + "rescan: 0s\n",
		want: []string{"rescan: must be greater than 0"}},
	{name: "negative settle", yaml: talkdeskOK + foldersOK + "settle: -1s\n",
		want: []string{"settle: must not be negative"}},
	{name: "zero timeout", yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: s\n  timeout: 0s\n" + foldersOK,
		want: []string{"talkdesk.timeout: must be greater than 0"}},
	{name: "zero max_backoff, negative give_up_after", yaml: talkdeskOK + foldersOK + "retry:\n  max_backoff: 0s\n  give_up_after: -1h\n",
		want: []string{"retry.max_backoff: must be greater than 0", "retry.give_up_after: must be greater than 0"}},
	{name: "size in words", yaml: talkdeskOK + foldersOK + "split_max_size: ten megabytes\n",
		want: []string{`split_max_size: invalid size "ten megabytes"`}},
	{name: "split_max_size below one upload", yaml: talkdeskOK + foldersOK + "split_max_size: 20000\n",
		want: []string{"split_max_size: must be more than 20000 bytes (Talkdesk's limit for one upload): smaller files are never split"}},
	{name: "folder's split_max_size over the bound", yaml: talkdeskOK + foldersOK + "    split_max_size: 2GB\n",
		want: []string{"folders[0].split_max_size: must be at most 1GB: a file to split is held in memory while it is imported"}},
	{name: "zero workers", yaml: talkdeskOK + foldersOK + "workers: 0\n",
		want: []string{"workers: must be between 1 and 64"}},
	{name: "too many workers", yaml: talkdeskOK + foldersOK + "workers: 65\n",
		want: []string{"workers: must be between 1 and 64"}},
	{name: "workers not a number", yaml: talkdeskOK + foldersOK + "workers: four\n",
		want: []string{`workers: must be a whole number, not "four"`}},
	{name: "workers a fraction", yaml: talkdeskOK + foldersOK + "workers: 4.5\n",
		want: []string{`workers: must be a whole number, not "4.5"`}},
	{name: "bool not true or false", yaml: talkdeskOK + foldersOK + "    send_atlas_notification: yes\n",
		want: []string{`folders[0].send_atlas_notification: must be true or false, not "yes"`}},

	// Log.
	{name: "bad log level", yaml: talkdeskOK + foldersOK + "log:\n  level: verbose\n",
		want: []string{"log.level: must be one of debug, info, warn or error"}},
	{name: "bad log format", yaml: talkdeskOK + foldersOK + "log:\n  format: xml\n",
		want: []string{"log.format: must be text or json"}},

	// Folders.
	{name: "duplicate folders", yaml: talkdeskOK + foldersOK + "  - path: ./in/\n    record_list_id: list-2\n",
		want: []string{"folders[1].path: same folder as folders[0].path"}},
	{name: "done is the folder", yaml: talkdeskOK + foldersOK + "    done: in\n",
		want: []string{"folders[0].done: must not be the watched folder itself"}},
	{name: "failed is the folder", yaml: talkdeskOK + foldersOK + "    failed: ./in\n",
		want: []string{"folders[0].failed: must not be the watched folder itself"}},
	{name: "done and failed are the same", yaml: talkdeskOK + foldersOK + "    done: out\n    failed: out\n",
		want: []string{"folders[0].failed: must not be the same folder as done"}},
	{name: "folder is another folder's done", yaml: talkdeskOK + foldersOK + "    done: out\n  - path: out\n    record_list_id: list-2\n",
		want: []string{"folders[1].path: same folder as folders[0].done"}},
	{name: "record_list_id with a slash", yaml: talkdeskOK + "folders:\n  - path: in\n    record_list_id: a/b\n",
		want: []string{"folders[0].record_list_id: must hold only letters"}},
	{name: "record_list_id is ..", yaml: talkdeskOK + "folders:\n  - path: in\n    record_list_id: ..\n",
		want: []string{"folders[0].record_list_id: must hold only letters"}},
	{name: "path starting with ~", yaml: talkdeskOK + "folders:\n  - path: ~/drop\n    record_list_id: l\n",
		want: []string{`folders[0].path: "~" is not expanded`}},

	// Callback action.
	{name: "callback without endpoint and method", yaml: talkdeskOK + foldersOK + "    callback_action: {}\n",
		want: []string{"folders[0].callback_action.endpoint: required", "folders[0].callback_action.method: required"}},
	{name: "callback with a bad method", yaml: talkdeskOK + foldersOK + "    callback_action: {endpoint: https://h.example.com, method: FETCH}\n",
		want: []string{"folders[0].callback_action.method: must be one of GET, POST, PUT, PATCH or DELETE"}},
	{name: "callback with a relative endpoint", yaml: talkdeskOK + foldersOK + "    callback_action: {endpoint: /hook, method: POST}\n",
		want: []string{"folders[0].callback_action.endpoint: must be an absolute http or https URL"}},
	{name: "callback with an ftp endpoint", yaml: talkdeskOK + foldersOK + "    callback_action: {endpoint: ftp://h.example.com/x, method: POST}\n",
		want: []string{"folders[0].callback_action.endpoint: must be an absolute http or https URL"}},
	{name: "callback with a bad header name", yaml: talkdeskOK + foldersOK + "    callback_action: {endpoint: https://h.example.com, method: POST, headers: {\"x key\": v}}\n",
		want: []string{`folders[0].callback_action.headers: "x key" is not a valid HTTP header name`}},
	{name: "callback body not a mapping", yaml: talkdeskOK + foldersOK + "    callback_action: {endpoint: https://h.example.com, method: POST, body: [1]}\n",
		want: []string{"folders[0].callback_action.body: must be a mapping, not a list"}},

	// URLs.
	{name: "http api_url to a remote host", yaml: talkdeskOK + "  api_url: http://api.example.com\n" + foldersOK,
		want: []string{"talkdesk.api_url: must use https: plain http is allowed only for a loopback host"}},
	{name: "http token_url to a remote host", yaml: talkdeskOK + "  token_url: http://10.0.0.1/oauth/token\n" + foldersOK,
		want: []string{"talkdesk.token_url: must use https: plain http is allowed only for a loopback host"}},
	{name: "ftp api_url", yaml: talkdeskOK + "  api_url: ftp://127.0.0.1/\n" + foldersOK,
		want: []string{"talkdesk.api_url: must use https"}},
	{name: "relative api_url", yaml: talkdeskOK + "  api_url: api.example.com\n" + foldersOK,
		want: []string{"talkdesk.api_url: must be an absolute https URL"}},
	{name: "api_url with a query", yaml: talkdeskOK + "  api_url: https://api.example.com/?x=1\n" + foldersOK,
		want: []string{"talkdesk.api_url: must not have a query or a fragment"}},

	// Shape of the document.
	{name: "empty document", yaml: "",
		want: []string{"config is empty"}},
	{name: "only a comment", yaml: "# nothing yet\n",
		want: []string{"config is empty"}},
	{name: "two documents", yaml: talkdeskOK + foldersOK + "---\nworkers: 2\n",
		want: []string{"config holds more than one YAML document"}},
	{name: "YAML syntax error", yaml: "talkdesk:\n  region: [us\n",
		want: []string{"yaml: line"}},
	{name: "top level is a list", yaml: "- a\n- b\n",
		want: []string{"the top level must be a mapping of keys to values, not a list"}},
	{name: "folders is a mapping", yaml: talkdeskOK + "folders:\n  path: in\n",
		want: []string{"folders: must be a list, not a mapping"}},
	{name: "a folder of the wrong kind keeps the positions", yaml: talkdeskOK + "folders:\n  - [x]\n  - path: b\n",
		want: []string{"folders[0]: must be a mapping of keys to values, not a list", "folders[1].record_list_id: required"}},
	{name: "talkdesk is a string", yaml: "talkdesk: acme\n" + foldersOK,
		want: []string{"talkdesk: must be a mapping of keys to values, not a single value"}},
	{name: "bad merge key", yaml: talkdeskOK + "folders:\n  - <<: 5\n    path: in\n    record_list_id: l\n",
		want: []string{"folders[0].<<: must be a mapping or a list of mappings"}},
	{name: "aliases that expand too far", yaml: talkdeskOK + foldersOK + `    callback_action:
      endpoint: https://h.example.com
      method: POST
      body:
        l0: &l0 [x, x, x, x, x, x, x, x, x, x]
        l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
        l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
        l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
        l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
        l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
        l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
`,
		want: []string{"config has too many values"}},
	{name: "anchor holding an alias to itself", yaml: talkdeskOK + foldersOK + "    callback_action:\n      endpoint: https://h.example.com\n      method: POST\n      body: {a: &l1 [x, *l1, *l1]}\n",
		want: []string{"folders[0].callback_action.body.a[1]: alias *l1 is inside its own anchor &l1"}},
	{name: "mapping merging itself", yaml: "talkdesk: &t {region: us, account: acme, client_id: id, client_secret: s, <<: *t}\n" + foldersOK,
		want: []string{"talkdesk: alias *t is inside its own anchor &t"}},
	{name: "folder holding itself", yaml: talkdeskOK + "folders:\n  - &f {path: a, record_list_id: b, callback_action: *f}\n",
		want: []string{"folders[0].callback_action: alias *f is inside its own anchor &f"}},
	{name: "folders list holding itself", yaml: talkdeskOK + "folders: &f [*f]\n",
		want: []string{"folders[0]: alias *f is inside its own anchor &f"}},
	{name: "nested too deep", yaml: talkdeskOK + foldersOK + "    callback_action:\n      endpoint: https://h.example.com\n      method: POST\n      body: {a: " + strings.Repeat("[", 70) + strings.Repeat("]", 70) + "}\n",
		want: []string{"folders[0].callback_action.body.a" + strings.Repeat("[0]", 59) + ": nested more than 64 levels deep"}},

	// The log file and its rotation.
	{name: "log file size zero", yaml: talkdeskOK + foldersOK + "log:\n  max_size_mb: 0\n",
		want: []string{"log.max_size_mb: must be between 1 and 10000"}},
	{name: "log file size not a number", yaml: talkdeskOK + foldersOK + "log:\n  max_size_mb: 10MB\n",
		want: []string{`log.max_size_mb: must be a whole number, not "10MB"`}},
	{name: "log files zero", yaml: talkdeskOK + foldersOK + "log:\n  max_files: 0\n",
		want: []string{"log.max_files: must be between 1 and 1000"}},
	{name: "log file under ~", yaml: talkdeskOK + foldersOK + "log:\n  file: ~/listdrop.log\n",
		want: []string{`log.file: "~" is not expanded`}},
	{name: "log file from an unset variable", env: map[string]string{"LISTDROP_TEST_UNSET": "<unset>"},
		yaml: talkdeskOK + foldersOK + "log:\n  file: ${LISTDROP_TEST_UNSET}/listdrop.log\n",
		want: []string{"log.file: environment variable LISTDROP_TEST_UNSET is not set"}},

	// Several problems at once.
	{name: "every problem reported", yaml: "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n" +
		"workers: 0\nlog:\n  level: loud\nfolders:\n  - path: in\n  - record_list_id: l\n",
		want: []string{
			"talkdesk.client_secret: required",
			"workers: must be between 1 and 64",
			"log.level: must be one of",
			"folders[0].record_list_id: required",
			"folders[1].path: required",
		}},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			cfg, err := Parse([]byte(tt.yaml), t.TempDir())
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			checkLines(t, err, tt.want)
		})
	}
}

// checkLines checks that err has one line per want, each starting with it.
func checkLines(t *testing.T, err error, want []string) {
	t.Helper()
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error line %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("LISTDROP_TEST_A", "alpha")
	t.Setenv("LISTDROP_TEST_EMPTY", "")
	t.Setenv("LISTDROP_TEST_NESTED", "${LISTDROP_TEST_A}")
	unsetEnv(t, "LISTDROP_TEST_UNSET")
	tests := []struct {
		in, want string
		expanded bool
		err      string
	}{
		{in: "plain", want: "plain"},
		{in: "${LISTDROP_TEST_A}", want: "alpha", expanded: true},
		{in: "x-${LISTDROP_TEST_A}-${LISTDROP_TEST_A}-y", want: "x-alpha-alpha-y", expanded: true},
		{in: "${LISTDROP_TEST_EMPTY}", want: "", expanded: true},
		{in: "$${LISTDROP_TEST_A}", want: "${LISTDROP_TEST_A}"},
		{in: "pa$word$", want: "pa$word$"},
		{in: "$$", want: "$$"},
		{in: "$LISTDROP_TEST_A", want: "$LISTDROP_TEST_A"},
		{in: "${LISTDROP_TEST_NESTED}", want: "${LISTDROP_TEST_A}", expanded: true},
		{in: "${LISTDROP_TEST_UNSET}", err: "environment variable LISTDROP_TEST_UNSET is not set"},
		{in: "${}", err: `"${...}" must hold an environment variable name`},
		{in: "${A B}", err: `"${...}" must hold an environment variable name`},
		{in: "${9A}", err: `"${...}" must hold an environment variable name`},
		{in: "abc${LISTDROP_TEST_A", err: `"${" without a closing "}"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, expanded, err := expand(tt.in)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expand(%q): %v", tt.in, err)
			}
			if got != tt.want || expanded != tt.expanded {
				t.Errorf("expand(%q) = %q, %v; want %q, %v", tt.in, got, expanded, tt.want, tt.expanded)
			}
		})
	}
}

// Variables are expanded after parsing, in every string value, including
// those of typed keys; keys themselves are not expanded.
func TestExpansionInConfig(t *testing.T) {
	secret := `a: b # c "d' {e} [f] ${g} \n`
	t.Setenv("LISTDROP_TEST_SECRET", secret)
	t.Setenv("LISTDROP_TEST_ID", "client-7")
	t.Setenv("LISTDROP_TEST_WORKERS", "7")
	t.Setenv("LISTDROP_TEST_SETTLE", "0s")
	t.Setenv("LISTDROP_TEST_BOOL", "true")
	t.Setenv("LISTDROP_TEST_DIR", "drops")
	t.Setenv("LISTDROP_TEST_HOOK", "hook-key")
	dir := t.TempDir()
	cfg := mustParse(t, `
talkdesk:
  region: us
  account: acme
  client_id: ${LISTDROP_TEST_ID}
  client_secret: ${LISTDROP_TEST_SECRET}
workers: ${LISTDROP_TEST_WORKERS}
settle: "${LISTDROP_TEST_SETTLE}"
folders:
  - path: ${LISTDROP_TEST_DIR}/vip
    record_list_id: list-1
    send_atlas_notification: ${LISTDROP_TEST_BOOL}
    callback_action:
      endpoint: https://hooks.example.com/${LISTDROP_TEST_ID}
      method: POST
      headers: {x-api-key: "${LISTDROP_TEST_HOOK}", x-literal: "$${literal}"}
      body: {key: "${LISTDROP_TEST_HOOK}", n: 5, list: ["${LISTDROP_TEST_ID}", 1], "${LISTDROP_TEST_ID}": kept}
`, dir)
	f := cfg.Folders[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"client_id", cfg.Talkdesk.ClientID, "client-7"},
		{"client_secret", cfg.Talkdesk.ClientSecret, secret},
		{"workers", cfg.Workers, 7},
		{"settle", cfg.Settle, time.Duration(0)},
		{"path", f.Path, filepath.Join(dir, "drops", "vip")},
		{"send_atlas_notification", *f.SendAtlasNotification, true},
		{"endpoint", f.CallbackAction.Endpoint, "https://hooks.example.com/client-7"},
		{"header value", f.CallbackAction.Headers["x-api-key"], "hook-key"},
		{"escaped header value", f.CallbackAction.Headers["x-literal"], "${literal}"},
		{"body key not expanded", f.CallbackAction.Body["${LISTDROP_TEST_ID}"], "kept"},
		{"body string", f.CallbackAction.Body["key"], "hook-key"},
		{"body number", f.CallbackAction.Body["n"], 5},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if got, want := f.CallbackAction.Body["list"], []any{"client-7", 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("body list = %#v, want %#v", got, want)
	}
}

func TestSecretFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string // relative to the config's folder
		dirs    []string
		setting string // the client_secret_file value
		secret  string
		file    string // want ClientSecretFile, relative to the config's folder
		err     string // want error line start; the file name follows
		errIs   error
	}{
		{name: "trailing newline trimmed", files: map[string]string{"secret": "s3cr3t\n"}, setting: "secret", secret: "s3cr3t", file: "secret"},
		{name: "trailing spaces and CRLF trimmed", files: map[string]string{"secret": "s3cr3t \t\r\n\r\n"}, setting: "secret", secret: "s3cr3t", file: "secret"},
		{name: "inner spaces kept", files: map[string]string{"secret": "a b\n"}, setting: "secret", secret: "a b", file: "secret"},
		{name: "relative to the config's folder", files: map[string]string{"../keys/td": "k"}, setting: "../keys/td", secret: "k", file: "../keys/td"},
		{name: "missing file", setting: "nope", err: "talkdesk.client_secret_file: ", errIs: fs.ErrNotExist},
		{name: "empty file", files: map[string]string{"secret": "\n"}, setting: "secret", err: "talkdesk.client_secret_file: "},
		{name: "a directory", dirs: []string{"secret"}, setting: "secret", err: "talkdesk.client_secret_file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			confDir := filepath.Join(root, "conf")
			for name, content := range tt.files {
				writeFile(t, confDir, name, content)
			}
			for _, d := range tt.dirs {
				if err := os.MkdirAll(filepath.Join(confDir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			data := "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret_file: " + tt.setting + "\n" + foldersOK
			cfg, err := Parse([]byte(data), confDir)
			if tt.err != "" {
				if err == nil {
					t.Fatal("Parse succeeded, want an error")
				}
				wantFile := filepath.Join(confDir, tt.setting)
				checkLines(t, err, []string{tt.err})
				if !strings.Contains(err.Error(), wantFile) {
					t.Errorf("error %q does not name the file %s", err, wantFile)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error %v is not %v", err, tt.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Talkdesk.ClientSecret != tt.secret {
				t.Errorf("client secret = %q, want %q", cfg.Talkdesk.ClientSecret, tt.secret)
			}
			if want := filepath.Join(confDir, tt.file); cfg.Talkdesk.ClientSecretFile != want {
				t.Errorf("client_secret_file = %q, want %q", cfg.Talkdesk.ClientSecretFile, want)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	abs := filepath.Join(root, "elsewhere", "abs")
	path := writeFile(t, root, "etc/listdrop.yaml", talkdeskOK+`
state_file: ../var/state.db
log:
  file: ../log/listdrop.log
folders:
  - path: ../drop/a/
    record_list_id: l1
  - path: '`+abs+`'
    record_list_id: l2
    done: sub/../done2
    failed: '`+filepath.Join(root, "x", "..", "failed2")+`'
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"state_file", cfg.StateFile, filepath.Join(root, "var", "state.db")},
		{"log.file", cfg.Log.File, filepath.Join(root, "log", "listdrop.log")},
		{"folders[0].path", cfg.Folders[0].Path, filepath.Join(root, "drop", "a")},
		{"folders[0].done", cfg.Folders[0].Done, filepath.Join(root, "drop", "a", "done")},
		{"folders[0].failed", cfg.Folders[0].Failed, filepath.Join(root, "drop", "a", "failed")},
		{"folders[1].path", cfg.Folders[1].Path, abs},
		{"folders[1].done", cfg.Folders[1].Done, filepath.Join(root, "etc", "done2")},
		{"folders[1].failed", cfg.Folders[1].Failed, filepath.Join(root, "failed2")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// Parse resolves relative paths against dir, made absolute from the
// current directory, and against the current directory when dir is "".
func TestParseDir(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, tt := range []struct{ dir, want string }{
		{"", filepath.Join(cwd, "in")},
		{"sub", filepath.Join(cwd, "sub", "in")},
	} {
		cfg := mustParse(t, talkdeskOK+foldersOK, tt.dir)
		if cfg.Folders[0].Path != tt.want {
			t.Errorf("dir %q: path = %q, want %q", tt.dir, cfg.Folders[0].Path, tt.want)
		}
	}
}

func TestHTTPSRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://api.example.com", true},
		{"https://api.example.com:8443/base", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.10.20.30/td", true},
		{"http://[::1]:9000", true},
		{"http://localhost:8080", true},
		{"http://LocalHost", true},
		{"http://api.example.com", false},
		{"http://10.0.0.1", false},
		{"http://[::2]:9000", false},
		{"http://128.0.0.1", false},
		{"http://localhost.example.com", false},
		{"http://127.0.0.1.nip.io", false},
		{"ws://127.0.0.1", false},
		{"https://", false},
	}
	for _, tt := range tests {
		for _, key := range []string{"api_url", "token_url"} {
			t.Run(key+" "+tt.url, func(t *testing.T) {
				data := "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: s\n  " + key + ": '" + tt.url + "'\n" + foldersOK
				_, err := Parse([]byte(data), t.TempDir())
				if tt.ok && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !tt.ok {
					if err == nil {
						t.Fatal("accepted, want an error")
					}
					checkLines(t, err, []string{"talkdesk." + key + ": must "})
				}
			})
		}
	}
}

// No error message, Summary or printed Config may show a secret: the client
// secret, wherever it came from, or a callback header value.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "Zq7-client-secret-value"
	const hook = "Hk9-header-value"
	t.Setenv("LISTDROP_TEST_SECRET", secret)
	t.Setenv("LISTDROP_TEST_HOOK", hook)
	t.Setenv("LISTDROP_TEST_HOOK_NL", hook+"\r\nX-Evil: 1")
	dir := t.TempDir()
	writeFile(t, dir, "secret", secret+"\n")

	bad := []struct{ name, yaml string }{
		{"secret in a number", talkdeskOK + foldersOK + "workers: ${LISTDROP_TEST_SECRET}\n"},
		{"secret in a duration", talkdeskOK + foldersOK + "settle: ${LISTDROP_TEST_SECRET}\n"},
		{"secret in a bool", talkdeskOK + foldersOK + "    send_atlas_notification: ${LISTDROP_TEST_SECRET}\n"},
		{"secret in a region", "talkdesk:\n  region: ${LISTDROP_TEST_SECRET}\n  client_id: id\n  client_secret: s\n" + foldersOK},
		{"header value in a number", talkdeskOK + foldersOK + "rescan: ${LISTDROP_TEST_HOOK}\n"},
		{"both secret and file", "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: ${LISTDROP_TEST_SECRET}\n  client_secret_file: secret\n" + foldersOK},
		{"literal secret with other errors", "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: " + secret + "\nworkers: 0\n" + foldersOK},
		{"secret file with other errors", "talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret_file: secret\nlog: {level: x}\n" + foldersOK},
		{"secret in api_url", talkdeskOK + "  api_url: http://user:${LISTDROP_TEST_SECRET}@api.example.com/?k=${LISTDROP_TEST_SECRET}\n" + foldersOK},
		{"header with a line break", talkdeskOK + foldersOK + "    callback_action: {endpoint: 'https://h.example.com/?t=${LISTDROP_TEST_HOOK}', method: X, headers: {k: \"${LISTDROP_TEST_HOOK_NL}\"}}\n"},
		{"header in a relative endpoint", talkdeskOK + foldersOK + "    callback_action: {endpoint: '/h?t=${LISTDROP_TEST_HOOK}', method: POST}\n"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), dir)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, s := range []string{secret, hook} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}

	for _, data := range []string{
		"talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret: ${LISTDROP_TEST_SECRET}\n  api_url: https://user:${LISTDROP_TEST_SECRET}@api.example.com\n" + foldersOK +
			"    callback_action: {endpoint: https://h.example.com, method: POST, headers: {k: \"${LISTDROP_TEST_HOOK}\"}}\n",
		"talkdesk:\n  region: us\n  account: acme\n  client_id: id\n  client_secret_file: secret\n" + foldersOK,
	} {
		cfg := mustParse(t, data, dir)
		if cfg.Talkdesk.ClientSecret != secret {
			t.Fatalf("client secret not loaded: %q", cfg.Talkdesk.ClientSecret)
		}
		for _, shown := range []string{cfg.Summary(), fmt.Sprint(cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%v", cfg.Folders)} {
			for _, s := range []string{secret, hook} {
				if strings.Contains(shown, s) {
					t.Errorf("secret shown in %q", shown)
				}
			}
		}
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name, yaml, want string
	}{
		{"two folders, one list", talkdeskOK + "state_file: state.db\n" + foldersOK + "  - path: b\n    record_list_id: list-1\n",
			"config OK: 2 folders, 1 record list, api https://api.talkdeskapp.com, state " + filepath.Join(dir, "state.db")},
		{"one folder", talkdeskOK + foldersOK,
			"config OK: 1 folder, 1 record list, api https://api.talkdeskapp.com, state " + DefaultStateFile()},
		{"two lists, credentials stripped from api", "talkdesk:\n  region: eu\n  account: acme\n  client_id: id\n  client_secret: s\n  api_url: https://user:pw@proxy.example.com/td/\n" +
			foldersOK + "  - path: b\n    record_list_id: list-2\n",
			"config OK: 2 folders, 2 record lists, api https://proxy.example.com/td, state " + DefaultStateFile()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.yaml, dir)
			want := tt.want
			if got := cfg.Summary(); got != want {
				t.Errorf("Summary() = %q, want %q", got, want)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug},
		{"info", slog.LevelInfo},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
		{"ERROR", slog.LevelError},
		{"", slog.LevelInfo},
	} {
		cfg := &Config{Log: Log{Level: tt.level}}
		if got := cfg.SlogLevel(); got != tt.want {
			t.Errorf("SlogLevel(%q) = %v, want %v", tt.level, got, tt.want)
		}
	}
	// Through Parse, each level of the list.
	for _, level := range []string{"debug", "info", "warn", "error"} {
		cfg := mustParse(t, talkdeskOK+foldersOK+"log:\n  level: "+level+"\n", t.TempDir())
		if got := cfg.SlogLevel().String(); !strings.EqualFold(got, level) {
			t.Errorf("level %s gave %s", level, got)
		}
	}
}

func TestAliasesAndMergeKeys(t *testing.T) {
	t.Parallel()
	cfg := mustParse(t, talkdeskOK+`folders:
  - path: a
    record_list_id: l1
    callback_action: &hook
      endpoint: https://h.example.com/done
      method: post
      headers: {k: v}
  - path: b
    record_list_id: l2
    callback_action: *hook
  - path: c
    record_list_id: l3
    callback_action:
      <<: *hook
      method: PUT
  - path: d
    record_list_id: l4
    callback_action:
      <<: &both [{method: get}, *hook]
  - path: e
    record_list_id: l5
    callback_action: {<<: *both}
`, t.TempDir())
	want := []CallbackAction{
		{Endpoint: "https://h.example.com/done", Method: "POST", Headers: map[string]string{"k": "v"}},
		{Endpoint: "https://h.example.com/done", Method: "POST", Headers: map[string]string{"k": "v"}},
		{Endpoint: "https://h.example.com/done", Method: "PUT", Headers: map[string]string{"k": "v"}},
		// Of the mappings merged, the first listed wins.
		{Endpoint: "https://h.example.com/done", Method: "GET", Headers: map[string]string{"k": "v"}},
		{Endpoint: "https://h.example.com/done", Method: "GET", Headers: map[string]string{"k": "v"}},
	}
	for i, w := range want {
		if got := cfg.Folders[i].CallbackAction; got == nil || !reflect.DeepEqual(*got, w) {
			t.Errorf("folders[%d].callback_action = %+v, want %+v", i, got, w)
		}
	}
	// Each folder has its own copy: changing one leaves the others alone.
	cfg.Folders[0].CallbackAction.Headers["k"] = "changed"
	if cfg.Folders[1].CallbackAction.Headers["k"] != "v" {
		t.Error("folders share one headers map")
	}
}

// Validate checks a Config built in code, not only one from Parse.
func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func(t *testing.T) *Config {
		cfg := mustParse(t, talkdeskOK+foldersOK, t.TempDir())
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate of a parsed config: %v", err)
		}
		return cfg
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"relative folder path", func(c *Config) { c.Folders[0].Path = "in" }, []string{"folders[0].path: must be an absolute path"}},
		{"empty done", func(c *Config) { c.Folders[0].Done = "" }, []string{"folders[0].done: required"}},
		{"empty state file", func(c *Config) { c.StateFile = "" }, []string{"state_file: required"}},
		{"no api url", func(c *Config) { c.Talkdesk.APIURL = "" }, []string{"talkdesk.api_url: required"}},
		{"zero workers", func(c *Config) { c.Workers = 0 }, []string{"workers: must be between 1 and 64"}},
		{"no folders", func(c *Config) { c.Folders = nil }, []string{"folders: required"}},
		{"no secret", func(c *Config) { c.Talkdesk.ClientSecret = "" }, []string{"talkdesk.client_secret: required"}},
		{"relative log file", func(c *Config) { c.Log.File = "listdrop.log" }, []string{"log.file: must be an absolute path"}},
		{"huge log file", func(c *Config) { c.Log.MaxSizeMB = 10_001 }, []string{"log.max_size_mb: must be between 1 and 10000"}},
		{"too many log files", func(c *Config) { c.Log.MaxFiles = 1001 }, []string{"log.max_files: must be between 1 and 1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid(t)
			tt.change(cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			checkLines(t, err, tt.want)
		})
	}
	t.Run("lower-case method accepted", func(t *testing.T) {
		cfg := valid(t)
		cfg.Folders[0].CallbackAction = &CallbackAction{Endpoint: "http://h.example.com", Method: "patch"}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zero config", func(t *testing.T) {
		err := (&Config{}).Validate()
		if err == nil {
			t.Fatal("Validate of a zero Config succeeded")
		}
		for _, key := range []string{"talkdesk.client_id", "talkdesk.client_secret", "talkdesk.api_url", "talkdesk.token_url",
			"talkdesk.timeout", "state_file", "rescan", "workers", "retry.max_backoff", "retry.give_up_after", "log.level", "log.format", "folders"} {
			if !strings.Contains(err.Error(), key+": ") {
				t.Errorf("error does not name %s:\n%v", key, err)
			}
		}
		if strings.Contains(err.Error(), "settle:") {
			t.Errorf("settle 0 refused:\n%v", err)
		}
	})
}

func TestLoad(t *testing.T) {
	t.Run("relative path", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "conf/listdrop.yaml", talkdeskOK+foldersOK)
		t.Chdir(dir)
		cfg, err := Load(filepath.Join("conf", "listdrop.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, "conf", "listdrop.yaml"); cfg.Path != want {
			t.Errorf("Path = %q, want %q", cfg.Path, want)
		}
		if want := filepath.Join(dir, "conf", "in"); cfg.Folders[0].Path != want {
			t.Errorf("folder = %q, want %q", cfg.Folders[0].Path, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config: ") {
			t.Fatalf("error = %v, want a read config error that is fs.ErrNotExist", err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		_, err := Load(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("error = %v, want not a regular file", err)
		}
	})
	t.Run("one problem", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "l.yaml", talkdeskOK+foldersOK+"workers: 0\n")
		_, err := Load(path)
		if err == nil || err.Error() != "config "+path+": workers: must be between 1 and 64" {
			t.Fatalf("error = %q", err)
		}
	})
	t.Run("several problems, one per line", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "l.yaml", talkdeskOK+foldersOK+"workers: 0\nrescan: 0s\n")
		_, err := Load(path)
		want := "config " + path + ":\n  rescan: must be greater than 0\n  workers: must be between 1 and 64"
		if err == nil || err.Error() != want {
			t.Fatalf("error = %q, want %q", err, want)
		}
	})
}

// config.example.yaml must load as it is, once its variables are set.
func TestExampleConfig(t *testing.T) {
	t.Setenv("LISTDROP_CLIENT_SECRET", "example-secret")
	t.Setenv("HOOK_KEY", "example-hook")
	cfg, err := Load(filepath.Join("..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Talkdesk.ClientSecret != "example-secret" || cfg.Talkdesk.TokenURL != "https://acme.talkdeskid.com/oauth/token" {
		t.Errorf("talkdesk = %v", cfg.Talkdesk)
	}
	if len(cfg.Folders) != 2 || cfg.Folders[0].CallbackAction == nil || cfg.Folders[0].CallbackAction.Headers["x-api-key"] != "example-hook" {
		t.Errorf("folders = %v", cfg.Folders)
	}
	if len(cfg.Folders) == 2 && cfg.Folders[1].Done != filepath.Join(cfg.Folders[1].Path, "done") {
		t.Errorf("folders[1].done = %q", cfg.Folders[1].Done)
	}
}

// Every key of the schema appears in config.example.yaml, with its comment.
func TestExampleDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == durationType {
			return
		}
		for name, i := range fieldsByTag(typ) {
			if !strings.Contains(text, " "+name+":") && !strings.Contains(text, "\n"+name+":") {
				t.Errorf("key %s is not in config.example.yaml", name)
			}
			walk(typ.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[Config]())
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// also passes Validate.
func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	writeFile(f, dir, "secret.txt", "fuzz-secret\n")
	writeFile(f, dir, "secret", "fuzz-secret\n")
	f.Setenv("LISTDROP_CLIENT_SECRET", "fuzz-secret")
	f.Setenv("HOOK_KEY", "fuzz-hook")
	f.Setenv("LISTDROP_TEST_SECRET", "fuzz-secret")
	f.Setenv("LISTDROP_TEST_HOOK", "fuzz-hook")
	f.Add([]byte(talkdeskOK + foldersOK))
	f.Add([]byte(talkdeskOK + foldersOK + "    callback_action: {endpoint: https://h.example.com, method: post, headers: {k: v}, body: {a: [1, {b: c}]}}\n"))
	f.Add([]byte("talkdesk:\n  client_id: id\n  client_secret_file: secret.txt\n  api_url: http://[::1]:1/\n  token_url: http://localhost/t\n" + foldersOK))
	for _, tc := range errorCases {
		f.Add([]byte(tc.yaml))
	}
	if example, err := os.ReadFile(filepath.Join("..", "config.example.yaml")); err == nil {
		f.Add(example)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, dir)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned both a config and an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v\n%s", err, data)
		}
		_ = cfg.Summary()
	})
}
