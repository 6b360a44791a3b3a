package main

// What the operations commands (status, history, retry, upload) share:
// their flags, the admin endpoint client, and the state opened beside no
// daemon.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/state"
)

const (
	// adminTimeout bounds each call to the admin endpoint: it answers from
	// memory, so a daemon that does not answer in this time is not there.
	adminTimeout = 2 * time.Second
	// readLockTimeout is how long to wait for the state file's lock before
	// deciding that a daemon holds it.
	readLockTimeout = time.Second
)

// parseInterspersed parses flags given before, between or after the
// positional arguments (retry a.csv b.csv --force), which flag.Parse alone
// stops at. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet is a flag set for one command, with --config.
func newFlagSet(cmd string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, fs.String("config", defaultConfigPath(), "configuration file")
}

// adminClient talks to a running daemon's admin endpoint.
type adminClient struct {
	listen    string // as configured, for messages
	base      string // http://host:port, or https:// with a web configuration's TLS
	tokenFile string // the token the daemon wrote beside the state file
	webConfig string // admin.web_config_file
	http      *http.Client
	setupErr  error // the web configuration's TLS could not be read
}

// Basic authentication for an endpoint whose web configuration has
// basic_auth_users: the commands have no password of their own.
const (
	envAdminUser     = "LISTDROP_ADMIN_USER"
	envAdminPassword = "LISTDROP_ADMIN_PASSWORD"
)

// newAdminClient returns nil when the endpoint is off (admin.listen empty).
// A daemon listening on every address (0.0.0.0, [::] or no host) is
// reached on loopback.
func newAdminClient(cfg *config.Config) *adminClient {
	listen := cfg.Admin.Listen
	if listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	a := &adminClient{
		listen:    listen,
		base:      "http://" + net.JoinHostPort(host, port),
		tokenFile: admin.TokenPath(cfg.StateFile),
		webConfig: cfg.Admin.WebConfigFile,
		http:      &http.Client{Timeout: adminTimeout},
	}
	if a.webConfig != "" {
		tc, err := admin.ClientTLS(a.webConfig)
		switch {
		case err != nil:
			a.setupErr = err
		case tc != nil:
			a.base = "https://" + net.JoinHostPort(host, port)
			a.http.Transport = &http.Transport{TLSClientConfig: tc, Proxy: nil}
		}
	}
	return a
}

// errNoAnswer means no daemon answered at the admin endpoint.
type errNoAnswer struct{ err error }

func (e *errNoAnswer) Error() string { return e.err.Error() }
func (e *errNoAnswer) Unwrap() error { return e.err }

// call sends one request and decodes a 200 answer into out. It returns an
// *errNoAnswer when nothing answered, and an error with the endpoint's own
// message when it answered otherwise.
func (a *adminClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.setupErr != nil {
		return a.setupErr
	}
	// Without the token (not readable by this user, or no daemon wrote
	// one) the request is still sent: nothing may answer, and the state
	// file is read instead. The reason is given when the endpoint asks.
	token, tokenErr := admin.ReadToken(a.tokenFile)
	user := os.Getenv(envAdminUser)
	if user != "" {
		req.SetBasicAuth(user, os.Getenv(envAdminPassword))
	} else if tokenErr == nil {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return &errNoAnswer{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &errNoAnswer{err: err}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return a.unauthorized(resp, user, tokenErr)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("admin endpoint %s: %s %s: %s", a.listen, method, path, e.Error)
		}
		return fmt.Errorf("admin endpoint %s: %s %s: HTTP %d", a.listen, method, path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin endpoint %s: %s %s: unexpected answer: %w", a.listen, method, path, err)
	}
	return nil
}

// unauthorized explains a 401: what the command could not send, and how
// to run it so that it can.
func (a *adminClient) unauthorized(resp *http.Response, user string, tokenErr error) error {
	what := "admin endpoint " + a.listen + " refused the command"
	switch {
	case strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") && user == "":
		return fmt.Errorf("%s: it asks for a user name and password (basic_auth_users in %s): set %s and %s to one of those users", what, a.webConfig, envAdminUser, envAdminPassword)
	case user != "":
		return fmt.Errorf("%s: the user name or password in %s and %s is wrong", what, envAdminUser, envAdminPassword)
	case errors.Is(tokenErr, fs.ErrPermission):
		return fmt.Errorf("%s: this user cannot read its token file %s, readable by root (Administrators) and the service's user only: run the command as one of them (sudo listdrop ...)", what, a.tokenFile)
	case errors.Is(tokenErr, admin.ErrNoToken):
		return fmt.Errorf("%s: it asks for its token, and %s does not exist: is state_file the same in the daemon's configuration?", what, a.tokenFile)
	case tokenErr != nil:
		return fmt.Errorf("%s: %w", what, tokenErr)
	}
	return fmt.Errorf("%s: the token in %s is not the daemon's: is state_file the same in the daemon's configuration?", what, a.tokenFile)
}

// ask calls the admin endpoint when one is configured. answered is false
// when the endpoint is off or nothing answered; err is then nil.
func ask(ctx context.Context, a *adminClient, method, path string, body, out any) (answered bool, err error) {
	if a == nil {
		return false, nil
	}
	err = a.call(ctx, method, path, body, out)
	var na *errNoAnswer
	if errors.As(err, &na) {
		return false, nil
	}
	return true, err
}

// openStateForReading opens the state beside no daemon. A state file that
// does not exist yet reads as empty (nil store, nil error). When a daemon
// holds the file, the error says how to reach it instead.
func openStateForReading(cfg *config.Config, a *adminClient) (*state.Store, error) {
	if _, err := os.Stat(cfg.StateFile); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	s, err := state.OpenReadOnly(cfg.StateFile, readLockTimeout)
	if errors.Is(err, state.ErrLocked) {
		return nil, daemonUnreachable(cfg, a)
	}
	return s, err
}

// daemonUnreachable explains that a daemon holds the state file while its
// admin endpoint cannot be reached.
func daemonUnreachable(cfg *config.Config, a *adminClient) error {
	if a == nil {
		return fmt.Errorf("listdrop is running (it holds the state file %s), but its admin endpoint is off (admin.listen is empty), so there is no way to ask it; set admin.listen (for example %s) and restart it", cfg.StateFile, config.DefaultAdminListen)
	}
	return fmt.Errorf("listdrop is running (it holds the state file %s), but its admin endpoint %s does not answer; is admin.listen the same in the daemon's configuration?", cfg.StateFile, a.listen)
}

// samePath reports whether two paths name the same file or folder.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// findFolder returns the configured folder a path names.
func findFolder(cfg *config.Config, path string) (config.Folder, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return config.Folder{}, false
	}
	for _, f := range cfg.Folders {
		if samePath(f.Path, abs) {
			return f, true
		}
	}
	return config.Folder{}, false
}

// fileExists reports whether anything is at path.
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
