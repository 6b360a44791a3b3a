package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// Finding: a user who can write in a drop folder planted a claim folder
// holding a file and a marker naming another record list and an upload
// request; at start-up the service took the file over and committed it to
// the other list. A marker is acted on only when a listdrop process with
// this configuration's credentials signed it and it names this folder's
// list; otherwise the file is left where it is.
func TestPlantedClaimMarkersAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		list string // the list the marker names
		key  []byte // what it is signed with; nil: not signed
	}{
		{"unsigned, another list", "OTHER", nil},
		{"unsigned, this folder's list", "L", nil},
		{"signed with another client's key", "L", markerKeyOf(config.Talkdesk{ClientID: "x", ClientSecret: "y"})},
		{"signed, another list", "OTHER", []byte("use the harness key")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, faketalkdesk.Options{}, []string{"L", "OTHER"}, "")
			deadDir := filepath.Join(h.folder(0).Path, claimDirName, "0123456789abcdef")
			if err := os.MkdirAll(deadDir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := csvBody("planted", 2)
			planted := filepath.Join(deadDir, "planted.csv")
			if err := os.WriteFile(planted, body, 0o644); err != nil {
				t.Fatal(err)
			}
			// The upload request the marker names really exists, with
			// these bytes: only the marker's trust stops the commit.
			api := h.client()
			ctx := context.Background()
			ur, err := api.CreateUploadRequest(ctx, talkdesk.CreateRequest{ListID: tt.list,
				CSV: talkdesk.Metadata{Filename: "planted.csv", ByteSize: len(body), Checksum: md5hex(body), ContentType: "text/csv"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := api.Put(ctx, ur.SignedURL, body, md5Sum(body)); err != nil {
				t.Fatal(err)
			}
			m := marker{Name: "planted.csv", ListID: tt.list, MD5: md5hex(body), UploadID: ur.ID, At: time.Now().UTC()}
			switch {
			case tt.key == nil:
				m.Sig = strings.Repeat("0", 64)
			case string(tt.key) == "use the harness key":
				m.Sig = m.sign(markerKeyOf(h.cfg.Talkdesk))
			default:
				m.Sig = m.sign(tt.key)
			}
			data, _ := json.Marshal(m)
			if err := os.WriteFile(markerPath(planted), data, 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			hb := filepath.Join(deadDir, heartbeatName)
			if err := os.WriteFile(hb, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(hb, old, old)
			h.start()
			eventually(t, "the refusal of the marker", func() bool {
				return strings.Contains(h.logBuf.String(), "claim marker refused")
			})
			h.drop(0, "after.csv", csvBody("after", 1))
			h.waitDone(0, "after.csv")
			h.stop()
			for _, c := range h.fake.Commits() {
				if c.UploadID == ur.ID {
					t.Fatalf("the planted file was committed to list %s", c.ListID)
				}
			}
			if !fileExists(planted) {
				t.Fatal("the planted file was not left where it was")
			}
			if n := strings.Count(h.logBuf.String(), "claim marker refused"); n != 1 {
				t.Fatalf("the refusal was logged %d times", n)
			}
		})
	}
}

// A marker written by this process's own code, with the configuration's
// key, naming the folder's list, is still acted on (the adoption tests
// cover its outcomes); this checks the signature survives the round trip.
func TestOwnMarkerIsTrusted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := []byte("k")
	claimed := filepath.Join(dir, "a.csv")
	if err := writeMarker(state.Record{Key: claimed, ListID: "L", MD5: "m", UploadID: "u"}, key); err != nil {
		t.Fatal(err)
	}
	m, found, err := readMarker(claimed)
	if err != nil || !found || !m.signedWith(key) || m.signedWith([]byte("other")) {
		t.Fatalf("readMarker = %+v, %v, %v", m, found, err)
	}
}

func TestClaimFolderWritableByOthersIsWarnedAbout(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("Windows folders are guarded by their ACLs; there are no mode bits to check")
	}
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	root := filepath.Join(h.folder(0).Path, claimDirName)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.stop()
	if !strings.Contains(h.logBuf.String(), "other users can change the files listdrop holds: every user may write in it (mode 0777)") {
		t.Fatalf("no warning about the claim folder's mode:\n%s", h.logBuf.String())
	}
}
