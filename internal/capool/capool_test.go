package capool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/internal/testutil"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caPEM, _ := testutil.CA(t)
	tests := []struct {
		name    string
		content []byte
		dir     bool
		wantErr string
	}{
		{name: "a PEM certificate", content: caPEM},
		{name: "not PEM", content: []byte("MIIB..."), wantErr: "holds no PEM certificate"},
		{name: "too large", content: make([]byte, MaxSize+1), wantErr: "larger than"},
		{name: "a folder", dir: true, wantErr: "not a regular file"},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, string(rune('a'+i)))
		if tt.dir {
			os.Mkdir(p, 0o755)
		} else {
			os.WriteFile(p, tt.content, 0o644)
		}
		pool, err := Load(p)
		if tt.wantErr == "" && (err != nil || pool == nil) {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.wantErr)
		}
	}
}
