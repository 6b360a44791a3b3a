//go:build windows

package config

import (
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is where the config file is looked for when none is given:
// %ProgramData%\listdrop\listdrop.yaml.
func DefaultPath() string { return filepath.Join(programData(), "listdrop", "listdrop.yaml") }

// DefaultStateFile is the state database used when state_file is left out:
// %ProgramData%\listdrop\state.db.
func DefaultStateFile() string { return filepath.Join(programData(), "listdrop", "state.db") }

func programData() string {
	if dir := os.Getenv("ProgramData"); dir != "" {
		return dir
	}
	return `C:\ProgramData`
}

// pathKey is the form in which two paths are compared: Windows file names
// are case-insensitive.
func pathKey(p string) string { return strings.ToLower(filepath.Clean(p)) }
