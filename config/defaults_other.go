//go:build !windows

package config

import "path/filepath"

// DefaultPath is where the config file is looked for when none is given.
func DefaultPath() string { return "/etc/listdrop/listdrop.yaml" }

// DefaultStateFile is the state database used when state_file is left out.
func DefaultStateFile() string { return "/var/lib/listdrop/state.db" }

// pathKey is the form in which two paths are compared.
func pathKey(p string) string { return filepath.Clean(p) }
