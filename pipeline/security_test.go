package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// umask is the process's file creation mask (022 where it cannot be read).
func umask() os.FileMode {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o022
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return os.FileMode(m)
			}
		}
	}
	return 0o022
}

// Files in done/ and failed/ are the files dropped, byte for byte; the
// explanations beside failed files are readable by those who read the
// folder (0644); the state file is the owner's alone (0600); and none of
// them holds the client secret, an access token or a signed URL's
// signature, even when Talkdesk's answer quotes the secret.
func TestOutputsKeepBytesModesAndNoSecret(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faketalkdesk.Options{}, []string{"L"}, "")
	h.fake.Inject(faketalkdesk.Fault{Step: faketalkdesk.StepCreate, Status: 400,
		Body: `{"code":"invalid","message":"client ` + testClientID + ` with secret ` + testSecret + ` refused",` +
			`"fields":[{"name":"secret","description":"` + testSecret + `"}]}`})
	h.start()

	refused := csvBody("refused", 2)
	h.drop(0, "refused.csv", refused)
	if s := h.waitFailed(0, "refused.csv"); !strings.Contains(s, "[redacted]") {
		t.Fatalf("the explanation does not show where the answer's secret was cut out:\n%s", s)
	}
	good := []byte("\xEF\xBB\xBFfirst_name,last_name,mobile_phone\r\nAda,Lovelace,+442071234567\r\n")
	h.drop(0, "good.csv", good)
	h.waitDone(0, "good.csv")
	h.drop(0, "again.csv", good) // a duplicate
	h.waitFailed(0, "again.csv")
	h.drop(0, "empty.csv", nil)
	h.waitFailed(0, "empty.csv")
	h.stop()

	f := h.folder(0)
	for _, c := range []struct {
		path string
		want []byte
	}{
		{filepath.Join(f.Done, "good.csv"), good},
		{filepath.Join(f.Failed, "again.csv"), good},
		{filepath.Join(f.Failed, "refused.csv"), refused},
		{filepath.Join(f.Failed, "empty.csv"), nil},
	} {
		if got, err := os.ReadFile(c.path); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s does not hold the bytes dropped (%v)", c.path, err)
		}
	}

	secrets := append(h.fake.Secrets(), testSecret)
	if len(secrets) < 3 {
		t.Fatalf("the fake handed out no token or signature: %q", secrets)
	}
	check := func(what string, data []byte) {
		t.Helper()
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds a secret value (%d characters long)", what, len(s))
			}
		}
	}
	sidecars, _ := filepath.Glob(filepath.Join(f.Failed, "*"+sidecarSuffix))
	if len(sidecars) != 3 {
		t.Fatalf("sidecars: %v", sidecars)
	}
	want := 0o644 &^ umask()
	for _, p := range sidecars {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		check(p, data)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}

	db, err := os.ReadFile(h.cfg.StateFile)
	if err != nil || !bytes.Contains(db, []byte("good.csv")) {
		t.Fatalf("the state file does not hold the run's records (%v): the check would prove nothing", err)
	}
	check("the state file", db)
	fi, err := os.Stat(h.cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("the state file has mode %04o, want 0600", fi.Mode().Perm())
	}
	check("the log", []byte(h.logBuf.String()))
}

// The note ImportedInPart reads is in a failed folder other users may
// write to: a link planted as a note is not followed, so it cannot make
// listdrop read (or judge by) another file.
func TestImportedInPartReadsNoLinkedNote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	note := "Part 2 of 4 of this file was not imported: …\n\nFile:            a.csv\n" + importedField + "part 1 of 4 (lines 2–300) into record list L1\n"
	if err := os.WriteFile(filepath.Join(dir, "a.csv"+sidecarSuffix), []byte(note), 0o644); err != nil {
		t.Fatal(err)
	}
	if !ImportedInPart(filepath.Join(dir, "a.csv")) {
		t.Fatal("a note that says part 1 is in is not read as such")
	}
	if ImportedInPart(filepath.Join(dir, "none.csv")) {
		t.Fatal("a file without a note is taken as imported in part")
	}
	if err := os.Symlink(filepath.Join(dir, "a.csv"+sidecarSuffix), filepath.Join(dir, "b.csv"+sidecarSuffix)); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if ImportedInPart(filepath.Join(dir, "b.csv")) {
		t.Error("a linked note was followed")
	}
}
