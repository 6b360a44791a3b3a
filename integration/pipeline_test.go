package integration

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/testutil"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
)

// writeConfig writes a configuration with one drop folder, in0, for list,
// and returns its path. The admin endpoint listens on a port the system
// picks: the default, 127.0.0.1:9464, may be taken by a listdrop service
// installed on the same machine.
func writeConfig(t *testing.T, f *fakeAPI, dir, list, retry string) string {
	t.Helper()
	cfg := fmt.Sprintf(`talkdesk:
  api_url: %s
  token_url: %s
  client_id: %s
  client_secret: %s
  timeout: 10s
state_file: state.db
admin:
  listen: "127.0.0.1:0"
settle: 50ms
rescan: 500ms
retry:
%s
folders:
  - path: in0
    record_list_id: %q
`, f.URL(), f.TokenURL(), apiClientID, apiSecret, retry, list)
	p := filepath.Join(dir, "listdrop.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run is the real pipeline, with the real uploader and a real state file,
// on temporary folders, until the test ends.
type run struct {
	cfg *config.Config
	log *testutil.LockedBuffer
}

func startPipeline(t *testing.T, f *fakeAPI, list, retry string) *run {
	t.Helper()
	dir := t.TempDir()
	raw, err := os.ReadFile(writeConfig(t, f, dir, list, retry))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(raw, dir)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	store, err := state.Open(cfg.StateFile, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{cfg: cfg, log: &testutil.LockedBuffer{}}
	p, err := pipeline.New(pipeline.Options{
		Config: cfg, Store: store, API: newClient(t, f),
		Logger:    slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetryBase: 5 * time.Millisecond, Grace: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of being stopped")
			}
			if err := store.Close(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("listdrop log:\n%s", r.log.String())
			}
		})
	})
	return r
}

// drop writes a file the way the README asks: under a temporary name, then
// renamed into the folder.
func drop(t *testing.T, folder, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(folder, name+".part")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(folder, name)); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds; the bound is a failure, not a wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, what, cond)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// checkStored asserts that the file was committed once, from the upload
// request the fake answered last, with its bytes in versitygw.
func checkStored(t *testing.T, f *fakeAPI, list string, data []byte) commit {
	t.Helper()
	commits := f.Commits()
	if len(commits) != 1 {
		t.Fatalf("want 1 commit, got %d: %+v", len(commits), commits)
	}
	c := commits[0]
	creates := f.Creates()
	if last := creates[len(creates)-1]; c.UploadID != last.ID || c.ListID != list {
		t.Fatalf("commit %+v is not of the last upload request %+v", c, last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := f.object(ctx, c.Key)
	if err != nil {
		t.Fatalf("read %s from versitygw: %v", c.Key, err)
	}
	if !bytes.Equal(stored, data) {
		t.Fatalf("versitygw holds %d bytes for %s, the file has %d", len(stored), c.Key, len(data))
	}
	return c
}

// fastRetry gives up soon, so that a file the product cannot upload ends
// in failed/ and the test says why, instead of waiting for its deadline.
const fastRetry = "  max_backoff: 100ms\n  give_up_after: 10s"

// waitDone waits for a file to reach done/; reaching failed/ instead ends
// the test with the explanation listdrop wrote.
func waitDone(t *testing.T, folder config.Folder, name string) {
	t.Helper()
	failed := filepath.Join(folder.Failed, name)
	eventually(t, name+" in done/ or failed/", func() bool {
		return exists(filepath.Join(folder.Done, name)) || exists(failed+".error.txt")
	})
	if text, err := os.ReadFile(failed + ".error.txt"); err == nil {
		t.Fatalf("%s went to failed/:\n%s", name, text)
	}
}

// A file dropped in a folder ends in done/ with its bytes in versitygw,
// whichever headers the URL signs, and after an expired URL.
func TestPipelineUploads(t *testing.T) {
	g := needGateway(t)
	cases := []struct {
		name    string
		opts    apiOptions
		creates int // upload requests the file needs
	}{
		{"url signs content-type and content-md5", apiOptions{SignMD5: true}, 1},
		{"url signs content-type only", apiOptions{SignMD5: false}, 1},
		// The first URL has expired: versitygw's 403 makes listdrop ask for
		// a fresh upload request, whose URL works.
		{"first url expired", apiOptions{SignMD5: true, ExpiredFirst: 1}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t, g, tc.opts)
			r := startPipeline(t, f, "list-p", fastRetry)
			in := r.cfg.Folders[0]
			data := csvBody("pipe", 60)
			drop(t, in.Path, "contacts.csv", data)
			waitDone(t, in, "contacts.csv")

			checkStored(t, f, "list-p", data)
			if got := len(f.Creates()); got != tc.creates {
				t.Fatalf("want %d upload requests, got %d: %+v", tc.creates, got, f.Creates())
			}
			if tc.opts.ExpiredFirst > 0 && f.Creates()[0].Kind != "expired" {
				t.Fatalf("the first URL should have been expired: %+v", f.Creates()[0])
			}
			if n := f.proxy.refused.Load(); n != 0 {
				t.Fatalf("the proxy refused %d PUTs with an unsigned Content-MD5", n)
			}
			if exists(filepath.Join(in.Failed, "contacts.csv")) {
				t.Fatal("contacts.csv is also in failed/")
			}
		})
	}
}

// Every URL has a spoiled signature: versitygw answers 403
// SignatureDoesNotMatch to each. listdrop asks for a fresh URL after each
// refusal, and after three refusals that are not expiry it fails the file
// with a sentence naming the cause, long before retry.give_up_after.
func TestPipelineTamperedSignatureFails(t *testing.T) {
	g := needGateway(t)
	f := newFakeAPI(t, g, apiOptions{SignMD5: true, Tamper: true})
	r := startPipeline(t, f, "list-t", "  max_backoff: 50ms\n  give_up_after: 24h")
	in := r.cfg.Folders[0]
	drop(t, in.Path, "contacts.csv", csvBody("tamper", 5))
	failed := filepath.Join(in.Failed, "contacts.csv")
	eventually(t, "contacts.csv and its explanation in failed/", func() bool {
		return exists(failed) && exists(failed+".error.txt")
	})
	text, err := os.ReadFile(failed + ".error.txt")
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(text), "\n")
	if !strings.Contains(first, "signature does not match") || strings.Contains(first, "gave up") {
		t.Fatalf("first line of the explanation: %q", first)
	}
	if !strings.Contains(string(text), "SignatureDoesNotMatch") || strings.Contains(string(text), "X-Amz-Signature") {
		t.Fatalf("the explanation should name the storage code and no signed URL:\n%s", text)
	}
	creates := f.Creates()
	if len(creates) != 3 {
		t.Fatalf("want 3 upload requests (a fresh one after each of the first refusals), got %d", len(creates))
	}
	if n := len(f.Commits()); n != 0 {
		t.Fatalf("%d commits of a file that never reached storage", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if keys, err := f.objectKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("versitygw holds %v (%v)", keys, err)
	}
	t.Logf("explanation:\n%s", text)
	t.Logf("%d upload requests before giving up", len(creates))
}
