//go:build smbtest && linux

package main

// End-to-end tests on a real SMB share: Samba serves a folder on
// 127.0.0.1 only, and rclone mounts it through FUSE (its SMB backend), as
// servers running listdrop see a Windows file server or a NAS. The share
// is case-insensitive, has no hard links, and goes away when its server
// stops or it is unmounted. Run by test/smb/run; with LISTDROP_SMB_TESTS=1
// a machine that cannot run Samba or FUSE fails them instead of skipping.

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/internal/testutil"
)

// smbBed is one Samba server and its FUSE mounts.
type smbBed struct {
	t      *testing.T
	dir    string // everything of the bed: configuration, share, mounts
	share  string // the shared folder, as the server sees it
	conf   string
	port   int
	user   string
	pass   string // obscured for rclone
	smbd   *exec.Cmd
	exited chan struct{}
	mounts map[string]*exec.Cmd // mount point → rclone
	gone   map[string]chan struct{}
}

// need says why the SMB tests cannot run here, or "".
func smbMissing() string {
	for _, c := range []string{"smbd", "smbpasswd", "rclone", "fusermount3"} {
		if _, err := exec.LookPath(c); err != nil {
			return c + " is not installed (test/smb/run installs samba, rclone and fuse3)"
		}
	}
	if os.Geteuid() != 0 {
		return "Samba and FUSE mounts need root here"
	}
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		return "FUSE is not usable: " + err.Error()
	} else {
		f.Close()
	}
	return ""
}

func newSMBBed(t *testing.T) *smbBed {
	t.Helper()
	if why := smbMissing(); why != "" {
		if os.Getenv("LISTDROP_SMB_TESTS") == "1" {
			t.Fatalf("cannot run the SMB tests: %s", why)
		}
		t.Skipf("SMB tests skipped: %s", why)
	}
	// A short path: FUSE mount points and Samba's sockets dislike long ones.
	dir, err := os.MkdirTemp("", "ldsmb-")
	if err != nil {
		t.Fatal(err)
	}
	// The share's account must reach the share through it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &smbBed{t: t, dir: dir, share: filepath.Join(dir, "share"), conf: filepath.Join(dir, "smb.conf"),
		mounts: map[string]*exec.Cmd{}, gone: map[string]chan struct{}{}}
	t.Cleanup(func() {
		for mp := range b.mounts {
			b.unmount(mp)
		}
		b.stopServer()
		os.RemoveAll(dir)
	})
	b.user = os.Getenv("LISTDROP_SMB_USER")
	if b.user == "" {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		b.user = u.Username
	}
	for _, d := range []string{"share", "private", "lock", "state", "cache", "pid", "log", "rclone"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(b.share, 0o777); err != nil {
		t.Fatal(err)
	}
	// Samba must be told its port: one the system picked a moment ago.
	_, port, _ := net.SplitHostPort(testutil.UnusedAddr(t))
	b.port, _ = strconv.Atoi(port)
	conf := fmt.Sprintf(`[global]
  server role = standalone server
  interfaces = 127.0.0.1
  bind interfaces only = yes
  smb ports = %d
  private dir = %[2]s/private
  lock directory = %[2]s/lock
  state directory = %[2]s/state
  cache directory = %[2]s/cache
  pid directory = %[2]s/pid
  log file = %[2]s/log/smbd.log
  passdb backend = tdbsam:%[2]s/private/passdb.tdb
  load printers = no
  disable spoolss = yes
  map to guest = never
[drop]
  path = %[3]s
  read only = no
  valid users = %[4]s
`, b.port, dir, b.share, b.user)
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := rand.Text()
	add := exec.Command("smbpasswd", "-c", b.conf, "-s", "-a", b.user)
	add.Stdin = strings.NewReader(pw + "\n" + pw + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("smbpasswd: %v\n%s", err, out)
	}
	out, err := exec.Command("rclone", "obscure", pw).Output()
	if err != nil {
		t.Fatalf("rclone obscure: %v", err)
	}
	b.pass = strings.TrimSpace(string(out))
	b.startServer()
	return b
}

func (b *smbBed) startServer() {
	b.t.Helper()
	cmd := exec.Command("smbd", "-s", b.conf, "--foreground", "--no-process-group", "--debug-stdout")
	log, err := os.OpenFile(filepath.Join(b.dir, "log", "smbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: stopping the server stops the processes it
	// starts for each connection too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start smbd: %v", err)
	}
	b.smbd, b.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(b.exited)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port))
	b.poll("smbd to listen on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stopServer stops smbd and every process it started.
func (b *smbBed) stopServer() {
	if b.smbd == nil {
		return
	}
	syscall.Kill(-b.smbd.Process.Pid, syscall.SIGKILL)
	<-b.exited
	// Connection processes of the group may outlive the parent briefly.
	b.poll("smbd's processes to end", func() bool {
		return syscall.Kill(-b.smbd.Process.Pid, 0) != nil
	})
	b.smbd = nil
}

// mkdir makes a folder on the server's side that the share's account can
// write in.
func (b *smbBed) mkdir(name string) {
	b.t.Helper()
	p := filepath.Join(b.share, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Chmod(p, 0o777); err != nil {
		b.t.Fatal(err)
	}
}

// mount mounts the share at a new or former mount point.
func (b *smbBed) mount(name string) string {
	b.t.Helper()
	mp := filepath.Join(b.dir, name)
	if err := os.MkdirAll(mp, 0o755); err != nil {
		b.t.Fatal(err)
	}
	remote := fmt.Sprintf(":smb,host=127.0.0.1,port=%d,user=%s,pass=%s:drop", b.port, b.user, b.pass)
	cmd := exec.Command("rclone", "mount", remote, mp, "--config", "/dev/null",
		"--cache-dir", filepath.Join(b.dir, "rclone", name), "--dir-cache-time", "1s", "--poll-interval", "0",
		"--log-file", filepath.Join(b.dir, "log", name+".log"))
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("rclone mount: %v", err)
	}
	gone := make(chan struct{})
	go func() { cmd.Wait(); close(gone) }()
	b.mounts[mp], b.gone[mp] = cmd, gone
	b.poll("the share to be mounted at "+mp, func() bool {
		select {
		case <-gone:
			log, _ := os.ReadFile(filepath.Join(b.dir, "log", name+".log"))
			b.t.Fatalf("rclone mount exited:\n%s", log)
		default:
		}
		return isMountPoint(mp)
	})
	return mp
}

func isMountPoint(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// unmount takes the share away from under whoever uses it.
func (b *smbBed) unmount(mp string) {
	cmd := b.mounts[mp]
	if cmd == nil {
		return
	}
	if err := exec.Command("fusermount3", "-u", mp).Run(); err != nil {
		exec.Command("fusermount3", "-u", "-z", mp).Run() // busy: detach now
	}
	select {
	case <-b.gone[mp]:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-b.gone[mp]
	}
	delete(b.mounts, mp)
	delete(b.gone, mp)
}

func (b *smbBed) poll(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverDrop writes a file on the server's side of the share, under a
// temporary name first.
func (b *smbBed) serverDrop(name string, data []byte) {
	b.t.Helper()
	dropViaRename(b.t, filepath.Join(b.share, "drop"), name, data)
}

func dropViaRename(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, name+".part")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// smbDaemon is a listdrop configured on drop folders at the given paths.
type smbDaemon struct {
	*daemon
	config string
	admin  string // the admin endpoint's address
}

// health is /healthz's status code and body.
func (d *smbDaemon) health(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.admin + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func startSMBDaemon(t *testing.T, fake *faketalkdesk.Server, folder, list, extra string) *smbDaemon {
	t.Helper()
	dir := t.TempDir()
	var c strings.Builder
	fmt.Fprintf(&c, "talkdesk:\n  api_url: %s\n  token_url: %s\n  client_id: %s\n  client_secret: ${E2E_SECRET}\n  timeout: 3s\n",
		fake.URL(), fake.TokenURL(), e2eClientID)
	fmt.Fprintf(&c, "state_file: %s\nsettle: 300ms\nrescan: 1s\nworkers: 4\nlog:\n  level: debug\nadmin:\n  listen: %q\n", filepath.Join(dir, "state.db"), e2eListen)
	fmt.Fprintf(&c, "retry:\n  max_backoff: 500ms\n  give_up_after: 1h\n%s\nfolders:\n  - path: %s\n    record_list_id: %q\n", extra, folder, list)
	cfg := filepath.Join(dir, "listdrop.yaml")
	if err := os.WriteFile(cfg, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, fake: fake, config: cfg, folders: []string{folder}}
	d := e.start()
	return &smbDaemon{daemon: d, config: cfg, admin: e.admin}
}

func startSMBFake(t *testing.T) *faketalkdesk.Server {
	t.Helper()
	return faketalkdesk.StartForTest(t, faketalkdesk.Options{ClientID: e2eClientID, ClientSecret: e2eSecret})
}

// committedOnce checks that each body was committed exactly once and
// nothing else was.
func committedOnce(t *testing.T, fake *faketalkdesk.Server, bodies map[string][]byte) {
	t.Helper()
	seen := map[string]int{}
	for _, c := range fake.Commits() {
		seen[c.Checksum]++
	}
	for name, body := range bodies {
		sum := md5.Sum(body)
		if n := seen[hex.EncodeToString(sum[:])]; n != 1 {
			t.Errorf("%s committed %d times, want once", name, n)
		}
	}
	if n := len(fake.Commits()); n != len(bodies) {
		t.Errorf("%d commits, want %d", n, len(bodies))
	}
}

// doneContents is what the server holds in done/, by content.
func doneContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[string(data)] = e.Name()
	}
	return out
}

func body(tag string) []byte {
	return []byte(fmt.Sprintf("first_name,last_name,mobile_phone\n%s,Tester,+12025550100\n", tag))
}

// Files written on the server's side and through another mount are
// uploaded once each.
func TestSMBFilesFromServerAndOtherMountUploadedOnce(t *testing.T) {
	b := newSMBBed(t)
	b.mkdir("drop")
	m1, m2 := b.mount("m1"), b.mount("m2")
	fake := startSMBFake(t)
	d := startSMBDaemon(t, fake, filepath.Join(m1, "drop"), "L1", "")
	bodies := map[string][]byte{}
	for i := range 10 {
		name := fmt.Sprintf("srv%d.csv", i)
		bodies[name] = body(name)
		b.serverDrop(name, bodies[name])
		name = fmt.Sprintf("other%d.csv", i)
		bodies[name] = body(name)
		dropViaRename(t, filepath.Join(m2, "drop"), name, bodies[name])
	}
	done := filepath.Join(b.share, "drop", "done")
	b.poll("every file in done/", func() bool { return len(doneContents(t, done)) == len(bodies) })
	committedOnce(t, fake, bodies)
	d.stop(t)
}

// Issue 17 finding 1: "srv Case.csv" and "srv case.csv" are two files on
// the server, one name to an SMB client. Neither may overwrite the other,
// in the claim folder or in done/.
func TestSMBNamesDifferingInCaseNeverOverwrite(t *testing.T) {
	b := newSMBBed(t)
	b.mkdir("drop")
	m1 := b.mount("m1")
	fake := startSMBFake(t)
	d := startSMBDaemon(t, fake, filepath.Join(m1, "drop"), "L1", "")
	bodies := map[string][]byte{"srv Case.csv": body("upper"), "srv case.csv": body("lower")}
	b.serverDrop("srv Case.csv", bodies["srv Case.csv"])
	b.serverDrop("srv case.csv", bodies["srv case.csv"])
	done := filepath.Join(b.share, "drop", "done")
	b.poll("both files in done/", func() bool { return len(doneContents(t, done)) == 2 })
	got := doneContents(t, done)
	for name, data := range bodies {
		if _, ok := got[string(data)]; !ok {
			t.Errorf("the content of %s is not in done/: %v", name, got)
		}
	}
	committedOnce(t, fake, bodies)
	d.stop(t)
}

// Two servers, each with its own mount of one share and its own state,
// share hundreds of files: each is committed once.
func TestSMBTwoDaemonsOnOneShareCommitEachFileOnce(t *testing.T) {
	b := newSMBBed(t)
	b.mkdir("drop")
	m1, m2 := b.mount("m1"), b.mount("m2")
	fake := startSMBFake(t)
	d1 := startSMBDaemon(t, fake, filepath.Join(m1, "drop"), "L1", "")
	d2 := startSMBDaemon(t, fake, filepath.Join(m2, "drop"), "L1", "")
	bodies := map[string][]byte{}
	for i := range 300 {
		name := fmt.Sprintf("f%03d.csv", i)
		bodies[name] = body(name)
		b.serverDrop(name, bodies[name])
	}
	done := filepath.Join(b.share, "drop", "done")
	b.poll("every file in done/", func() bool { return len(doneContents(t, done)) == len(bodies) })
	committedOnce(t, fake, bodies)
	d1.stop(t)
	d2.stop(t)
	if left := heldFiles(t, filepath.Join(b.share, "drop")); len(left) != 0 {
		t.Errorf("files left in the claim folders: %v", left)
	}
}

// midUpload drops a file whose upload hangs at the PUT until the
// client's timeout, and returns once the PUT has started.
func midUpload(t *testing.T, b *smbBed, fake *faketalkdesk.Server, name string, data []byte) {
	t.Helper()
	fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepPut, Hang: true})
	b.serverDrop(name, data)
	b.poll("the upload to start", func() bool { return fake.PendingFaults() == 0 })
}

// Issue 17 findings 2 and 4: the SMB server stopped in the middle of an
// upload and started again. The outage is logged when it starts and when
// it ends, and the file is committed once, without a restart.
func TestSMBServerStoppedMidUpload(t *testing.T) {
	b := newSMBBed(t)
	b.mkdir("drop")
	m1 := b.mount("m1")
	fake := startSMBFake(t)
	d := startSMBDaemon(t, fake, filepath.Join(m1, "drop"), "L1", "")
	data := body("outage")
	midUpload(t, b, fake, "outage.csv", data)
	b.stopServer()
	b.poll("the log to say the folder is not available", func() bool {
		return strings.Contains(d.out.String(), "drop folder is not available")
	})
	b.poll("/healthz to report the folder", func() bool {
		code, body := d.health(t)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "is not available since")
	})
	b.startServer()
	done := filepath.Join(b.share, "drop", "done")
	b.poll("the file in done/", func() bool { return len(doneContents(t, done)) == 1 })
	committedOnce(t, fake, map[string][]byte{"outage.csv": data})
	out := d.out.String()
	if !strings.Contains(out, "drop folder is available again") || !strings.Contains(out, "unavailable_for=") {
		t.Errorf("the log does not say how long the outage lasted:\n%s", out)
	}
	if strings.Contains(out, "removed while it was uploaded") {
		t.Error("the log says the file was removed")
	}
	b.poll("/healthz to be ok again", func() bool { code, _ := d.health(t); return code == http.StatusOK })
	d.stop(t)
}

// Issue 17 findings 2 and 3: the share unmounted in the middle of an
// upload and mounted again. Nothing is written into the bare mount point
// meanwhile, and the file is committed once, without a restart.
func TestSMBShareUnmountedMidUpload(t *testing.T) {
	b := newSMBBed(t)
	b.mkdir("drop")
	m1 := b.mount("m1")
	fake := startSMBFake(t)
	folder := filepath.Join(m1, "drop")
	// The mount point's own folder, as the daemon sees it once unmounted.
	d := startSMBDaemon(t, fake, folder, "L1", "")
	data := body("unmount")
	midUpload(t, b, fake, "unmount.csv", data)
	b.unmount(m1)
	// Make the mount point look like the drop folder's path again, as a
	// bare mount point with the folder in it would (a share mounted one
	// level up): listdrop must not take it for the drop folder.
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	b.poll("the log to say the folder is not available", func() bool {
		return strings.Contains(d.out.String(), "drop folder is not available")
	})
	// Several more looks at it, by the heartbeat and the checks.
	n := strings.Count(d.out.String(), "scanning folders")
	b.poll("more rescans", func() bool { return strings.Count(d.out.String(), "scanning folders") >= n+2 })
	if ents, _ := os.ReadDir(folder); len(ents) != 0 {
		t.Fatalf("listdrop wrote into the bare mount point: %v", ents)
	}
	os.Remove(folder)
	b.mount("m1")
	done := filepath.Join(b.share, "drop", "done")
	b.poll("the file in done/", func() bool { return len(doneContents(t, done)) == 1 })
	committedOnce(t, fake, map[string][]byte{"unmount.csv": data})
	out := d.out.String()
	if strings.Contains(out, "removed while it was uploaded") {
		t.Error("the log says the file was removed")
	}
	if !strings.Contains(out, "drop folder is available again") {
		t.Error("the log does not say the folder is back")
	}
	d.stop(t)
}

// Issue 17 finding 6: a name Windows forbids, made on the server's side,
// reaches SMB clients as a mangled short name. Not listdrop's doing; the
// file is still uploaded once and archived, under the name clients see.
func TestSMBMangledNameIsUploadedOnceUnderTheNameClientsSee(t *testing.T) {
	b := newSMBBed(t)
	b.mkdir("drop")
	m1 := b.mount("m1")
	fake := startSMBFake(t)
	d := startSMBDaemon(t, fake, filepath.Join(m1, "drop"), "L1", "")
	data := body("colon")
	b.serverDrop("a:b.csv", data)
	done := filepath.Join(b.share, "drop", "done")
	b.poll("the file in done/", func() bool { return len(doneContents(t, done)) == 1 })
	committedOnce(t, fake, map[string][]byte{"a:b.csv": data})
	sent := fake.Commits()[0].Filename
	if !strings.Contains(sent, "~") {
		t.Errorf("sent to Talkdesk as %q; Samba was expected to show clients a mangled short name", sent)
	}
	// Samba maps the short name back when the file is moved, so done/ on
	// the server holds the file under (nearly) its own name.
	t.Logf("a:b.csv on the server: sent as %q, in done/ as %q", sent, doneContents(t, done)[string(data)])
	d.stop(t)
}
