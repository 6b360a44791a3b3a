//go:build windows

package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// Paths as Windows administrators write them: drive letters, backslashes
// (quoted or not), forward slashes, UNC shares, paths rooted on the
// configuration's drive, and paths relative to the configuration's folder.
func TestWindowsPathsInConfig(t *testing.T) {
	t.Parallel()
	const dir = `C:\ProgramData\listdrop`
	cfg := mustParse(t, talkdeskOK+`
state_file: 'D:\listdrop\state.db'
folders:
  - path: 'D:\Drop Folders\Contacts'
    record_list_id: l1
  - path: D:/Drop Folders/Leads/
    record_list_id: l2
    done: '\\fileserver\archive\leads\done'
    failed: "E:\\Failed\\Leads"
  - path: \Drops\Partners
    record_list_id: l3
  - path: Drops\Local
    record_list_id: l4
    done: ..\Archive
`, dir)
	checks := []struct{ name, got, want string }{
		{"state_file", cfg.StateFile, `D:\listdrop\state.db`},
		{"folders[0].path", cfg.Folders[0].Path, `D:\Drop Folders\Contacts`},
		{"folders[0].done", cfg.Folders[0].Done, `D:\Drop Folders\Contacts\done`},
		{"folders[0].failed", cfg.Folders[0].Failed, `D:\Drop Folders\Contacts\failed`},
		{"folders[1].path", cfg.Folders[1].Path, `D:\Drop Folders\Leads`},
		{"folders[1].done", cfg.Folders[1].Done, `\\fileserver\archive\leads\done`},
		{"folders[1].failed", cfg.Folders[1].Failed, `E:\Failed\Leads`},
		{"folders[2].path", cfg.Folders[2].Path, `C:\Drops\Partners`},
		{"folders[3].path", cfg.Folders[3].Path, `C:\ProgramData\listdrop\Drops\Local`},
		{"folders[3].done", cfg.Folders[3].Done, `C:\ProgramData\Archive`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}

	// A configuration on a share: rooted paths stay on that share.
	cfg = mustParse(t, talkdeskOK+"folders:\n  - path: \\drop\n    record_list_id: l1\n", `\\fileserver\config\listdrop`)
	if got, want := cfg.Folders[0].Path, `\\fileserver\config\drop`; got != want {
		t.Errorf("rooted path beside a config on a share = %q, want %q", got, want)
	}
}

// Windows file names are case-insensitive, so two spellings of one folder
// are one folder.
func TestWindowsSameFolderInAnotherCaseIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, folders, want string }{
		{"two drop folders", `
  - path: 'C:\Drop\In'
    record_list_id: l1
  - path: 'c:\DROP\in\'
    record_list_id: l2
`, "folders[1].path: same folder as folders[0].path"},
		{"a drop folder that is another's done folder", `
  - path: 'C:\Drop\In'
    record_list_id: l1
    done: 'C:\Drop\Out'
  - path: 'c:\drop\OUT'
    record_list_id: l2
`, "folders[1].path: same folder as folders[0].done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(talkdeskOK+"folders:"+tt.folders), `C:\cfg`)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// Left out, the state file is %ProgramData%\listdrop\state.db; a ${VAR}
// reference reads the same environment.
func TestWindowsStateFileUnderProgramData(t *testing.T) {
	data := t.TempDir()
	t.Setenv("ProgramData", data)
	cfg := mustParse(t, talkdeskOK+foldersOK, `C:\cfg`)
	if want := filepath.Join(data, "listdrop", "state.db"); cfg.StateFile != want {
		t.Errorf("state_file left out = %q, want %q", cfg.StateFile, want)
	}
	cfg = mustParse(t, talkdeskOK+foldersOK+"state_file: ${ProgramData}\\listdrop\\other.db\n", `C:\cfg`)
	if want := filepath.Join(data, "listdrop", "other.db"); cfg.StateFile != want {
		t.Errorf("state_file: ${ProgramData}\\listdrop\\other.db = %q, want %q", cfg.StateFile, want)
	}
}

// A path with a drive but no root ("D:drop") depends on that drive's
// current folder, and "C:\new" in YAML double quotes holds a newline: both
// are refused, never joined onto the configuration's folder.
func TestWindowsDriveRelativePathsAreRefused(t *testing.T) {
	t.Parallel()
	for _, path := range []string{`'D:drop'`, `"C:\new\temp"`} {
		_, err := Parse([]byte(talkdeskOK+"folders:\n  - path: "+path+"\n    record_list_id: l1\n"), `C:\cfg`)
		if err == nil || !strings.Contains(err.Error(), "folders[0].path: must be an absolute path") {
			t.Errorf("path %s: %v", path, err)
		}
	}
}
