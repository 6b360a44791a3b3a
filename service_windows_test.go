//go:build windows

package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

func TestRecoveryAdvice(t *testing.T) {
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	for _, tt := range []struct {
		name        string
		actions     []mgr.RecoveryAction
		onErrors    bool
		onErrorsErr error
		want        string // in the advice; "" for none
	}{
		{"as installed", recoveryActions, true, nil, ""},
		{"no actions", nil, true, nil, "sc.exe failure listdrop reset= 86400 actions= restart/5000/restart/5000/restart/30000"},
		{"no actions, flag unknown", nil, false, windows.ERROR_INVALID_LEVEL, "Recovery: not set"},
		{"a non-restart action", []mgr.RecoveryAction{restart, {Type: mgr.NoAction}}, true, nil, "Recovery: not set"},
		{"stops with an error not counted", recoveryActions, false, nil, "sc.exe failureflag listdrop 1"},
		{"flag unknown (Wine)", recoveryActions, false, windows.ERROR_INVALID_LEVEL, ""},
		{"flag unreadable", []mgr.RecoveryAction{restart}, false, errors.New("access denied"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := recoveryAdvice(tt.actions, tt.onErrors, tt.onErrorsErr)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("recoveryAdvice = %q, want %q", got, tt.want)
			}
		})
	}
}
