//go:build packaging

// Package packaging tests the release files: it runs build.sh, installs the
// .deb on this machine and purges it, and reads the .rpm and the .msi.
// It needs root, dpkg, rpm, msitools, wixl and zip (Debian: apt-get
// install rpm msitools wixl zip), and changes the machine: run it with
//
//	go test -tags packaging ./packaging/
package packaging

import (
	"archive/zip"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// testVersion is stamped by build.sh; the packages and the MSI carry it.
const testVersion = "9.8.7"

var root = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(wd)
}()

func TestPackages(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux: it installs the .deb")
	}
	for _, tool := range []string{"dpkg", "rpm", "msiinfo", "msiextract", "wixl", "zip", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (apt-get install rpm msitools wixl zip): %v", tool, err)
		}
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "listdrop").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Fatalf("a listdrop package is installed on this machine (%s): purge it first", out)
	}

	build := exec.Command("bash", filepath.Join(root, "packaging", "build.sh"))
	build.Env = append(os.Environ(), "VERSION=v"+testVersion)
	out, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	dist := filepath.Join(root, "dist")
	arts := artifacts(t, dist)
	for _, want := range []string{
		"listdrop_" + testVersion + "-1_amd64.deb", "listdrop_" + testVersion + "-1_arm64.deb",
		"listdrop-" + testVersion + "-1.x86_64.rpm", "listdrop-" + testVersion + "-1.aarch64.rpm",
		"listdrop_" + testVersion + "_windows_amd64.msi", "listdrop_" + testVersion + "_windows_amd64.zip",
		"SHA256SUMS",
	} {
		if !arts[want] {
			t.Errorf("dist/ lacks %s; it has %v", want, arts)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("checksums", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(sums), "\n"); n != len(arts)-1 {
			t.Errorf("SHA256SUMS has %d lines for %d files", n, len(arts)-1)
		}
		check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
		check.Dir = dist
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check: %v\n%s", err, out)
		}
	})
	t.Run("deb", func(t *testing.T) { testDeb(t, filepath.Join(dist, "listdrop_"+testVersion+"-1_amd64.deb")) })
	t.Run("rpm", func(t *testing.T) { testRPM(t, dist) })
	t.Run("msi", func(t *testing.T) { testMSI(t, filepath.Join(dist, "listdrop_"+testVersion+"_windows_amd64.msi")) })
	t.Run("zip", func(t *testing.T) { testZip(t, filepath.Join(dist, "listdrop_"+testVersion+"_windows_amd64.zip")) })
}

func artifacts(t *testing.T, dist string) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name()] = true
	}
	return names
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkFile checks a file's mode, owning group and, when want is not
// empty, its content.
func checkFile(t *testing.T, path string, mode fs.FileMode, group, want string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if info.Mode().Perm() != mode {
		t.Errorf("%s has mode %v, want %v", path, info.Mode().Perm(), mode)
	}
	if g := groupOf(info); g != group {
		t.Errorf("%s belongs to group %s, want %s", path, g, group)
	}
	if want != "" && readFile(t, path) != want {
		t.Errorf("%s is not the repository's file", path)
	}
}

func groupOf(info fs.FileInfo) string {
	gid := strconv.Itoa(int(info.Sys().(*syscall.Stat_t).Gid))
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return gid
}

func ownerOf(info fs.FileInfo) string {
	uid := strconv.Itoa(int(info.Sys().(*syscall.Stat_t).Uid))
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

func testDeb(t *testing.T, deb string) {
	_, err := user.Lookup("listdrop")
	userExisted := err == nil
	t.Cleanup(func() {
		exec.Command("dpkg", "--purge", "listdrop").Run()
		if !userExisted {
			exec.Command("userdel", "listdrop").Run()
			exec.Command("groupdel", "listdrop").Run()
		}
	})

	out := run(t, "dpkg", "-i", deb)
	if !strings.Contains(out, "enabled at boot, but not started") {
		t.Errorf("dpkg -i did not tell what to do next:\n%s", out)
	}

	// The files.
	checkFile(t, "/usr/bin/listdrop", 0o755, "root", "")
	checkFile(t, "/usr/lib/systemd/system/listdrop.service", 0o644, "root", readFile(t, filepath.Join(root, "packaging", "systemd", "listdrop.service")))
	checkFile(t, "/etc/listdrop/listdrop.yaml", 0o640, "listdrop", readFile(t, filepath.Join(root, "config.example.yaml")))
	checkFile(t, "/etc/default/listdrop", 0o600, "root", readFile(t, filepath.Join(root, "packaging", "linux", "listdrop.env")))
	conffiles := run(t, "dpkg-query", "-W", "-f=${Conffiles}", "listdrop")
	for _, c := range []string{"/etc/listdrop/listdrop.yaml", "/etc/default/listdrop"} {
		if !strings.Contains(conffiles, " "+c+" ") {
			t.Errorf("%s is not a conffile: %q", c, conffiles)
		}
	}

	// The user and its folders.
	u, err := user.Lookup("listdrop")
	if err != nil {
		t.Fatalf("no user listdrop: %v", err)
	}
	if u.HomeDir != "/var/lib/listdrop" {
		t.Errorf("listdrop's home is %s", u.HomeDir)
	}
	if passwd := run(t, "getent", "passwd", "listdrop"); !strings.Contains(passwd, "nologin") {
		t.Errorf("listdrop can log in: %s", passwd)
	}
	for _, dir := range []string{"/var/lib/listdrop", "/var/log/listdrop"} {
		info, err := os.Stat(dir)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		if !info.IsDir() || info.Mode().Perm() != 0o750 || ownerOf(info) != "listdrop" {
			t.Errorf("%s: %v owned by %s, want a folder 0750 owned by listdrop", dir, info.Mode(), ownerOf(info))
		}
	}

	// Enabled, whether or not systemd runs here.
	if _, err := exec.LookPath("systemctl"); err == nil {
		if state, _ := exec.Command("systemctl", "is-enabled", "listdrop.service").Output(); strings.TrimSpace(string(state)) != "enabled" {
			t.Errorf("systemctl is-enabled listdrop = %q, want enabled", state)
		}
	}

	// The installed binary, as the service's user, on the installed config.
	if v := run(t, "/usr/bin/listdrop", "version"); v != "listdrop "+testVersion+"\n" {
		t.Errorf("listdrop version = %q", v)
	}
	validate := exec.Command("setpriv", "--reuid=listdrop", "--regid=listdrop", "--init-groups",
		"env", "LISTDROP_CLIENT_SECRET=packaged-secret", "HOOK_KEY=packaged-hook", "/usr/bin/listdrop", "validate")
	validate.Dir = "/"
	if out, err := validate.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "config OK: 2 folders") {
		t.Errorf("listdrop validate as the user listdrop: %v\n%s", err, out)
	}

	// An edited configuration survives a reinstall.
	edited := readFile(t, "/etc/listdrop/listdrop.yaml") + "# edited by the admin\n"
	if err := os.WriteFile("/etc/listdrop/listdrop.yaml", []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	out = run(t, "dpkg", "-i", "--force-confold", deb)
	if strings.Contains(out, "not started") {
		t.Errorf("a reinstall printed the first-install message:\n%s", out)
	}
	if readFile(t, "/etc/listdrop/listdrop.yaml") != edited {
		t.Error("reinstalling replaced the edited configuration")
	}

	// Purge leaves nothing of the package behind.
	run(t, "dpkg", "--purge", "listdrop")
	for _, p := range []string{"/usr/bin/listdrop", "/usr/lib/systemd/system/listdrop.service", "/etc/listdrop",
		"/etc/default/listdrop", "/var/lib/listdrop", "/var/log/listdrop",
		"/etc/systemd/system/multi-user.target.wants/listdrop.service"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
}

func testRPM(t *testing.T, dist string) {
	for arch, goarch := range map[string]string{"x86_64": "amd64", "aarch64": "arm64"} {
		rpm := filepath.Join(dist, "listdrop-"+testVersion+"-1."+arch+".rpm")
		files := run(t, "rpm", "-qlp", rpm)
		want := "/etc/listdrop\n/etc/listdrop/listdrop.yaml\n/etc/sysconfig/listdrop\n/usr/bin/listdrop\n/usr/lib/systemd/system/listdrop.service\n"
		if files != want {
			t.Errorf("rpm -qlp %s:\n%s\nwant:\n%s", filepath.Base(rpm), files, want)
		}
		if conf := run(t, "rpm", "-qcp", rpm); conf != "/etc/listdrop/listdrop.yaml\n/etc/sysconfig/listdrop\n" {
			t.Errorf("config files of %s: %q", filepath.Base(rpm), conf)
		}
		if tags := run(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", rpm); tags != "listdrop "+testVersion+" 1 "+arch {
			t.Errorf("%s: %q", filepath.Base(rpm), tags)
		}
		scripts := run(t, "rpm", "-qp", "--scripts", rpm)
		for _, want := range []string{"preinstall scriptlet", "useradd --system", "postinstall scriptlet", "systemctl enable listdrop.service",
			"preuninstall scriptlet", "systemctl disable listdrop.service", "postuninstall scriptlet"} {
			if !strings.Contains(scripts, want) {
				t.Errorf("%s scripts lack %q", filepath.Base(rpm), want)
			}
		}
		// The binary inside is the stamped one, for the right machine.
		tmp := t.TempDir()
		run(t, "cp", rpm, filepath.Join(tmp, "x.rpm"))
		run(t, "rpm2archive", filepath.Join(tmp, "x.rpm"))
		archive := filepath.Join(tmp, "x.rpm.tgz")
		list := run(t, "tar", "-tzvf", archive)
		if !strings.Contains(list, "./usr/bin/listdrop") {
			t.Errorf("the archive of %s:\n%s", filepath.Base(rpm), list)
		}
		bin := filepath.Join(t.TempDir(), "listdrop")
		run(t, "sh", "-c", "tar -xzOf "+archive+" ./usr/bin/listdrop > "+bin)
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte(testVersion)) || !bytes.HasPrefix(data, []byte("\x7fELF")) {
			t.Errorf("the binary of %s is not an ELF stamped %s", filepath.Base(rpm), testVersion)
		}
		if goarch == runtime.GOARCH {
			os.Chmod(bin, 0o755)
			if v := run(t, bin, "version"); v != "listdrop "+testVersion+"\n" {
				t.Errorf("version of the binary in %s: %q", filepath.Base(rpm), v)
			}
		}
	}
}

// msiTable is one table of the MSI as rows of columns.
func msiTable(t *testing.T, msi, table string) [][]string {
	t.Helper()
	out := run(t, "msiinfo", "export", msi, table)
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), "\n")
	var rows [][]string
	for _, l := range lines[min(3, len(lines)):] { // column names, types, table name
		rows = append(rows, strings.Split(l, "\t"))
	}
	return rows
}

func findRow(rows [][]string, col int, value string) []string {
	for _, r := range rows {
		if len(r) > col && r[col] == value {
			return r
		}
	}
	return nil
}

func testMSI(t *testing.T, msi string) {
	svc := findRow(msiTable(t, msi, "ServiceInstall"), 1, "listdrop")
	// ServiceInstall: Id, Name, DisplayName, ServiceType, StartType,
	// ErrorControl, LoadOrderGroup, Dependencies, StartName, Password,
	// Arguments, Component, Description.
	if svc == nil {
		t.Fatal("the MSI installs no service listdrop")
	}
	if svc[3] != "16" || svc[4] != "2" || svc[8] != "LocalSystem" {
		t.Errorf("service: type %s (want 16, own process), start %s (want 2, automatic), account %s", svc[3], svc[4], svc[8])
	}
	if want := `run --config "[CommonAppDataFolder]listdrop\listdrop.yaml"`; svc[10] != want {
		t.Errorf("service arguments %q, want %q", svc[10], want)
	}
	ctl := findRow(msiTable(t, msi, "ServiceControl"), 1, "listdrop")
	// Events: stop at install (2), stop (32) and delete (128) at uninstall;
	// never started by the installer.
	if ctl == nil || ctl[2] != "162" {
		t.Errorf("service control %q, want events 162", ctl)
	}

	reg := msiTable(t, msi, "Registry")
	const key = `SYSTEM\CurrentControlSet\Services\EventLog\Application\listdrop`
	for name, value := range map[string]string{"EventMessageFile": "[System64Folder]EventCreate.exe", "TypesSupported": "#7"} {
		r := findRow(reg, 3, name)
		if r == nil || r[1] != "2" || r[2] != key || r[4] != value {
			t.Errorf("event source %s: %q, want HKLM (2) %s = %s", name, r, key, value)
		}
	}

	// Recovery is set by sc.exe, run by tune.js inside the install script;
	// a failure there is logged and never rolls the install back.
	actions := msiTable(t, msi, "CustomAction")
	seq := msiTable(t, msi, "InstallExecuteSequence")
	seqOf := func(action string) int {
		r := findRow(seq, 0, action)
		if r == nil {
			t.Errorf("%s is not in InstallExecuteSequence", action)
			return -1
		}
		n, _ := strconv.Atoi(r[2])
		return n
	}
	for id, cmd := range map[string]string{
		"ServiceRecovery":         `"[System64Folder]sc.exe" failure listdrop reset= 86400 actions= restart/5000/restart/5000/restart/30000`,
		"ServiceRecoveryOnErrors": `"[System64Folder]sc.exe" failureflag listdrop 1`,
	} {
		r := findRow(actions, 0, id)
		// 3141: deferred (1024), not impersonated (2048), its failure
		// ignored (64), a JScript function in the Binary table (5).
		if r == nil || r[1] != "3141" || r[2] != "TuneJs" || r[3] != "Tune" {
			t.Errorf("custom action %s = %q, want type 3141 calling Tune in TuneJs", id, r)
			continue
		}
		// Its command: the property of its name (CustomActionData), set
		// before the install script.
		set := findRow(actions, 2, id)
		if set == nil || set[3] != cmd || set[1] != "2099" && set[1] != "51" {
			t.Errorf("the command of %s = %q, want a type 51 action setting it to %q", id, set, cmd)
		} else if seqOf(set[0]) >= seqOf("InstallInitialize") {
			t.Errorf("%s runs after InstallInitialize: %s would have no command", set[0], id)
		}
		if s := seqOf(id); s <= seqOf("InstallServices") || s >= seqOf("InstallFinalize") {
			t.Errorf("%s runs at %d, not in the install script after InstallServices", id, s)
		}
	}
	// (msiinfo streams, not export: exporting Binary writes its files to
	// the working folder.)
	if streams := run(t, "msiinfo", "streams", msi); !strings.Contains(streams, "Binary.TuneJs") {
		t.Errorf("the MSI lacks the Binary TuneJs (tune.js); its streams:\n%s", streams)
	}
	// A rollback removes the listdrop.yaml that this install created.
	// 3442: cmd.exe named by a property (50), its failure ignored (64), at a
	// rollback (256) of the install script (1024), not impersonated (2048).
	if r := findRow(actions, 0, "ConfigRollback"); r == nil || r[1] != "3442" || r[2] != "CMDEXE" ||
		r[3] != `/c del /f /q "[DATADIR]listdrop.yaml"` {
		t.Errorf("custom action ConfigRollback = %q, want type 3442 deleting listdrop.yaml", r)
	}
	if r := findRow(seq, 0, "ConfigRollback"); r == nil || r[1] != "$Config = 3 AND NOT CONFIGFOUND AND NOT REMOVE" {
		t.Errorf("ConfigRollback's condition: %q, want only when this install puts listdrop.yaml there", r)
	}
	// CONFIGFOUND: listdrop.yaml was there before the install.
	search := findRow(msiTable(t, msi, "AppSearch"), 0, "CONFIGFOUND")
	if search == nil {
		t.Error("AppSearch does not set CONFIGFOUND")
	} else {
		sig := findRow(msiTable(t, msi, "Signature"), 0, search[1])
		loc := findRow(msiTable(t, msi, "DrLocator"), 0, search[1])
		if sig == nil || sig[1] != "listdrop.yaml" || loc == nil || loc[2] != "[CommonAppDataFolder]listdrop" || loc[3] != "0" {
			t.Errorf("CONFIGFOUND looks for %q in %q, want listdrop.yaml in [CommonAppDataFolder]listdrop", sig, loc)
		}
	}
	if seqOf("AppSearch") >= seqOf("CostFinalize") {
		t.Error("AppSearch must run before the install's costs and conditions are settled")
	}
	if s := seqOf("ConfigRollback"); s <= seqOf("InstallInitialize") || s >= seqOf("InstallFiles") || seqOf("SetCmdExe") >= seqOf("InstallInitialize") {
		t.Error("ConfigRollback must be scheduled before InstallFiles, which it undoes, with CMDEXE set before the script")
	}

	// A release has no step broken on purpose (MSI_TEST_FAILURE), and no
	// custom action of its own that could stop the install.
	for _, r := range actions {
		switch r[0] {
		case "ServiceRecovery", "ServiceRecoveryOnErrors", "SetServiceRecovery", "SetServiceRecoveryOnErrors",
			"SetCmdExe", "ConfigRollback":
		default:
			t.Errorf("custom action %q: only the tuning actions and their commands are expected", r)
		}
	}
	if s := seqOf("RemoveExistingProducts"); s <= seqOf("InstallValidate") || s >= seqOf("InstallInitialize") {
		t.Errorf("RemoveExistingProducts at %d: the old version must go before anything is installed", s)
	}

	props := msiTable(t, msi, "Property")
	if r := findRow(props, 0, "ProductVersion"); r == nil || r[1] != testVersion {
		t.Errorf("ProductVersion %q, want %s", r, testVersion)
	}
	upgrade := msiTable(t, msi, "Upgrade")
	if r := findRow(upgrade, 6, "OLDERFOUND"); r == nil || r[1] != "0.0.0" || r[2] != "9.8.8" {
		t.Errorf("upgrade of older and same versions: %q", r)
	}

	// The files: the stamped Windows program and the Windows example.
	dir := t.TempDir()
	cmd := exec.Command("msiextract", "-C", dir, msi)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, out)
	}
	var exe, example string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.Name() == "listdrop.exe":
			exe = p
		case d.Name() == "listdrop.example.yaml":
			example = p
		}
		return nil
	})
	if exe == "" || example == "" {
		t.Fatalf("the MSI lacks listdrop.exe or listdrop.example.yaml")
	}
	// Where they go: File -> Component -> Directory -> its parent.
	files, comps, dirs := msiTable(t, msi, "File"), msiTable(t, msi, "Component"), msiTable(t, msi, "Directory")
	for name, want := range map[string]string{"listdrop.exe": "ProgramFiles64Folder", "listdrop.example.yaml": "CommonAppDataFolder", "listdrop.yaml": "CommonAppDataFolder"} {
		var where []string
		if f := findRow(files, 2, name); f != nil {
			if c := findRow(comps, 0, f[1]); c != nil {
				if d := findRow(dirs, 0, c[2]); d != nil {
					where = []string{d[1], d[2]}
				}
			}
		}
		if len(where) != 2 || where[0] != want || where[1] != "listdrop" {
			t.Errorf("%s goes to %q, want %s\\listdrop", name, where, want)
		}
	}
	// The first configuration is a file of its own component, so that a
	// rollback takes it away; 400: 64-bit (256), never overwritten (128),
	// never removed (16).
	if f := findRow(files, 2, "listdrop.yaml"); f == nil {
		t.Error("the MSI installs no listdrop.yaml")
	} else if c := findRow(comps, 0, f[1]); c == nil || c[3] != "400" || c[5] != f[0] {
		t.Errorf("the component of listdrop.yaml is %q, want attributes 400 and the file as its key", c)
	}
	data := readFile(t, exe)
	if !strings.HasPrefix(data, "MZ") || !strings.Contains(data, testVersion) {
		t.Error("listdrop.exe is not a Windows program stamped with the version")
	}
	if readFile(t, example) != readFile(t, filepath.Join(root, "packaging", "windows", "listdrop.yaml")) {
		t.Error("listdrop.example.yaml is not packaging/windows/listdrop.yaml")
	}
}

func testZip(t *testing.T, path string) {
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var names []string
	for _, f := range z.File {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	// The README, the manual it links to (docs/, every file), the example
	// configurations and the program.
	wantNames := []string{"README.md", "config.example.yaml", "listdrop.exe", "listdrop.windows.yaml"}
	docs, err := os.ReadDir(filepath.Join(root, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		wantNames = append(wantNames, "docs/"+d.Name())
	}
	sort.Strings(wantNames)
	if got, want := strings.Join(names, " "), strings.Join(wantNames, " "); got != want {
		t.Errorf("zip holds %s, want %s", got, want)
	}
}
