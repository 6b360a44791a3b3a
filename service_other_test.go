//go:build !windows

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The real binary, run by an ordinary user, says how to get the rights.
func TestServiceCommandsTellAnOrdinaryUserWhatToDo(t *testing.T) {
	t.Parallel()
	bin := binary
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		// Run as nobody, from a folder nobody can reach.
		dir, err := os.MkdirTemp("", "listdrop-nobody-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "listdrop")
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	for _, args := range [][]string{{"install", "--config", "/nonexistent/listdrop.yaml"}, {"stop"}} {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "run as root") {
			t.Errorf("%s as an ordinary user: %v\n%s\nwant %q", args[0], err, out, "run as root")
		}
	}
}

// `listdrop install` writes the packaged unit with its own command line
// and user, quoted for systemd.
func TestSystemdUnitForInstall(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	config := "/etc/list drop/100% \"$HOME\".yaml"
	unit := systemdUnit(exe, []string{"run", "--config", config}, "svc")
	wantExec := `ExecStart="` + exe + `" "run" "--config" "/etc/list drop/100%% \"$$HOME\".yaml"` + "\n"
	if !strings.Contains(unit, wantExec) {
		t.Errorf("unit lacks %q:\n%s", wantExec, unit)
	}
	if !strings.Contains(unit, "\nUser=svc\n") {
		t.Errorf("unit lacks User=svc:\n%s", unit)
	}
	// Everything but ExecStart and User is the packaged unit's.
	for _, line := range strings.Split(packageUnit, "\n") {
		if strings.HasPrefix(line, "ExecStart=") || strings.HasPrefix(line, "User=") {
			continue
		}
		if !strings.Contains(unit, line+"\n") {
			t.Errorf("unit lacks the packaged line %q", line)
		}
	}
	for _, want := range []string{"Restart=on-failure", "RestartSec=5s", "TimeoutStopSec=30s", "NoNewPrivileges=yes", "ProtectSystem=full", "PrivateTmp=yes", "EnvironmentFile=-/etc/default/listdrop"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("unit lacks %s", want)
		}
	}
	root := systemdUnit(exe, []string{"run"}, "")
	if strings.Contains(root, "User=") {
		t.Errorf("a unit for root has a User= line:\n%s", root)
	}

	// systemd itself reads both units without a complaint, when it is
	// installed (it need not be running).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: units not verified by systemd")
		return
	}
	dir := t.TempDir()
	packaged := strings.Replace(packageUnit, "ExecStart=/usr/bin/listdrop ", "ExecStart="+exe+" ", 1)
	for name, text := range map[string]string{"listdrop.service": unit, "packaged/listdrop.service": packaged} {
		p := filepath.Join(dir, name)
		writeSvcFile(t, p, text)
		out, err := exec.Command(analyze, "verify", p).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}
