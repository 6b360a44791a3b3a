//go:build !windows

package admin

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/state"
)

// The token file is 0600 whatever the umask.
func TestTokenFileIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "state.db"+TokenSuffix)
	if _, err := WriteToken(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
}

// Another local user, who could read the token before (the endpoint had
// none) and so see every file name and let a duplicate through: run as
// nobody, a helper can neither read the token file nor read /status or
// act without it. The file's folder is open to everyone here, so that it
// is the file's own mode that refuses.
func TestAnotherUserCannotReadTheTokenNorAct(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a helper as another user (nobody); as root, this checks that another local user can neither read the token nor act")
	}
	uid, gid := 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tokenFile := filepath.Join(dir, "state.db"+TokenSuffix)
	token, err := WriteToken(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	control := filepath.Join(dir, "control.txt")
	if err := os.WriteFile(control, []byte("readable by everyone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The server asks for the token written, as the daemon does.
	store, err := state.Open(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(New(Options{Pipeline: fakePipeline{healthy}, Store: store, Version: "1", Token: token, TokenFile: tokenFile, Listen: "127.0.0.1:0"}).Handler())
	t.Cleanup(srv.Close)

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "helper.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helper, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helper, "-test.run=^TestHelperAnotherUser$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LISTDROP_HELPER_TOKEN_FILE="+tokenFile, "LISTDROP_HELPER_CONTROL="+control, "LISTDROP_HELPER_URL="+srv.URL, "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the helper failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		fmt.Sprintf("uid=%d\n", uid),
		"control=read\n",                // the folder is open to it
		"token=permission denied\n",     // the file is not
		"status=401\n", "history=401\n", // no file names without it
		"allow-once=401\n",               // no action without it
		"cross-site-allow-once=403\n",    // nor through a page
		"guessed-token-allow-once=401\n", // nor with a guess
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the helper's report lacks %q:\n%s", want, got)
		}
	}
	if ok, _ := store.TakeAllowance("L1", sum); ok {
		t.Fatal("the other user let a duplicate through")
	}
}

// TestHelperAnotherUser is the helper of
// TestAnotherUserCannotReadTheTokenNorAct; it does nothing in a normal run.
func TestHelperAnotherUser(t *testing.T) {
	t.Parallel()
	tokenFile := os.Getenv("LISTDROP_HELPER_TOKEN_FILE")
	if tokenFile == "" {
		t.Skip("the helper of TestAnotherUserCannotReadTheTokenNorAct")
	}
	base := os.Getenv("LISTDROP_HELPER_URL")
	fmt.Printf("uid=%d\n", os.Getuid())
	if _, err := os.ReadFile(os.Getenv("LISTDROP_HELPER_CONTROL")); err == nil {
		fmt.Println("control=read")
	} else {
		fmt.Println("control=", err)
	}
	switch _, err := ReadToken(tokenFile); {
	case err == nil:
		fmt.Println("token=read")
	case os.IsPermission(err) || strings.Contains(err.Error(), "permission denied"):
		fmt.Println("token=permission denied")
	default:
		fmt.Println("token=", err)
	}
	send := func(name, method, path, ctype, auth, origin string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(`{"list": "L1", "md5": "`+sum+`"}`))
		if err != nil {
			fmt.Println(name+"=", err)
			return
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(name+"=", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Printf("%s=%d\n", name, resp.StatusCode)
	}
	send("status", "GET", "/status", "", "", "")
	send("history", "GET", "/history", "", "", "")
	send("allow-once", "POST", "/allow-once", "application/json", "", "")
	send("cross-site-allow-once", "POST", "/allow-once", "text/plain", "", "http://attacker.example")
	send("guessed-token-allow-once", "POST", "/allow-once", "application/json", "Bearer "+strings.Repeat("a", 64), "")
}
