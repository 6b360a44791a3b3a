//go:build servicetest

package main

// The service under the machine's real service manager: install, start,
// upload, restart, stop, uninstall. It needs root (Administrator on
// Windows) and changes the machine, so it runs only with
//
//	go test -tags servicetest -run TestServiceUnderTheServiceManager .

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kardianos/service"

	"github.com/listdrop/listdrop/faketalkdesk"
)

func TestServiceUnderTheServiceManager(t *testing.T) {
	if !isElevated() {
		t.Skip("needs root or Administrator")
	}
	if os.Getenv("LISTDROP_UNDER_WINE") == "1" {
		// Wine runs services in session 1, where Windows runs them in
		// session 0, so svc.IsWindowsService cannot tell a service there.
		t.Skip("under Wine a service cannot tell that it runs as one")
	}
	cli := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("listdrop %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// What the service manager says, as `listdrop status` reports it.
	managerSays := func() string {
		t.Helper()
		s, err := service.New(nil, &service.Config{Name: serviceName})
		if err != nil {
			t.Fatal(err)
		}
		text, err := statusText(s)
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	if st := managerSays(); st != statusNotInstalled {
		t.Fatalf("a listdrop service is installed on this machine (%s): uninstall it first", st)
	}

	fake, err := faketalkdesk.Start(faketalkdesk.Options{ClientID: "su-client", ClientSecret: "su-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()

	// Outside /tmp: the systemd unit gives the service a private /tmp.
	base := ""
	if runtime.GOOS != "windows" {
		base = "/var/lib"
	}
	dir, err := os.MkdirTemp(base, "listdrop-servicetest-")
	if err != nil {
		t.Fatal(err)
	}
	// What the service manager may create, to remove it if it was not
	// there before: System V output logs; systemd's StateDirectory and
	// LogsDirectory.
	var created []string
	for _, p := range []string{"/var/log/listdrop.log", "/var/log/listdrop.err", "/var/lib/listdrop", "/var/log/listdrop"} {
		if _, err := os.Lstat(p); err != nil {
			created = append(created, p)
		}
	}
	installed := false
	t.Cleanup(func() {
		if installed {
			exec.Command(binary, "stop").Run()
			exec.Command(binary, "uninstall").Run()
		}
		os.RemoveAll(dir)
		if runtime.GOOS != "windows" {
			for _, p := range created {
				os.Remove(p) // a folder only if empty
			}
		}
	})
	writeSvcFile(t, filepath.Join(dir, "secret.txt"), "su-secret\n")
	writeSvcFile(t, filepath.Join(dir, "listdrop.yaml"), fmt.Sprintf(`talkdesk:
  api_url: %s
  token_url: %s
  client_id: su-client
  client_secret_file: secret.txt
state_file: state.db
# No admin endpoint: its port may be taken by another test.
admin:
  listen: ""
settle: 0s
rescan: 1s
log:
  file: listdrop.log
folders:
  - path: drop
    record_list_id: L1
`, fake.URL(), fake.TokenURL()))
	config := filepath.Join(dir, "listdrop.yaml")

	// A relative --config: the service gets it absolute.
	installed = true // from here on, clean up even after a failed install
	out := cli(dir, "install", "--config", "listdrop.yaml")
	if !strings.Contains(out, "installed the listdrop service") || !strings.Contains(out, config) {
		t.Fatalf("install said:\n%s", out)
	}
	for _, def := range []string{"/etc/systemd/system/listdrop.service", "/etc/init.d/listdrop"} {
		if data, err := os.ReadFile(def); err == nil && !strings.Contains(string(data), config) {
			t.Errorf("%s does not run with %s:\n%s", def, config, data)
		}
	}
	if st := managerSays(); st != statusStopped {
		t.Errorf("status after install = %q, want stopped", st)
	}

	if st := cli("", "start"); st != statusRunning {
		t.Errorf("start said %q, want running", st)
	}
	drop := filepath.Join(dir, "drop")
	svcWait(t, "the service to prepare its folder", func() bool {
		_, err := os.Stat(filepath.Join(drop, ".listdrop"))
		return err == nil
	})
	writeSvcFile(t, filepath.Join(dir, "contacts.csv"), "first_name,mobile_phone\nAda,+12025550100\n")
	if err := os.Rename(filepath.Join(dir, "contacts.csv"), filepath.Join(drop, "contacts.csv")); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the service to upload contacts.csv", func() bool {
		_, err := os.Stat(filepath.Join(drop, "done", "contacts.csv"))
		return err == nil && len(fake.Commits()) == 1
	})
	if log, err := os.ReadFile(filepath.Join(dir, "listdrop.log")); err != nil || !strings.Contains(string(log), "file uploaded") {
		t.Errorf("log.file under the service: %v\n%s", err, log)
	}

	if st := cli("", "restart"); st != statusRunning {
		t.Errorf("restart said %q, want running", st)
	}
	if st := cli("", "stop"); st != statusStopped {
		t.Errorf("stop said %q, want stopped", st)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "listdrop.log")); strings.Count(string(log), "listdrop stopped") < 2 {
		t.Errorf("the service did not stop cleanly twice (restart, stop):\n%s", log)
	}
	cli("", "uninstall")
	installed = false
	if st := managerSays(); st != statusNotInstalled {
		t.Errorf("status after uninstall = %q, want not installed", st)
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("the fake saw rule violations:\n%s", strings.Join(v, "\n"))
	}
}
