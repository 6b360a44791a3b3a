package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
)

// retryTarget is one failed file to put back.
type retryTarget struct {
	folder config.Folder
	path   string // in folder.Failed
}

// retryCommand runs `listdrop retry`.
func retryCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset, cfgPath := newFlagSet("retry", stderr)
	all := fset.Bool("all-failed", false, "every failed file (of --folder only, when given)")
	folder := fset.String("folder", "", "only this drop folder's failed files")
	force := fset.Bool("force", false, "let a duplicate through once: its content is imported again")
	files, err := parseInterspersed(fset, args)
	if err != nil {
		return errUsage
	}
	if *all == (len(files) > 0) {
		fmt.Fprintln(stderr, "listdrop retry: name the failed files, or give --all-failed")
		return errUsage
	}
	cfg, err := config.LoadLocal(*cfgPath)
	if err != nil {
		return err
	}
	folders := cfg.Folders
	if *folder != "" {
		f, ok := findFolder(cfg, *folder)
		if !ok {
			return fmt.Errorf("--folder %s is not a drop folder of %s", *folder, cfg.Path)
		}
		folders = []config.Folder{f}
	}

	var targets []retryTarget
	problems := 0 // files named that could not be put back
	left := 0     // files imported in part, which --all-failed leaves
	if *all {
		for _, f := range folders {
			ents, err := os.ReadDir(f.Failed)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, e := range ents {
				p := filepath.Join(f.Failed, e.Name())
				switch {
				case !e.Type().IsRegular() || !isFailedFile(e.Name()):
				case pipeline.ImportedInPart(p) && !*force:
					// Refused by retryOne: --all leaves it, as the page's
					// Retry all does, and says so.
					fmt.Fprintf(stdout, "%s: left in place: imported in part (its .remaining.csv holds the rest)\n", display.Name(p))
					left++
				default:
					targets = append(targets, retryTarget{folder: f, path: p})
				}
			}
		}
	} else {
		seen := map[string]bool{}
		for _, arg := range files {
			t, err := findFailed(folders, arg)
			if err != nil {
				fmt.Fprintf(stderr, "listdrop retry: %s\n", display.Name(err.Error()))
				problems++
				continue
			}
			if !seen[t.path] {
				seen[t.path] = true
				targets = append(targets, t)
			}
		}
	}
	if len(targets) == 0 && problems == 0 && left == 0 {
		fmt.Fprintln(stdout, "no failed files")
		return nil
	}

	allow := allowOnce(ctx, cfg)
	defer allow.close()
	for _, t := range targets {
		msg, err := retryOne(t, *force, allow.do)
		if err != nil {
			fmt.Fprintf(stderr, "listdrop retry: %s: %s\n", display.Name(t.path), display.Name(err.Error()))
			problems++
			continue
		}
		fmt.Fprintln(stdout, display.Name(msg))
	}
	if problems > 0 {
		return fmt.Errorf("%d %s not put back", problems, plural(problems, "file was", "files were"))
	}
	return nil
}

// findFailed resolves a FILE argument: a path in a failed folder, or a
// bare name looked up in each folder's failed folder. A note's name
// (NAME.error.txt, as a shell's failed/* gives) stands for its file.
func findFailed(folders []config.Folder, arg string) (retryTarget, error) {
	arg = strings.TrimSuffix(arg, pipeline.SidecarSuffix)
	var found []retryTarget
	if filepath.Base(arg) != arg || filepath.IsAbs(arg) {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return retryTarget{}, err
		}
		for _, f := range folders {
			if samePath(f.Failed, filepath.Dir(abs)) {
				found = append(found, retryTarget{folder: f, path: filepath.Join(f.Failed, filepath.Base(abs))})
			}
		}
		if len(found) == 0 {
			return retryTarget{}, fmt.Errorf("%s is not in the failed folder of a drop folder", arg)
		}
	} else {
		for _, f := range folders {
			if p := filepath.Join(f.Failed, arg); fileExists(p) {
				found = append(found, retryTarget{folder: f, path: p})
			}
		}
		switch len(found) {
		case 0:
			return retryTarget{}, fmt.Errorf("no failed file is named %s", arg)
		case 1:
		default:
			var where []string
			for _, t := range found {
				where = append(where, t.path)
			}
			return retryTarget{}, fmt.Errorf("%s is in more than one failed folder (%s): give its path, or --folder", arg, strings.Join(where, ", "))
		}
	}
	fi, err := os.Lstat(found[0].path)
	if errors.Is(err, fs.ErrNotExist) {
		return retryTarget{}, fmt.Errorf("%s does not exist", found[0].path)
	}
	if err != nil {
		return retryTarget{}, err
	}
	if !fi.Mode().IsRegular() {
		return retryTarget{}, fmt.Errorf("%s is not a file", found[0].path)
	}
	return found[0], nil
}

// retryOne puts one failed file back into its drop folder under a free
// name and removes its note; with force, its content is first allowed
// through the list's duplicate check once.
func retryOne(t retryTarget, force bool, allow func(list, sum string) error) (string, error) {
	if !force && pipeline.ImportedInPart(t.path) {
		return "", fmt.Errorf("%s was imported in part before it failed (its note says which lines): put back, it would import those records again. Put back the .remaining.csv its note names instead, which holds the rest; to import the whole file again anyway: listdrop retry --force, or the status page's Let it through once", filepath.Base(t.path))
	}
	extra := ""
	if force {
		data, err := os.ReadFile(t.path)
		if err != nil {
			return "", err
		}
		sum := md5.Sum(data)
		if err := allow(t.folder.RecordListID, hex.EncodeToString(sum[:])); err != nil {
			return "", fmt.Errorf("allow it once more: %w", err)
		}
		extra = fmt.Sprintf("; record list %s will take its content once more", t.folder.RecordListID)
	}
	dst, _, err := fsutil.MoveToFree(t.path, t.folder.Path, filepath.Base(t.path))
	if err != nil {
		return "", err
	}
	if err := os.Remove(t.path + pipeline.SidecarSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("put back as %s, but the note stays: %w", dst, err)
	}
	return fmt.Sprintf("%s -> %s%s", t.path, dst, extra), nil
}

// allower records allowances through the daemon when it answers, else in
// the state file, opened once.
type allower struct {
	ctx   context.Context
	cfg   *config.Config
	admin *adminClient
	store *state.Store
}

func allowOnce(ctx context.Context, cfg *config.Config) *allower {
	return &allower{ctx: ctx, cfg: cfg, admin: newAdminClient(cfg)}
}

func (a *allower) do(list, sum string) error {
	if a.store == nil {
		answered, err := ask(a.ctx, a.admin, http.MethodPost, "/allow-once", admin.AllowOnceRequest{ListID: list, MD5: sum}, nil)
		if answered || err != nil {
			return err
		}
		s, err := state.Open(a.cfg.StateFile, readLockTimeout)
		if errors.Is(err, state.ErrLocked) {
			return daemonUnreachable(a.cfg, a.admin)
		}
		if err != nil {
			return err
		}
		a.store = s
	}
	return a.store.AllowOnce(list, sum)
}

func (a *allower) close() {
	if a.store != nil {
		a.store.Close()
	}
}

// pageActions are the status page's view of the failed folders and its
// retry button: the same steps as `listdrop retry`, for one bare name in
// one configured folder, with an allowance written straight into the
// state the daemon holds.
func pageActions(cfg *config.Config, store *state.Store) (failed func(folder string) []admin.FailedFile, retry func(folder, name string, force bool) (string, error)) {
	byPath := func(path string) (config.Folder, bool) {
		for _, f := range cfg.Folders {
			if f.Path == path {
				return f, true
			}
		}
		return config.Folder{}, false
	}
	failed = func(folder string) []admin.FailedFile {
		f, ok := byPath(folder)
		if !ok {
			return nil
		}
		ents, err := os.ReadDir(f.Failed)
		if err != nil {
			return nil
		}
		var files []admin.FailedFile
		for _, e := range ents {
			if name := e.Name(); e.Type().IsRegular() && isFailedFile(name) {
				p := filepath.Join(f.Failed, name)
				files = append(files, admin.FailedFile{Name: name, InPart: pipeline.ImportedInPart(p),
					Remainder: pipeline.IsRemainder(name, fileExists(p+pipeline.SidecarSuffix))})
			}
		}
		return files
	}
	retry = func(folder, name string, force bool) (string, error) {
		f, ok := byPath(folder)
		if !ok {
			return "", fmt.Errorf("%s is not a drop folder", folder)
		}
		if name == "" || filepath.Base(name) != name || name == "." || name == ".." || !isFailedFile(name) {
			return "", fmt.Errorf("%q is not the name of a failed file", name)
		}
		t, err := findFailed([]config.Folder{f}, name)
		if err != nil {
			return "", err
		}
		return retryOne(t, force, store.AllowOnce)
	}
	return failed, retry
}
