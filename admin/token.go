package admin

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenSuffix is added to the state file's path to name the token file:
// beside the state file, which holds the same file names the token shows,
// and so readable by the same people.
const TokenSuffix = ".admin-token"

// TokenPath is the token file of a state file.
func TokenPath(stateFile string) string { return stateFile + TokenSuffix }

// tokenLen is the token's length in hex characters (256 bits).
const tokenLen = 64

// WriteToken makes a new random token and writes it to path, readable by
// the service's user and administrators only (mode 0600; on Windows an
// ACL of SYSTEM, Administrators and the owner). A new token at every start
// means one read while the daemon was stopped, by a program listening on
// its port, is worth nothing afterwards.
func WriteToken(path string) (string, error) {
	var b [tokenLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make the admin token: %w", err)
	}
	token := hex.EncodeToString(b[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	os.Remove(tmp) // left by a crash; created anew below, never reused
	f, err := createPrivate(tmp)
	if err != nil {
		return "", fmt.Errorf("write the admin token file %s: %w", path, err)
	}
	_, werr := f.WriteString(token + "\n")
	if err := f.Sync(); werr == nil {
		werr = err
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write the admin token file %s: %w", path, werr)
	}
	return token, nil
}

// RemoveToken removes the token file when it still holds token, so that a
// daemon that stops leaves nothing to send to a program that takes its
// port.
func RemoveToken(path, token string) error {
	got, err := ReadToken(path)
	if err != nil || got != token {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the admin token file: %w", err)
	}
	return nil
}

// ErrNoToken means that the token file does not exist: no daemon has
// written one for this state file, or it stopped and removed it.
var ErrNoToken = errors.New("no admin token file")

// ReadToken reads the token a daemon wrote. A file that cannot be read
// because of its permissions gives an error wrapping fs.ErrPermission.
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s", ErrNoToken, path)
	}
	if err != nil {
		return "", fmt.Errorf("read the admin token: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, tokenLen+3))
	if err != nil {
		return "", fmt.Errorf("read the admin token %s: %w", path, err)
	}
	token := strings.TrimSpace(string(data))
	if len(token) != tokenLen || strings.Trim(token, "0123456789abcdef") != "" {
		return "", fmt.Errorf("the admin token file %s is damaged: restart listdrop, which writes a new one", path)
	}
	return token, nil
}
