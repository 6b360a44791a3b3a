//go:build windows

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/mgr"
)

const elevationHint = "run as Administrator (open the command prompt with \"Run as administrator\")"

func isElevated() bool { return windows.GetCurrentProcessToken().IsElevated() }

// recoveryActions restart the service after a failure: twice after 5 s,
// then every 30 s; the count resets after a day without failures.
var recoveryActions = []mgr.RecoveryAction{
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
	{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
}

const recoveryResetSeconds = 24 * 60 * 60

func serviceOptions(*service.Config) service.KeyValue {
	return service.KeyValue{
		"StartType":              "automatic",
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "5s",
		"OnFailureResetPeriod":   recoveryResetSeconds,
	}
}

func checkInstall(service.Service, *service.Config) error { return nil }

// afterInstall sets the full recovery policy, which kardianos/service sets
// only in part (one action), and makes a failed start or an exit with an
// error count as a failure too, not only a crash. Install has registered
// the Event Log source.
func afterInstall(cfg *service.Config) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(cfg.Name)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.SetRecoveryActions(recoveryActions, recoveryResetSeconds); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	// A system without the setting (ERROR_INVALID_LEVEL: Wine) restarts
	// the service after a crash only.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil && !errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		return fmt.Errorf("set recovery on failed stops: %w", err)
	}
	return nil
}

func afterUninstall(service.Service) {}

func platformStatus(service.Service) (string, bool) { return "", false }

// recoveryNote says what is missing from the installed service's recovery
// settings, which the MSI and "listdrop install" set but which a machine
// may refuse (the MSI then goes on without them); "" when they are set, or
// when there is no service or its settings cannot be read. Reading them
// needs no elevation.
func recoveryNote() string {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return ""
	}
	defer windows.CloseServiceHandle(m)
	name, err := windows.UTF16PtrFromString(serviceName)
	if err != nil {
		return ""
	}
	h, err := windows.OpenService(m, name, windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return ""
	}
	s := &mgr.Service{Name: serviceName, Handle: h}
	defer s.Close()
	actions, err := s.RecoveryActions()
	if err != nil {
		return ""
	}
	onErrors, err := s.RecoveryActionsOnNonCrashFailures()
	return recoveryAdvice(actions, onErrors, err)
}

// recoveryAdvice is recoveryNote's text: a failure must restart the
// service, and a stop with an error must count as a failure (a system
// that cannot say, such as Wine, is given the benefit of the doubt).
func recoveryAdvice(actions []mgr.RecoveryAction, onErrors bool, onErrorsErr error) string {
	restarts := len(actions) > 0
	for _, a := range actions {
		restarts = restarts && a.Type == mgr.ServiceRestart
	}
	switch {
	case !restarts:
		return "Recovery: not set, so the service manager does not restart listdrop after a failure. " +
			"Set it as Administrator: sc.exe failure " + serviceName + " reset= 86400 actions= restart/5000/restart/5000/restart/30000" +
			" and sc.exe failureflag " + serviceName + " 1 (or run the MSI again)"
	case onErrorsErr == nil && !onErrors:
		return "Recovery: a stop with an error is not counted as a failure, so listdrop is not restarted after one. " +
			"Set it as Administrator: sc.exe failureflag " + serviceName + " 1"
	}
	return ""
}

// systemLogHandler sends warnings and errors to the Windows Event Log when
// running under the service manager (source "listdrop", registered by
// `listdrop install` and by the MSI).
func systemLogHandler(s service.Service) slog.Handler {
	if service.Interactive() {
		return nil
	}
	l, err := s.SystemLogger(nil)
	if err != nil {
		return nil
	}
	return newSystemHandler(l)
}

// shutdownWait is what Windows gives services at shutdown
// (WaitToKillServiceTimeout, 20 s unless changed; some versions set 5 s)
// less a second, and at most stopWait.
func shutdownWait() time.Duration {
	kill := 20 * time.Second
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Control`, registry.QUERY_VALUE); err == nil {
		if v, _, err := k.GetStringValue("WaitToKillServiceTimeout"); err == nil {
			if ms, err := strconv.Atoi(v); err == nil && ms > 0 {
				kill = time.Duration(ms) * time.Millisecond
			}
		}
		k.Close()
	}
	return min(max(kill-time.Second, time.Second), stopWait)
}
