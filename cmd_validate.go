package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/talkdesk"
)

// validateReport is what `listdrop validate` found, printed as text or,
// with --json, as this structure.
type validateReport struct {
	OK      bool           `json:"ok"`
	Config  configCheck    `json:"config"`
	Token   *tokenCheck    `json:"token,omitempty"`   // --online only
	Folders []folderCheck  `json:"folders,omitempty"` // --online only, after a token
	cfg     *config.Config // nil when the file did not load
}

type configCheck struct {
	OK       bool     `json:"ok"`
	Summary  string   `json:"summary,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Problem  string   `json:"problem,omitempty"`
}

type tokenCheck struct {
	OK         bool   `json:"ok"`
	TokenURL   string `json:"token_url"`
	ClientID   string `json:"client_id"`
	AuthMethod string `json:"auth_method"`
	Problem    string `json:"problem,omitempty"`
}

type folderCheck struct {
	Key          string `json:"key"`
	Path         string `json:"path"`
	RecordListID string `json:"record_list_id"`
	OK           bool   `json:"ok"`
	Name         string `json:"name,omitempty"`
	Status       string `json:"status,omitempty"`
	RecordsCount int    `json:"records_count"`
	Problem      string `json:"problem,omitempty"`
}

// validateCommand runs `listdrop validate [--online] [--json]`: the file's
// checks, then with --online a token and each folder's record list.
// Nothing is uploaded and nothing is written.
func validateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("validate", stderr)
	online := fs.Bool("online", false, "also ask Talkdesk for a token and read each folder's record list")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "listdrop validate: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	rep := checkConfig(*cfgPath)
	if rep.cfg != nil && *online {
		rep.checkOnline(ctx)
	}
	rep.OK = rep.allOK()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(stdout, stderr)
	}
	return rep.err()
}

func checkConfig(path string) *validateReport {
	rep := &validateReport{}
	cfg, err := config.Load(path)
	if err != nil {
		rep.Config.Problem = err.Error()
		return rep
	}
	if err := admin.CheckWebConfig(cfg.Admin.WebConfigFile, cfg.Admin.Loopback()); err != nil {
		rep.Config.Problem = err.Error()
		return rep
	}
	rep.cfg = cfg
	rep.Config = configCheck{OK: true, Summary: cfg.Summary(), Warnings: cfg.Warnings()}
	return rep
}

// checkOnline asks for a token and, when one comes, reads every folder's
// record list.
func (rep *validateReport) checkOnline(ctx context.Context) {
	cfg := rep.cfg
	client, err := newClient(cfg, slog.New(slog.DiscardHandler), 1)
	tc := &tokenCheck{TokenURL: cfg.Talkdesk.TokenURL, ClientID: cfg.Talkdesk.ClientID}
	rep.Token = tc
	if err != nil {
		tc.Problem = "cannot build the Talkdesk client: " + err.Error()
		return
	}
	tc.AuthMethod = client.AuthMethod()
	if err := client.CheckToken(ctx); err != nil {
		tc.Problem = tokenProblem(cfg, client, err)
		return
	}
	tc.OK = true
	seen := map[string]folderCheck{}
	for i, f := range cfg.Folders {
		fc, ok := seen[f.RecordListID]
		if !ok {
			fc = checkList(ctx, cfg, client, f.RecordListID)
			seen[f.RecordListID] = fc
		}
		fc.Key, fc.Path = fmt.Sprintf("folders[%d]", i), f.Path
		if !fc.OK {
			fc.Problem = fc.Key + ".record_list_id: " + fc.Problem
		}
		rep.Folders = append(rep.Folders, fc)
	}
}

func checkList(ctx context.Context, cfg *config.Config, client *talkdesk.Client, id string) folderCheck {
	fc := folderCheck{RecordListID: id}
	l, err := client.GetRecordList(ctx, id)
	if err != nil {
		fc.Problem = listProblem(cfg, client, id, err)
		return fc
	}
	fc.OK, fc.Name, fc.Status, fc.RecordsCount = true, l.Name, l.Status, l.RecordsCount
	return fc
}

func (rep *validateReport) print(stdout, stderr io.Writer) {
	if !rep.Config.OK {
		return // the error says it
	}
	for _, w := range rep.Config.Warnings {
		fmt.Fprintln(stderr, "listdrop: warning:", w)
	}
	fmt.Fprintln(stdout, rep.Config.Summary)
	tc := rep.Token
	if tc == nil || !tc.OK {
		return // offline, or the error says why there is no token
	}
	fmt.Fprintf(stdout, "token OK: client %s authenticated (%s) at %s\n", tc.ClientID, tc.AuthMethod, tc.TokenURL)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FOLDER\tLIST\tNAME\tSTATUS\tRECORDS")
	for _, f := range rep.Folders {
		if f.OK {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", f.Path, f.RecordListID, printable(f.Name), f.Status, f.RecordsCount)
		} else {
			// The problem follows on standard error, named by its key.
			fmt.Fprintf(tw, "%s\t%s\t?\tCANNOT READ\t-\n", f.Path, f.RecordListID)
		}
	}
	tw.Flush()
}

func (rep *validateReport) allOK() bool {
	ok := rep.Config.OK && (rep.Token == nil || rep.Token.OK)
	for _, f := range rep.Folders {
		ok = ok && f.OK
	}
	return ok
}

// err is the command's error: nil when every check passed, else each
// problem in a sentence, one per line.
func (rep *validateReport) err() error {
	if rep.allOK() {
		return nil
	}
	var problems []string
	if rep.Config.Problem != "" {
		problems = append(problems, rep.Config.Problem)
	}
	if rep.Token != nil && rep.Token.Problem != "" {
		problems = append(problems, rep.Token.Problem)
	}
	for _, f := range rep.Folders {
		if f.Problem != "" {
			problems = append(problems, f.Problem)
		}
	}
	if len(problems) == 1 {
		return errors.New(problems[0])
	}
	return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
}

// printable keeps a name from Talkdesk on one line of the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
