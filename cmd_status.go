package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kardianos/service"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/pipeline"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/watcher"
)

// statusView is what `listdrop status` prints: the daemon's own report
// when it answers, else what the folders and the state file say.
type statusView struct {
	running   bool
	version   string
	started   time.Time
	admin     string
	stateFile string
	noState   bool   // the state file does not exist yet
	service   string // the service manager's word, "" when not installed
	recovery  string // what the service's recovery settings lack, if anything
	st        pipeline.Status
	waiting   map[string]int // eligible files in each drop folder; -1: unreadable
	failed    map[string]int // files in each failed folder, without their notes
	remains   map[string]int // of them, the records of split files not imported
}

// serviceStateOf is what the service manager says of the listdrop
// service: running, stopped or not installed; "" when there is no service
// manager to ask.
func serviceStateOf() string {
	s, err := service.New(nil, &service.Config{Name: serviceName})
	if err != nil {
		return ""
	}
	text, err := statusText(s)
	if err != nil {
		return ""
	}
	if text == statusNotInstalled {
		return text
	}
	return text + " (" + s.Platform() + ")"
}

// statusCommand runs `listdrop status`; serviceState is serviceStateOf
// but in tests.
func statusCommand(ctx context.Context, args []string, stdout, stderr io.Writer, serviceState func() string) error {
	fs, cfgPath := newFlagSet("status", stderr)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "listdrop status: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := config.LoadLocal(*cfgPath)
	if err != nil {
		return err
	}
	v := statusView{stateFile: cfg.StateFile, service: serviceState()}
	if v.service != "" && v.service != statusNotInstalled {
		v.recovery = recoveryNote()
	}
	a := newAdminClient(cfg)
	var rep admin.Report
	answered, err := ask(ctx, a, http.MethodGet, "/status", nil, &rep)
	if err != nil {
		return err
	}
	if answered {
		v.running, v.version, v.started, v.admin, v.st = true, rep.Version, rep.Started, a.listen, rep.Status
	} else {
		store, err := openStateForReading(cfg, a)
		if err != nil {
			return err
		}
		v.st, err = offlineStatus(cfg, store)
		if store != nil {
			store.Close()
		} else {
			v.noState = true
		}
		if err != nil {
			return err
		}
	}
	v.waiting, v.failed, v.remains = map[string]int{}, map[string]int{}, map[string]int{}
	for _, f := range cfg.Folders {
		v.waiting[f.Path] = countFiles(f.Path, func(name string) bool {
			return watcher.Eligible(name) || (f.XLSX && watcher.EligibleWorkbook(name))
		})
		v.failed[f.Path] = countFiles(f.Failed, isFailedFile)
		v.remains[f.Path] = countFiles(f.Failed, func(name string) bool {
			return isFailedFile(name) && pipeline.IsRemainder(name, fileExists(filepath.Join(f.Failed, name+pipeline.SidecarSuffix)))
		})
	}
	printStatus(stdout, v)
	return nil
}

// offlineStatus builds, from the folders and the state file, the part of a
// pipeline.Status that outlives the daemon: held files and recent results.
func offlineStatus(cfg *config.Config, store *state.Store) (pipeline.Status, error) {
	var st pipeline.Status
	var active []state.Record
	var hist []state.Entry
	if store != nil {
		var err error
		if active, err = store.Active(); err != nil {
			return st, fmt.Errorf("read state: %w", err)
		}
		if hist, err = store.History(time.Now().Add(-7 * 24 * time.Hour)); err != nil {
			return st, fmt.Errorf("read state: %w", err)
		}
	}
	for _, fc := range cfg.Folders {
		var recent []state.Entry
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].Folder == fc.Path {
				recent = append(recent, hist[i])
			}
		}
		fs := pipeline.FolderStatusOf(fc, active, recent)
		if fi, err := os.Stat(fc.Path); err == nil && fi.IsDir() {
			fs.Available = true
		} else {
			st.Problems = append(st.Problems, "folder "+fc.Path+" is not available")
		}
		st.Folders = append(st.Folders, fs)
	}
	st.Healthy = len(st.Problems) == 0
	return st, nil
}

// countFiles counts the regular files in dir whose names pass keep; -1
// when dir cannot be read.
func countFiles(dir string, keep func(string) bool) int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) && dir != "" {
			return 0
		}
		return -1
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() && keep(e.Name()) {
			n++
		}
	}
	return n
}

// isFailedFile tells a failed file from the notes and temporary files
// beside it.
func isFailedFile(name string) bool {
	return !strings.HasPrefix(name, ".") && !strings.HasSuffix(name, pipeline.SidecarSuffix)
}

// phaseWords says what a held file is doing.
var phaseWords = map[string]string{
	string(state.Hashed):    "uploading",
	string(state.Patching):  "starting validation",
	string(state.Committed): "uploaded, moving to done/",
	string(state.Failing):   "failed, moving to failed/",
}

func printStatus(w io.Writer, v statusView) {
	if v.running {
		fmt.Fprintf(w, "listdrop is running: version %s, started %s, admin endpoint %s\n", v.version, display.Time(v.started), v.admin)
	} else if v.noState {
		fmt.Fprintf(w, "listdrop is not running, and has not run with this configuration (no state file %s)\n", v.stateFile)
	} else {
		fmt.Fprintf(w, "listdrop is not running (state file %s)\n", v.stateFile)
	}
	if v.service != "" {
		fmt.Fprintf(w, "Service: %s\n", v.service)
	}
	if v.recovery != "" {
		fmt.Fprintln(w, v.recovery)
	}
	switch {
	case v.running && v.st.Healthy:
		fmt.Fprintln(w, "Health: ok")
	case v.running:
		fmt.Fprintln(w, "Health: unhealthy")
	case len(v.st.Problems) > 0:
		fmt.Fprintln(w, "Problems:")
	}
	for _, p := range v.st.Problems {
		fmt.Fprintf(w, "  - %s\n", display.Name(p))
	}
	if v.running {
		switch {
		case v.st.LastContact.IsZero():
			fmt.Fprintln(w, "Talkdesk: not contacted since the start")
		case v.st.LastError != "":
			fmt.Fprintf(w, "Talkdesk: the last contact, at %s, failed: %s\n", display.Time(v.st.LastContact), display.Name(v.st.LastError))
		default:
			fmt.Fprintf(w, "Talkdesk: last reached %s\n", display.Time(v.st.LastContact))
		}
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// The names come from the running daemon, once it has reached Talkdesk.
	named := false
	for _, f := range v.st.Folders {
		named = named || f.ListName != ""
	}
	if named {
		fmt.Fprintln(tw, "LIST\tNAME\tWAITING\tHELD\tFAILED\tLAST UPLOAD\tFOLDER")
	} else {
		fmt.Fprintln(tw, "LIST\tWAITING\tHELD\tFAILED\tLAST UPLOAD\tFOLDER")
	}
	held, waiting, failed, remains := 0, 0, 0, 0
	var lastFail *state.Entry
	for _, f := range v.st.Folders {
		last := "-"
		for i := range f.Recent {
			e := &f.Recent[i]
			if e.Result == state.Done && last == "-" {
				last = display.Time(e.At)
			}
			if e.Result == state.Failed && (lastFail == nil || e.At.After(lastFail.At)) {
				lastFail = e
			}
		}
		held += len(f.Held)
		waiting += max(v.waiting[f.Path], 0)
		failed += max(v.failed[f.Path], 0)
		remains += max(v.remains[f.Path], 0)
		list := f.ListID
		if named {
			name := printable(f.ListName)
			if name == "" {
				name = "?"
			}
			list += "\t" + name
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", list, countText(v.waiting[f.Path]), len(f.Held), countText(v.failed[f.Path]), last, f.Path)
	}
	tw.Flush()

	if held > 0 {
		fmt.Fprintln(w)
		if v.running {
			fmt.Fprintln(w, "Held files (taken, not finished):")
		} else {
			fmt.Fprintln(w, "Held files (left by the last run; resumed at the next start):")
		}
		for _, f := range v.st.Folders {
			for _, h := range f.Held {
				words := phaseWords[h.Phase]
				if words == "" {
					words = h.Phase
				}
				if h.Parts > 0 {
					words = fmt.Sprintf("part %d of %d, %s", h.Part, h.Parts, words)
				}
				fmt.Fprintf(w, "  %s in %s: %s since %s", display.Name(h.File), display.Name(f.Path), words, display.Time(h.Since))
				if h.Attempts > 0 {
					fmt.Fprintf(w, ", %d failed %s", h.Attempts, plural(h.Attempts, "try", "tries"))
				}
				fmt.Fprintln(w)
				if h.LastError != "" {
					fmt.Fprintf(w, "    last error: %s\n", display.Name(h.LastError))
				}
			}
		}
	}
	printNotes(w, v.st.Folders)
	if lastFail != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Last failure: %s at %s (list %s)\n", display.Name(filepath.Base(lastFail.Source)), display.Time(lastFail.At), lastFail.ListID)
		fmt.Fprintf(w, "  %s\n", display.Name(lastFail.Reason))
		if note := lastFail.Dest + pipeline.SidecarSuffix; lastFail.Dest != "" && fileExists(note) {
			fmt.Fprintf(w, "  see %s\n", display.Name(note))
		}
	}
	if !v.running && waiting > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%d %s the drop folders until listdrop runs.\n", waiting, plural(waiting, "file waits in", "files wait in"))
	}
	if failed > remains {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%d %s in failed/: the first line of NAME.error.txt beside each says why; after fixing the cause, `listdrop retry NAME` puts a file back.\n",
			failed-remains, plural(failed-remains, "file is", "files are"))
	}
	if remains > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%d %s in failed/ the records of a file imported in part, which were not imported (NAME.remaining.csv; the note of the file they come from says why): after fixing the cause, `listdrop retry NAME` imports them.\n",
			remains, plural(remains, "file holds", "files hold"))
	}
}

// countText prints a file count, or "?" for a folder that cannot be read.
func countText(n int) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
