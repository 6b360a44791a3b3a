package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Validate checks a resolved Config: required keys, URLs, durations,
// limits and folders. Parse calls it; call it again after changing a
// Config in code. All problems are reported, one per line, each naming
// its key path.
func (c *Config) Validate() error {
	var p problems
	p.add(c.validate()...)
	return p.err()
}

const (
	maxWorkers    = 64
	maxLogSizeMB  = 10_000
	maxLogBackups = 1000
)

var (
	logLevels       = []string{"debug", "info", "warn", "error"}
	logFormats      = []string{"text", "json"}
	callbackMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
)

func (c *Config) validate() []*keyError {
	var errs []*keyError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &keyError{key: key, msg: fmt.Sprintf(format, args...)})
	}

	t := c.Talkdesk
	if t.ClientID == "" {
		bad("talkdesk.client_id", "required")
	}
	if t.ClientSecret == "" && t.PrivateKeyFile == "" && !c.noSecrets {
		bad("talkdesk.client_secret", "required (or set talkdesk.client_secret_file, or talkdesk.private_key_file with talkdesk.key_id)")
	}
	if msg := checkServiceURL(t.APIURL); msg != "" {
		bad("talkdesk.api_url", "%s", msg)
	}
	if msg := checkServiceURL(t.TokenURL); msg != "" {
		bad("talkdesk.token_url", "%s", msg)
	}
	if t.Timeout <= 0 {
		bad("talkdesk.timeout", "must be greater than 0")
	}

	if msg := checkPath(c.StateFile); msg != "" {
		bad("state_file", "%s", msg)
	}
	if c.Settle < 0 {
		bad("settle", "must not be negative")
	}
	if c.EmptyGrace < 0 {
		bad("empty_grace", "must not be negative")
	}
	if msg := checkSplitMaxSize(c.SplitMaxSize); msg != "" {
		bad("split_max_size", "%s", msg)
	}
	if c.VerifyTimeout <= 0 {
		bad("verify_timeout", "must be greater than 0")
	}
	if c.State.Retention < 24*time.Hour {
		bad("state.retention", "must be at least 1d: it is how long a duplicate is recognised")
	}
	if c.Admin.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Admin.Listen); err != nil || port == "" {
			bad("admin.listen", "must be host:port, e.g. 127.0.0.1:9464 (empty disables the endpoint)")
		} else if !c.Admin.Loopback() && c.Admin.WebConfigFile == "" {
			bad("admin.listen", "%s can be reached from other machines, and listdrop serves its endpoint there only with TLS and a password: "+
				"set admin.web_config_file to a web configuration file with tls_server_config and basic_auth_users (see docs/security.md), "+
				"or listen on loopback (127.0.0.1:%s)", c.Admin.Listen, port)
		}
	} else if c.Admin.WebConfigFile != "" {
		bad("admin.web_config_file", "is set while admin.listen is empty (the endpoint is off): remove it, or set admin.listen")
	}
	if c.Rescan <= 0 {
		bad("rescan", "must be greater than 0")
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		bad("workers", "must be between 1 and %d", maxWorkers)
	}
	if c.Retry.MaxBackoff <= 0 {
		bad("retry.max_backoff", "must be greater than 0")
	}
	if c.Retry.GiveUpAfter <= 0 {
		bad("retry.give_up_after", "must be greater than 0")
	}
	if !slices.Contains(logLevels, strings.ToLower(c.Log.Level)) {
		bad("log.level", "must be one of debug, info, warn or error")
	}
	if !slices.Contains(logFormats, strings.ToLower(c.Log.Format)) {
		bad("log.format", "must be text or json")
	}
	if c.Log.File != "" && !filepath.IsAbs(c.Log.File) {
		bad("log.file", "must be an absolute path")
	}
	if t.CAFile != "" && !filepath.IsAbs(t.CAFile) {
		bad("talkdesk.ca_file", "must be an absolute path")
	}
	if c.Log.MaxSizeMB < 1 || c.Log.MaxSizeMB > maxLogSizeMB {
		bad("log.max_size_mb", "must be between 1 and %d", maxLogSizeMB)
	}
	if c.Log.MaxFiles < 1 || c.Log.MaxFiles > maxLogBackups {
		bad("log.max_files", "must be between 1 and %d", maxLogBackups)
	}

	if len(c.Folders) == 0 {
		bad("folders", "required (list at least one folder)")
	}
	// A folder that is another folder's done or failed folder would upload
	// every file again once it has been moved there.
	outputs := make(map[string]string)
	for i, f := range c.Folders {
		key := fmt.Sprintf("folders[%d]", i)
		for _, out := range []struct{ name, path string }{{"done", f.Done}, {"failed", f.Failed}} {
			if out.path == "" {
				continue
			}
			if _, taken := outputs[pathKey(out.path)]; !taken {
				outputs[pathKey(out.path)] = key + "." + out.name
			}
		}
	}
	seen := make(map[string]string)
	for i, f := range c.Folders {
		key := fmt.Sprintf("folders[%d]", i)
		if msg := checkPath(f.Path); msg != "" {
			bad(key+".path", "%s", msg)
		} else {
			if first, dup := seen[pathKey(f.Path)]; dup {
				bad(key+".path", "same folder as %s.path", first)
			} else {
				seen[pathKey(f.Path)] = key
			}
			if other, ok := outputs[pathKey(f.Path)]; ok && !strings.HasPrefix(other, key+".") {
				bad(key+".path", "same folder as %s: files moved there would be uploaded again", other)
			}
		}
		if f.RecordListID == "" {
			bad(key+".record_list_id", "required")
		} else if !isListID(f.RecordListID) {
			bad(key+".record_list_id", `must hold only letters, digits, "-", "_", "." and "~" (it goes into the API's URLs)`)
		}
		// Parse derives done and failed from path: without a path, they
		// would only repeat its error.
		if checkPath(f.Path) == "" {
			for _, out := range []struct{ name, path string }{{"done", f.Done}, {"failed", f.Failed}} {
				if msg := checkPath(out.path); msg != "" {
					bad(key+"."+out.name, "%s", msg)
				} else if samePath(out.path, f.Path) {
					bad(key+"."+out.name, "must not be the watched folder itself")
				}
			}
			if f.Done != "" && f.Failed != "" && samePath(f.Done, f.Failed) {
				bad(key+".failed", "must not be the same folder as done")
			}
		}
		if f.CallbackAction != nil {
			errs = append(errs, f.CallbackAction.validate(key+".callback_action")...)
		}
		if f.Sheet != "" && !f.XLSX {
			bad(key+".sheet", "names a workbook's sheet: it needs xlsx: true")
		}
		if f.SplitMaxSize != c.SplitMaxSize {
			if msg := checkSplitMaxSize(f.SplitMaxSize); msg != "" {
				bad(key+".split_max_size", "%s", msg)
			}
		}
	}
	return errs
}

// maxSplitSize bounds split_max_size: a file to split is held in memory.
const maxSplitSize = GB

func checkSplitMaxSize(b ByteSize) string {
	switch {
	case b <= 20000:
		return "must be more than 20000 bytes (Talkdesk's limit for one upload): smaller files are never split"
	case b > maxSplitSize:
		return fmt.Sprintf("must be at most %s: a file to split is held in memory while it is imported", maxSplitSize)
	}
	return ""
}

func (a *CallbackAction) validate(key string) []*keyError {
	var errs []*keyError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &keyError{key: key, msg: fmt.Sprintf(format, args...)})
	}
	if a.Endpoint == "" {
		bad(key+".endpoint", "required")
	} else if !isWebURL(a.Endpoint) {
		bad(key+".endpoint", "must be an absolute http or https URL")
	}
	if a.Method == "" {
		bad(key+".method", "required")
	} else if !slices.Contains(callbackMethods, strings.ToUpper(a.Method)) {
		bad(key+".method", "must be one of GET, POST, PUT, PATCH or DELETE")
	}
	names := make([]string, 0, len(a.Headers))
	for name := range a.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !isHeaderName(name) {
			bad(key+".headers", "%q is not a valid HTTP header name", name)
		} else if strings.ContainsAny(a.Headers[name], "\r\n\x00") {
			bad(key+".headers."+name, "value must not contain a line break or NUL")
		}
	}
	return errs
}

// checkServiceURL checks a Talkdesk endpoint: https, or http to a loopback
// host for tests and local proxies. The URL itself is never echoed: it
// could carry credentials.
func checkServiceURL(raw string) string {
	if raw == "" {
		return "required"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Hostname() == "" || u.Opaque != "" {
		return "must be an absolute https URL, e.g. https://api.talkdeskapp.com"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "must use https: plain http is allowed only for a loopback host (localhost, 127.0.0.0/8, ::1)"
		}
	default:
		return "must use https"
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "must not have a query or a fragment"
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isWebURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" && u.Opaque == ""
}

func checkPath(p string) string {
	switch {
	case p == "":
		return "required"
	case !filepath.IsAbs(p):
		return "must be an absolute path"
	}
	return ""
}

func samePath(a, b string) bool {
	return pathKey(a) == pathKey(b)
}

// isListID allows the characters that need no escaping in a URL path, and
// refuses "." and ".." which would change the path.
func isListID(s string) bool {
	if s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.~", r)) {
			return false
		}
	}
	return true
}

// isHeaderName reports whether s is an HTTP token (RFC 9110).
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// displayURL drops anything of a URL that could be a credential.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return u.String()
}
