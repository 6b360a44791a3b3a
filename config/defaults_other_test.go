//go:build !windows

package config

import "testing"

func TestDefaultPaths(t *testing.T) {
	t.Parallel()
	if got, want := DefaultPath(), "/etc/listdrop/listdrop.yaml"; got != want {
		t.Errorf("DefaultPath() = %q, want %q", got, want)
	}
	if got, want := DefaultStateFile(), "/var/lib/listdrop/state.db"; got != want {
		t.Errorf("DefaultStateFile() = %q, want %q", got, want)
	}
}
