package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// TestStatusAndHistoryWithAndWithoutTheDaemon runs status and history
// against a running daemon (through its admin endpoint), then against the
// state file once it has stopped. History prints the same either way.
func TestStatusAndHistoryWithAndWithoutTheDaemon(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")

	out := e.transcript("status")
	if !strings.Contains(out, "listdrop is not running") || !strings.Contains(out, "$DIR/drop0") {
		t.Fatalf("status before the first start:\n%s", out)
	}
	if out := e.transcript("history"); !strings.Contains(out, "no files in this period") {
		t.Fatalf("history before the first start:\n%s", out)
	}

	d := e.start()
	e.drop(0, "good.csv", rows("good"))
	e.eventually("good.csv accepted", func() bool {
		for _, en := range e.history() {
			if filepath.Base(en.Source) == "good.csv" && en.Outcome == "ACCEPTED" {
				return true
			}
		}
		return false
	})
	e.drop(0, "copy.csv", rows("good"))
	e.eventually("copy.csv failed", func() bool { return finished(e.history(), "copy.csv", state.Failed) == 1 })
	e.drop(0, "ragged.csv", []byte("first_name,last_name\nAda\n"))
	e.eventually("ragged.csv failed", func() bool { return finished(e.history(), "ragged.csv", state.Failed) == 1 })
	// A busy list answers every PATCH with 409: the file is held and
	// retried.
	e.fake.SetListBusy("L2", true)
	e.drop(1, "stuck.csv", rows("stuck"))
	e.eventually("stuck.csv held after failed tries", func() bool {
		r := e.status()
		return len(r.Folders) == 2 && len(r.Folders[1].Held) == 1 && r.Folders[1].Held[0].Attempts >= 2
	})

	// The daemon reads the lists' names at start-up; status shows them.
	e.eventually("the lists' names known", func() bool {
		r := e.status()
		return len(r.Folders) == 2 && r.Folders[0].ListName == "Record list L1" && r.Folders[1].ListName == "Record list L2"
	})
	running := e.transcript("status")
	golden(t, "status-running.golden", running)
	hist := e.transcript("history") + e.transcript("history", "--failed", "--folder", e.folders[0])
	golden(t, "history.golden", hist)
	jsonRunning, _, code := e.cli("history", "--json")
	if code != 0 {
		t.Fatalf("history --json: exit %d", code)
	}

	halt(t, d)
	e.drop(0, "waiting.csv", rows("waiting"))
	golden(t, "status-stopped.golden", e.transcript("status"))
	if got := e.transcript("history") + e.transcript("history", "--failed", "--folder", e.folders[0]); got != hist {
		t.Errorf("history without the daemon:\n%s\nwith it:\n%s", got, hist)
	}
	jsonStopped, _, _ := e.cli("history", "--json")
	var fromDaemon, fromState []state.Entry
	if err := json.Unmarshal([]byte(jsonRunning), &fromDaemon); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(jsonStopped), &fromState); err != nil {
		t.Fatal(err)
	}
	if len(fromDaemon) != 3 || !reflect.DeepEqual(fromDaemon, fromState) {
		t.Fatalf("history --json from the daemon:\n%s\nfrom the state:\n%s", jsonRunning, jsonStopped)
	}
	commits := e.fake.CommitsFor("L1")
	if good := fromDaemon[0]; len(commits) != 1 || good.UploadID != commits[0].UploadID || good.Outcome != "ACCEPTED" ||
		good.Result != state.Done || good.Size != int64(len(rows("good"))) || good.ListID != "L1" {
		t.Fatalf("good.csv in history --json: %+v; commits %+v", good, commits)
	}
	if dup := fromDaemon[1]; dup.Result != state.Failed || !strings.HasPrefix(dup.Reason, "This file has the same content as good.csv") {
		t.Fatalf("copy.csv in history --json: %+v", dup)
	}

	// --since leaves out what is older.
	if out := e.transcript("history", "--since", "2100-01-01"); !strings.Contains(out, "no files in this period") {
		t.Fatalf("history --since in the future:\n%s", out)
	}
}

// TestStatusWhenTheAdminEndpointIsOff: a daemon that holds the state file
// and has no admin endpoint cannot be asked; the commands say so instead
// of hanging or printing a wrong "not running".
func TestStatusWhenTheAdminEndpointIsOff(t *testing.T) {
	t.Parallel()
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1"}, "")
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Replace(string(cfg), `listen: "`+e2eListen+`"`, `listen: ""`, 1)
	if off == string(cfg) {
		t.Fatal("the test config has no admin.listen line to change")
	}
	writeFile(t, e.config, []byte(off))
	e.start()
	failed := filepath.Join(e.folders[0], "failed", "dup.csv")
	writeFile(t, failed, rows("dup"))
	for _, args := range [][]string{{"status"}, {"history"}, {"retry", "--force", "dup.csv"}} {
		_, stderr, code := e.cli(args...)
		if code != 1 || !strings.Contains(stderr, "listdrop is running") || !strings.Contains(stderr, "admin endpoint is off (admin.listen is empty)") {
			t.Errorf("%s: exit %d, stderr %q", args[0], code, stderr)
		}
	}
	if !exists(failed) {
		t.Fatal("retry --force moved the file although it could not allow it")
	}
}

// TestStatusNamesTheServiceManagersWord: status says what the service
// manager says of the service: running, stopped or not installed.
func TestStatusNamesTheServiceManagersWord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "listdrop.yaml")
	writeFile(t, cfg, []byte("talkdesk: {api_url: 'http://127.0.0.1:1', token_url: 'http://127.0.0.1:1/t', client_id: a, client_secret: b}\n"+
		"state_file: state.db\nadmin: {listen: ''}\nfolders:\n  - {path: in, record_list_id: L}\n"))
	for _, tt := range []struct{ state, want string }{
		{"stopped (linux-systemd)", "Service: stopped (linux-systemd)\n"},
		{"not installed", "Service: not installed\n"},
		{"", ""}, // no service manager to ask
	} {
		m := thisMachine
		m.serviceState = func() string { return tt.state }
		var stdout, stderr strings.Builder
		if err := m.run(context.Background(), []string{"status", "--config", cfg}, &stdout, &stderr); err != nil {
			t.Fatalf("status: %v\n%s", err, stderr.String())
		}
		if got := strings.Contains(stdout.String(), "Service:"); got != (tt.want != "") || !strings.Contains(stdout.String(), tt.want) {
			t.Errorf("service %q: status printed\n%s", tt.state, stdout.String())
		}
		if !strings.HasPrefix(stdout.String(), "listdrop is not running") || !strings.Contains(stdout.String(), "folder "+filepath.Join(dir, "in")+" is not available") {
			t.Errorf("status of a never-started config:\n%s", stdout.String())
		}
	}
}
