// Package config reads listdrop's YAML configuration: the schema, its
// defaults, ${VAR} expansion, path resolution and validation.
//
// Every error names the key path it is about, for example
// "folders[1].record_list_id: required", and no error ever carries a
// secret: not the client secret, not a callback header value.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/listdrop/listdrop/internal/capool"
	"github.com/listdrop/listdrop/internal/fsutil"
	"gopkg.in/yaml.v3"
)

// Config is one configuration file, decoded, resolved and validated.
type Config struct {
	Talkdesk  Talkdesk      `yaml:"talkdesk"`
	StateFile string        `yaml:"state_file"`
	Settle    time.Duration `yaml:"settle"`
	Rescan    time.Duration `yaml:"rescan"`
	Workers   int           `yaml:"workers"`
	Retry     Retry         `yaml:"retry"`
	Log       Log           `yaml:"log"`
	Folders   []Folder      `yaml:"folders"`

	// EmptyGrace is how long an empty file must stay empty before it is
	// failed as empty: its writer may not have started yet.
	EmptyGrace time.Duration `yaml:"empty_grace"`

	// Verify follows each upload up: listdrop asks Talkdesk for the record
	// list's status until validation ends (at most VerifyTimeout).
	Verify        bool          `yaml:"verify"`
	VerifyTimeout time.Duration `yaml:"verify_timeout"`
	// CSVCheck is the default of folders[].csv_check.
	CSVCheck bool `yaml:"csv_check"`
	// Split and SplitMaxSize are the defaults of folders[].split and
	// folders[].split_max_size.
	Split        bool     `yaml:"split"`
	SplitMaxSize ByteSize `yaml:"split_max_size"`
	State        State    `yaml:"state"`
	Admin        Admin    `yaml:"admin"`
	Path         string   `yaml:"-"` // absolute path of the file loaded ("" for Parse)
	noSecrets    bool     // loaded by LoadLocal: credentials may be missing
}

// Talkdesk holds the account, the OAuth client and the endpoints.
// After Parse, APIURL and TokenURL are always set, ClientSecret holds
// the secret even when it came from ClientSecretFile, SecretOrigin says
// where it came from, and CAFile is absolute. With PrivateKeyFile set
// instead of a secret, PrivateKey holds the key read from it, and the
// client authenticates with a JWT signed by it (private_key_jwt).
type Talkdesk struct {
	Region           string        `yaml:"region"`
	Account          string        `yaml:"account"`
	ClientID         string        `yaml:"client_id"`
	ClientSecret     string        `yaml:"client_secret"`
	ClientSecretFile string        `yaml:"client_secret_file"`
	APIURL           string        `yaml:"api_url"`
	TokenURL         string        `yaml:"token_url"`
	Timeout          time.Duration `yaml:"timeout"`
	CAFile           string        `yaml:"ca_file"`
	PrivateKeyFile   string        `yaml:"private_key_file"`
	KeyID            string        `yaml:"key_id"`
	PrivateKey       *PrivateKey   `yaml:"-"`
	SecretOrigin     SecretOrigin  `yaml:"-"`
}

// SecretOrigin says where the client secret was read from.
type SecretOrigin int

const (
	SecretUnset SecretOrigin = iota
	// SecretInConfig: client_secret is written, at least in part, in the
	// configuration file itself.
	SecretInConfig
	// SecretFromEnv: client_secret is only ${VAR} references.
	SecretFromEnv
	// SecretFromFile: read from client_secret_file.
	SecretFromFile
	// SecretFromKeyFile: no secret; a private key read from
	// private_key_file.
	SecretFromKeyFile
)

// Retry bounds the retries of transient failures.
type Retry struct {
	MaxBackoff  time.Duration `yaml:"max_backoff"`
	GiveUpAfter time.Duration `yaml:"give_up_after"`
}

// Log picks the level and format of the daemon's log and, when File is
// set, a file that gets the same lines, rotated by size. File is absolute
// after Parse.
type Log struct {
	Level     string `yaml:"level"`
	Format    string `yaml:"format"`
	File      string `yaml:"file"`
	MaxSizeMB int    `yaml:"max_size_mb"`
	MaxFiles  int    `yaml:"max_files"`
}

// State holds how long finished files are remembered.
type State struct {
	// Retention is how long a finished file is kept in the history, and so
	// the window in which a duplicate is recognised.
	Retention time.Duration `yaml:"retention"`
}

// Admin is the local HTTP endpoint for health, metrics and status.
type Admin struct {
	// Listen is host:port; empty disables the endpoint.
	Listen string `yaml:"listen"`
	// WebConfigFile is an exporter-toolkit web configuration (TLS, basic
	// auth); absolute after Parse. Required when Listen is not loopback.
	WebConfigFile string `yaml:"web_config_file"`
}

// Loopback reports whether the endpoint listens on loopback only: a
// loopback address or localhost. An empty host, 0.0.0.0 or [::] listen on
// every address, and any other name may resolve to one.
func (a Admin) Loopback() bool {
	host, _, err := net.SplitHostPort(a.Listen)
	return err == nil && isLoopback(host)
}

// Folder is one watched folder and the record list its files go to.
// After Parse, Path, Done and Failed are absolute and clean.
type Folder struct {
	Path                  string          `yaml:"path"`
	RecordListID          string          `yaml:"record_list_id"`
	Done                  string          `yaml:"done"`
	Failed                string          `yaml:"failed"`
	SendAtlasNotification *bool           `yaml:"send_atlas_notification"`
	CallbackAction        *CallbackAction `yaml:"callback_action"`
	// CSVCheck checks that the file is a well-formed CSV before any call to
	// Talkdesk; nil takes the top-level csv_check.
	CSVCheck *bool `yaml:"csv_check"`
	// RequiredColumns must all be in the header (compared without regard
	// to case or surrounding spaces).
	RequiredColumns []string `yaml:"required_columns"`
	// Convert turns UTF-16 and Windows-1252 text, carriage-return line
	// endings and semicolon or tab separators into comma-separated UTF-8
	// before the check and the upload; off, such files are refused with a
	// sentence saying how to save them.
	Convert bool `yaml:"convert"`
	// XLSX takes Excel workbooks (*.xlsx) too, converted to CSV from the
	// sheet named Sheet, or the first one.
	XLSX  bool   `yaml:"xlsx"`
	Sheet string `yaml:"sheet"`
	// Split imports a file over Talkdesk's 20000 bytes per upload as parts
	// of whole records, each with the header; nil takes the top-level
	// split. SplitMaxSize (0 takes the top-level one) is the largest file
	// split: a bigger one is refused.
	Split        *bool    `yaml:"split"`
	SplitMaxSize ByteSize `yaml:"split_max_size"`
}

// Splits reports whether the folder imports big files in parts.
func (f Folder) Splits() bool { return f.Split != nil && *f.Split }

// SplitLimit is the largest file the folder splits: split_max_size, or
// its default for a Folder made in code.
func (f Folder) SplitLimit() ByteSize {
	if f.SplitMaxSize > 0 {
		return f.SplitMaxSize
	}
	return DefaultSplitMaxSize
}

// CheckCSV reports whether the folder's files get the CSV check.
func (f Folder) CheckCSV() bool { return f.CSVCheck == nil || *f.CSVCheck }

// CallbackAction is passed to the upload request as is; Talkdesk calls it
// when validation of the file ends. Method is upper case after Parse.
type CallbackAction struct {
	Endpoint string            `yaml:"endpoint"`
	Method   string            `yaml:"method"`
	Headers  map[string]string `yaml:"headers"`
	Body     map[string]any    `yaml:"body"`
}

// String hides the client secret and any credentials in the URLs, so that
// printing a Config with %v or logging it as text cannot leak them.
func (t Talkdesk) String() string {
	secret := ""
	if t.ClientSecret != "" {
		secret = "[redacted]"
	}
	key := ""
	if t.PrivateKey != nil {
		key = "[redacted]"
	}
	return fmt.Sprintf("{Region:%s Account:%s ClientID:%s ClientSecret:%s ClientSecretFile:%s PrivateKeyFile:%s KeyID:%s PrivateKey:%s APIURL:%s TokenURL:%s Timeout:%s CAFile:%s}",
		t.Region, t.Account, t.ClientID, secret, t.ClientSecretFile, t.PrivateKeyFile, t.KeyID, key, displayURL(t.APIURL), displayURL(t.TokenURL), t.Timeout, t.CAFile)
}

// String hides the header values, which are often credentials, and the
// endpoint's query string, which may be one.
func (a CallbackAction) String() string {
	names := make([]string, 0, len(a.Headers))
	for name := range a.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	return fmt.Sprintf("{Endpoint:%s Method:%s Headers:%v Body:%v}", displayURL(a.Endpoint), a.Method, names, a.Body)
}

// DefaultSplitMaxSize is the largest file split into parts unless
// split_max_size says otherwise: 10 MB is about 500 parts, which at a few
// seconds of Talkdesk's validation each keeps one list busy for under an
// hour, and the file is held in memory while it is imported. A bigger
// file is more often a wrong export than a contact list.
const DefaultSplitMaxSize = 10 * MB

// DefaultEmptyGrace covers a browser's empty placeholder, which stays while
// the download lasts, and programs that open a file long before they write.
const DefaultEmptyGrace = 5 * time.Minute

// Defaults for keys left out of the file.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultSettle      = 2 * time.Second
	DefaultRescan      = 30 * time.Second
	DefaultWorkers     = 4
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultGiveUpAfter = 24 * time.Hour
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "text"
	DefaultLogMaxSize  = 10 // megabytes
	DefaultLogMaxFiles = 5
	// DefaultVerifyTimeout bounds the follow-up of one upload's validation.
	DefaultVerifyTimeout = 10 * time.Minute
	// DefaultRetention is how long finished files are remembered: 180 days.
	DefaultRetention = 180 * 24 * time.Hour
	// DefaultAdminListen keeps the admin endpoint on loopback.
	DefaultAdminListen = "127.0.0.1:9464"
)

// maxFileSize bounds what Load reads; a real config is a few kilobytes.
const maxFileSize = 1 << 20

// Load reads the file at path and parses it, resolving relative paths in it
// against the file's folder. The returned Config has Path set to the file's
// absolute path.
func Load(path string) (*Config, error) { return load(path, false) }

// fileError puts the file's name before Parse's problems, one per line.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	msg := e.err.Error()
	if !strings.Contains(msg, "\n") {
		return "config " + e.path + ": " + msg
	}
	return "config " + e.path + ":\n  " + strings.ReplaceAll(msg, "\n", "\n  ")
}

func (e *fileError) Unwrap() error { return e.err }

// Parse decodes data, expands ${VAR} references, applies defaults, resolves
// relative paths against dir (the current directory when dir is "") and
// validates the result. Every problem found is reported, one per line.
func Parse(data []byte, dir string) (*Config, error) { return parse(data, dir, false) }

// LoadLocal loads a configuration for the commands that read the folders,
// the state file and the admin endpoint but never call Talkdesk (status,
// history, retry): the client secret and callback header values may be
// left unset in their environment, and a secret file unreadable. Such a
// Config must not be used to reach Talkdesk.
func LoadLocal(path string) (*Config, error) { return load(path, true) }

func load(path string, noSecrets bool) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	data, err := fsutil.ReadLimited(abs, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parse(data, filepath.Dir(abs), noSecrets)
	if err != nil {
		return nil, &fileError{path: abs, err: err}
	}
	cfg.Path = abs
	return cfg, nil
}

func parse(data []byte, dir string, noSecrets bool) (*Config, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve config folder: %w", err)
	}

	cfg := defaults()
	var p problems
	if !decode(root, cfg, &p, noSecrets) {
		return nil, p.err()
	}
	cfg.noSecrets = noSecrets
	cfg.resolve(dir, &p)
	p.add(cfg.validate()...)
	if err := p.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// parseYAML returns the root node of the single document in data.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("config is empty")
		}
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("config holds more than one YAML document (a second \"---\"): keep one")
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, errors.New("config is empty")
	}
	return doc.Content[0], nil
}

func defaults() *Config {
	return &Config{
		Talkdesk:      Talkdesk{Timeout: DefaultTimeout},
		Settle:        DefaultSettle,
		EmptyGrace:    DefaultEmptyGrace,
		Rescan:        DefaultRescan,
		Workers:       DefaultWorkers,
		Retry:         Retry{MaxBackoff: DefaultMaxBackoff, GiveUpAfter: DefaultGiveUpAfter},
		Log:           Log{Level: DefaultLogLevel, Format: DefaultLogFormat, MaxSizeMB: DefaultLogMaxSize, MaxFiles: DefaultLogMaxFiles},
		Verify:        true,
		VerifyTimeout: DefaultVerifyTimeout,
		CSVCheck:      true,
		SplitMaxSize:  DefaultSplitMaxSize,
		State:         State{Retention: DefaultRetention},
		Admin:         Admin{Listen: DefaultAdminListen},
	}
}

// region is what a Talkdesk region name stands for. An empty api host means
// the region exists but its API host is not confirmed.
type region struct {
	api       string
	tokenHost string
}

var regions = map[string]region{
	"us": {api: "https://api.talkdeskapp.com", tokenHost: "talkdeskid.com"},
	"eu": {api: "https://api.talkdeskapp.eu", tokenHost: "talkdeskid.eu"},
	"ca": {api: "https://api.talkdeskappca.com", tokenHost: "talkdeskidca.com"},
	"au": {tokenHost: "talkdeskid.au"},
}

// resolve normalises case, derives the URLs from the region, reads the
// secret or key file, makes paths absolute and fills the folders' defaults.
func (c *Config) resolve(dir string, p *problems) {
	t := &c.Talkdesk
	t.Region = strings.ToLower(t.Region)
	t.Account = strings.ToLower(t.Account)
	t.APIURL = strings.TrimRight(t.APIURL, "/")
	c.Log.Level = strings.ToLower(c.Log.Level)
	c.Log.Format = strings.ToLower(c.Log.Format)
	c.resolveURLs(p)
	c.resolvePrivateKey(dir, p)
	c.resolveSecret(dir, p)
	c.resolveCAFile(dir, p)

	c.Log.File = resolvePath(p, "log.file", dir, c.Log.File)
	c.StateFile = resolvePath(p, "state_file", dir, c.StateFile)
	c.Admin.WebConfigFile = resolvePath(p, "admin.web_config_file", dir, c.Admin.WebConfigFile)
	if c.StateFile == "" {
		c.StateFile = DefaultStateFile()
	}
	for i := range c.Folders {
		f := &c.Folders[i]
		key := fmt.Sprintf("folders[%d]", i)
		f.Path = resolvePath(p, key+".path", dir, f.Path)
		f.Done = resolvePath(p, key+".done", dir, f.Done)
		f.Failed = resolvePath(p, key+".failed", dir, f.Failed)
		if f.Path != "" && f.Done == "" {
			f.Done = filepath.Join(f.Path, "done")
		}
		if f.Path != "" && f.Failed == "" {
			f.Failed = filepath.Join(f.Path, "failed")
		}
		if f.CallbackAction != nil {
			f.CallbackAction.Method = strings.ToUpper(f.CallbackAction.Method)
		}
		if f.CSVCheck == nil {
			v := c.CSVCheck
			f.CSVCheck = &v
		}
		if f.Split == nil {
			v := c.Split
			f.Split = &v
		}
		if f.SplitMaxSize == 0 {
			f.SplitMaxSize = c.SplitMaxSize
		}
	}
}

func (c *Config) resolveURLs(p *problems) {
	t := &c.Talkdesk
	if t.Account != "" && !isHostLabel(t.Account) {
		p.fail("talkdesk.account", "must be a single host name label (letters, digits and hyphens), as in https://<account>.talkdeskid.com")
	}
	if t.Region == "" {
		if t.APIURL == "" || t.TokenURL == "" {
			p.fail("talkdesk.region", "required (us, eu, ca or au) unless both talkdesk.api_url and talkdesk.token_url are set")
			p.cover("talkdesk.api_url", "talkdesk.token_url")
		}
		return
	}
	r, ok := regions[t.Region]
	if !ok {
		p.fail("talkdesk.region", "unknown region %q: want us, eu, ca or au (or leave it out and set both talkdesk.api_url and talkdesk.token_url)", t.Region)
		p.cover("talkdesk.api_url", "talkdesk.token_url")
		return
	}
	if t.APIURL == "" {
		if r.api == "" {
			p.fail("talkdesk.api_url", "required for region %s: its API host is not confirmed, so set it explicitly", t.Region)
		}
		t.APIURL = r.api
	}
	if t.TokenURL == "" {
		switch {
		case t.Account == "":
			p.fail("talkdesk.account", "required to build the token URL for region %s (or set talkdesk.token_url)", t.Region)
			p.cover("talkdesk.token_url")
		case isHostLabel(t.Account):
			t.TokenURL = "https://" + t.Account + "." + r.tokenHost + "/oauth/token"
		default:
			p.cover("talkdesk.token_url")
		}
	}
}

// maxSecretSize bounds the secret file; a client secret is a few dozen bytes.
const maxSecretSize = 64 << 10

func (c *Config) resolveSecret(dir string, p *problems) {
	t := &c.Talkdesk
	if t.ClientSecretFile == "" || t.PrivateKeyFile != "" {
		return
	}
	const key = "talkdesk.client_secret_file"
	if t.ClientSecret != "" {
		p.fail(key, "set either talkdesk.client_secret or talkdesk.client_secret_file, not both")
		p.cover("talkdesk.client_secret")
		return
	}
	t.ClientSecretFile = resolvePath(p, key, dir, t.ClientSecretFile)
	if t.ClientSecretFile == "" || c.noSecrets {
		return
	}
	// Cover the secret too, so a failure here is not reported twice.
	p.cover("talkdesk.client_secret")
	data, err := fsutil.ReadLimited(t.ClientSecretFile, maxSecretSize)
	if err != nil {
		p.failErr(key, err)
		return
	}
	secret := strings.TrimRight(string(data), " \t\r\n")
	if secret == "" {
		p.fail(key, "%s is empty", t.ClientSecretFile)
		return
	}
	t.ClientSecret = secret
	t.SecretOrigin = SecretFromFile
}

// resolveCAFile checks talkdesk.ca_file: a readable PEM file holding at
// least one certificate, loaded as the uploader will load it.
func (c *Config) resolveCAFile(dir string, p *problems) {
	const key = "talkdesk.ca_file"
	t := &c.Talkdesk
	t.CAFile = resolvePath(p, key, dir, t.CAFile)
	if t.CAFile == "" {
		return
	}
	if _, err := capool.Load(t.CAFile); err != nil {
		p.failErr(key, err)
	}
}

// resolvePath makes p absolute against dir and cleans it; "" stays "".
func resolvePath(pr *problems, key, dir, p string) string {
	if p == "" {
		return ""
	}
	if strings.HasPrefix(p, "~") {
		pr.fail(key, "\"~\" is not expanded: write the full path")
		return ""
	}
	if !filepath.IsAbs(p) {
		if filepath.VolumeName(p) != "" {
			// "D:drop" is relative to drive D:'s current folder (and
			// "C:\new" in YAML double quotes holds a newline): never joined
			// onto the config's folder; validation says it is not absolute.
			return p
		}
		if os.IsPathSeparator(p[0]) {
			// Rooted but without a volume (Windows): take dir's volume.
			p = filepath.VolumeName(dir) + p
		} else {
			p = filepath.Join(dir, p)
		}
	}
	return filepath.Clean(p)
}

// isHostLabel reports whether s is one DNS label, so that an account name
// can only ever name a subdomain of the Talkdesk identity host.
func isHostLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// SlogLevel returns the log level as a slog.Level (info when unknown).
func (c *Config) SlogLevel() slog.Level {
	switch strings.ToLower(c.Log.Level) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Summary describes the config in one line for the log and `check`
// commands. It never includes a secret.
func (c *Config) Summary() string {
	lists := make(map[string]bool)
	for _, f := range c.Folders {
		lists[f.RecordListID] = true
	}
	return fmt.Sprintf("config OK: %s, %s, api %s, state %s",
		plural(len(c.Folders), "folder"), plural(len(lists), "record list"),
		displayURL(c.Talkdesk.APIURL), c.StateFile)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
