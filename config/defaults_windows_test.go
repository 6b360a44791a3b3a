//go:build windows

package config

import "testing"

func TestDefaultPaths(t *testing.T) {
	for _, tt := range []struct{ programData, config, state string }{
		{`D:\Data`, `D:\Data\listdrop\listdrop.yaml`, `D:\Data\listdrop\state.db`},
		{"", `C:\ProgramData\listdrop\listdrop.yaml`, `C:\ProgramData\listdrop\state.db`},
	} {
		t.Setenv("ProgramData", tt.programData)
		if got := DefaultPath(); got != tt.config {
			t.Errorf("ProgramData %q: DefaultPath() = %q, want %q", tt.programData, got, tt.config)
		}
		if got := DefaultStateFile(); got != tt.state {
			t.Errorf("ProgramData %q: DefaultStateFile() = %q, want %q", tt.programData, got, tt.state)
		}
	}
}

// Windows file names are case-insensitive: two folders differing only in
// case are the same folder.
func TestSamePathIgnoresCase(t *testing.T) {
	t.Parallel()
	if !samePath(`C:\Drop\In`, `c:\drop\in\`) {
		t.Error(`C:\Drop\In and c:\drop\in\ are not the same path`)
	}
}
