package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
)

// historyCommand runs `listdrop history`.
func historyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("history", stderr)
	folder := fs.String("folder", "", "only the files dropped in this folder")
	failedOnly := fs.Bool("failed", false, "only the files that failed")
	sinceText := fs.String("since", "24h", "how far back: a duration (90m, 24h, 7d) or a time (2006-01-02 or RFC 3339)")
	asJSON := fs.Bool("json", false, "print the entries as JSON, with every field")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "listdrop history: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	since, err := parseSince(*sinceText, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "listdrop history: --since: %v\n", err)
		return errUsage
	}
	cfg, err := config.LoadLocal(*cfgPath)
	if err != nil {
		return err
	}
	var folderPath string
	if *folder != "" {
		// A folder no longer configured still has its history.
		if f, ok := findFolder(cfg, *folder); ok {
			folderPath = f.Path
		} else if folderPath, err = filepath.Abs(*folder); err != nil {
			return err
		}
	}

	entries, err := readHistory(ctx, cfg, since)
	if err != nil {
		return err
	}
	kept := entries[:0]
	for _, e := range entries {
		if (*failedOnly && e.Result != state.Failed) || (folderPath != "" && filepath.Clean(e.Folder) != folderPath) {
			continue
		}
		kept = append(kept, e)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(kept)
	}
	printHistory(stdout, kept)
	return nil
}

// readHistory asks the daemon when it answers, else reads the state file.
func readHistory(ctx context.Context, cfg *config.Config, since time.Time) ([]state.Entry, error) {
	a := newAdminClient(cfg)
	entries := []state.Entry{}
	answered, err := ask(ctx, a, http.MethodGet, "/history?since="+url.QueryEscape(since.UTC().Format(time.RFC3339Nano)), nil, &entries)
	if answered || err != nil {
		return entries, err
	}
	store, err := openStateForReading(cfg, a)
	if err != nil || store == nil {
		return entries, err
	}
	defer store.Close()
	return store.History(since)
}

// parseSince reads --since: a duration back from now (with d for days), a
// date, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q is negative", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (90m, 24h, 7d) nor a time (2006-01-02 or 2006-01-02T15:04:05Z)", s)
}

// printHistory prints one line per file, oldest first; a failed file's
// reason is its last column.
func printHistory(w io.Writer, entries []state.Entry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no files in this period")
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tLIST\tSIZE\tRESULT\tUPLOAD REQUEST\tOUTCOME\tFILE\tREASON")
	for _, e := range entries {
		result := string(e.Result)
		if e.Parts > 0 {
			// A split file: how many of its parts are in.
			result += fmt.Sprintf(" (%d/%d parts)", len(e.PartsIn), e.Parts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", display.Time(e.At), e.ListID, e.Size, result,
			display.Name(dash(e.UploadID)), display.Name(dash(e.Outcome)), display.Name(filepath.Base(e.Source)), display.Name(e.Reason))
	}
	tw.Flush()
	// A line without a reason would end in the padding of its file column.
	for line := range strings.Lines(b.String()) {
		fmt.Fprintln(w, strings.TrimRight(line, " \n"))
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
