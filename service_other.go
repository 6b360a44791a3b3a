//go:build !windows

package main

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/kardianos/service"
)

const elevationHint = "run as root (sudo listdrop ...)"

func isElevated() bool { return os.Geteuid() == 0 }

// packageUnit is the unit the .deb and .rpm install; `listdrop install`
// writes it too, with its own ExecStart and User, so that both get the
// same restart policy, stop timeout and hardening.
//
//go:embed packaging/systemd/listdrop.service
var packageUnit string

// packageUnitPaths are where the packages put the unit.
var packageUnitPaths = []string{"/usr/lib/systemd/system/listdrop.service", "/lib/systemd/system/listdrop.service"}

func serviceOptions(cfg *service.Config) service.KeyValue {
	// kardianos/service reads SystemdScript as a text/template.
	unit := strings.ReplaceAll(systemdUnit(cfg.Executable, cfg.Arguments, cfg.UserName), "{{", `{{"{{"}}`)
	return service.KeyValue{"SystemdScript": unit}
}

// systemdUnit is packageUnit running exe with args, as user ("" for root).
func systemdUnit(exe string, args []string, user string) string {
	lines := strings.SplitAfter(packageUnit, "\n")
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "ExecStart="):
			words := []string{systemdQuote(exe)}
			for _, a := range args {
				words = append(words, systemdQuote(a))
			}
			line = "ExecStart=" + strings.Join(words, " ") + "\n"
		case strings.HasPrefix(line, "User="):
			if user == "" {
				continue
			}
			line = "User=" + user + "\n"
		}
		out = append(out, line)
	}
	return strings.Join(out, "")
}

// systemdQuote quotes one word of an ExecStart line: systemd expands "%"
// specifiers and "$" variables even inside quotes.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`
}

// checkInstall refuses what would install a service that cannot work, or a
// second definition beside the package's.
func checkInstall(s service.Service, cfg *service.Config) error {
	if cfg.UserName != "" {
		if _, err := user.Lookup(cfg.UserName); err != nil {
			return fmt.Errorf("install: no user %s on this machine: create it first (useradd --system %s)", cfg.UserName, cfg.UserName)
		}
	}
	if s.Platform() == "linux-systemd" {
		for _, p := range packageUnitPaths {
			if _, err := os.Stat(p); err == nil {
				return errors.New("install: the listdrop package installed the service already (" + p + "): " +
					"edit /etc/listdrop/listdrop.yaml, then run systemctl start listdrop")
			}
		}
	}
	return nil
}

func afterInstall(*service.Config) error { return nil }

// afterUninstall removes the runlevel links that kardianos/service makes
// for a System V service and leaves behind.
func afterUninstall(s service.Service) {
	if s.Platform() != "unix-systemv" {
		return
	}
	links, _ := filepath.Glob("/etc/rc[0-6].d/[SK][0-9][0-9]" + serviceName)
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && target == "/etc/init.d/"+serviceName {
			os.Remove(l)
		}
	}
}

// platformStatus covers what kardianos/service reports as an error: a
// systemd unit in the failed state, and any stopped System V service
// (its status script exits 1 when stopped).
func platformStatus(s service.Service) (string, bool) {
	switch s.Platform() {
	case "linux-systemd":
		out, _ := exec.Command("systemctl", "is-active", serviceName+".service").Output()
		if strings.TrimSpace(string(out)) == "failed" {
			return statusStopped + " (failed: journalctl -u " + serviceName + " says why)", true
		}
	case "unix-systemv":
		script := "/etc/init.d/" + serviceName
		if _, err := os.Stat(script); err != nil {
			return statusNotInstalled, true
		}
		out, _ := exec.Command(script, "status").Output()
		if strings.HasPrefix(string(out), "Running") {
			return statusRunning, true
		}
		return statusStopped, true
	}
	return "", false
}

// recoveryNote is empty: the unit (Restart=on-failure) and the System V
// script say how a failure is handled, and nothing can refuse it.
func recoveryNote() string { return "" }

// systemLogHandler is nil: under systemd, standard error is the journal.
func systemLogHandler(service.Service) slog.Handler { return nil }

// shutdownWait is stopWait: systemd stops services at shutdown as it does
// at any other time.
func shutdownWait() time.Duration { return stopWait }
