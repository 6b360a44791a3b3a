package integration

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/testutil"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// listdropBinary builds the product's binary from the repository root, once.
func listdropBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "listdrop-it-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "listdrop")
		buildErr = testutil.BuildListdrop("..", binary)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// The real binary, `listdrop run --config`, uploads two dropped files to
// versitygw through a URL that signs only Content-Type, the first one after
// an expired URL, moves them to done/, stops cleanly on SIGTERM, and never
// logs a signed URL's signature.
func TestBinaryRun(t *testing.T) {
	g := needGateway(t)
	bin := listdropBinary(t)
	f := newFakeAPI(t, g, apiOptions{SignMD5: false, ExpiredFirst: 1})
	dir := t.TempDir()
	cfgPath := writeConfig(t, f, dir, "list-bin", fastRetry)
	in := filepath.Join(dir, "in0")
	files := map[string][]byte{"north.csv": csvBody("north", 30), "south.csv": csvBody("south", 45)}
	for name, data := range files {
		drop(t, in, name, data)
	}

	stderr := &testutil.LockedBuffer{}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	dieWithTests(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("listdrop output:\n%s", stderr.String())
		}
	})

	for name := range files {
		waitDone(t, config.Folder{Done: filepath.Join(in, "done"), Failed: filepath.Join(in, "failed")}, name)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("listdrop run exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("listdrop run did not exit within 30s of SIGTERM")
	}

	commits := f.Commits()
	if len(commits) != 2 {
		t.Fatalf("want 2 commits, got %+v", commits)
	}
	var names []string
	for _, c := range commits {
		data := files[c.Filename]
		sum := md5.Sum(data)
		if c.MD5 != hex.EncodeToString(sum[:]) || string(c.Bytes) != string(data) {
			t.Fatalf("commit %s holds other bytes than the file %s", c.UploadID, c.Filename)
		}
		names = append(names, c.Filename)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"north.csv", "south.csv"}) {
		t.Fatalf("committed %v", names)
	}
	creates := f.Creates()
	if len(creates) != 3 || creates[0].Kind != "expired" {
		t.Fatalf("want 3 upload requests, the first with an expired URL; got %+v", creates)
	}
	if n := f.proxy.refused.Load(); n != 0 {
		t.Fatalf("the proxy refused %d PUTs with an unsigned Content-MD5", n)
	}
	out := stderr.String()
	for _, secret := range []string{"X-Amz-Signature", apiSecret, g.secret} {
		if strings.Contains(out, secret) {
			t.Fatalf("listdrop's log shows %q", secret)
		}
	}
	for _, c := range creates {
		u, err := url.Parse(c.SignedURL)
		if err != nil {
			t.Fatal(err)
		}
		if sig := u.Query().Get("X-Amz-Signature"); sig == "" || strings.Contains(out, sig) {
			t.Fatalf("listdrop's log shows the signature of %s", c.ID)
		}
	}
}
