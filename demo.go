package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

const demoList = "6c0c0a3a-2b7e-4a57-9a61-5e1b8f4bd0a1"

const demoCSV = `first_name,last_name,mobile_phone,timezone,priority
Ada,Lovelace,+442071234567,Europe/London,5
Grace,Hopper,+12025550123,America/New_York,3
Alan,Turing,+441619876543,Europe/London,7
`

// demoCampaign is a list of n contacts: a file too big for one upload.
func demoCampaign(n int) string {
	var b strings.Builder
	b.WriteString("first_name,last_name,mobile_phone,timezone,priority\n")
	for i := range n {
		fmt.Fprintf(&b, "Contact%04d,\"Campaign, Spring\",+3519100%05d,Europe/Lisbon,%d\n", i, i, 1+i%10)
	}
	return b.String()
}

// demo runs the whole flow against the embedded fake Talkdesk API and S3:
// a real folder, a real state file, real HTTP on loopback.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "folder for the demo's files (default: a new temporary folder)")
	quiet := fs.Bool("quiet", false, "do not print the daemon's log")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "listdrop-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		*dir = d
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	fake, err := faketalkdesk.Start(faketalkdesk.Options{
		ClientID: "listdrop-demo", ClientSecret: hex.EncodeToString(secret),
		Lists: []string{demoList}, SignContentMD5: true,
		// Talkdesk validates each upload for a while; the demo keeps it short.
		Validation: 300 * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("demo: start the fake Talkdesk: %w", err)
	}
	defer fake.Close()
	fake.SetListName(demoList, "Demo contacts")

	drop := filepath.Join(root, "contacts")
	cfgPath := filepath.Join(root, "listdrop.yaml")
	cfgText := fmt.Sprintf(`# A configuration for the demo: the fake Talkdesk runs inside this process.
talkdesk:
  api_url: %s
  token_url: %s
  client_id: listdrop-demo
  client_secret: ${LISTDROP_DEMO_SECRET}
  timeout: 10s
state_file: state.db
settle: 300ms
empty_grace: 1s # the demo's empty file fails after 1s rather than 5m
rescan: 5s
admin:
  listen: ""   # no admin endpoint for the demo
folders:
  - path: contacts
    record_list_id: %q
    send_atlas_notification: true
    split: true # a file over Talkdesk's 20000 bytes per upload goes in parts
`, fake.URL(), fake.TokenURL(), demoList)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	os.Setenv("LISTDROP_DEMO_SECRET", hex.EncodeToString(secret))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	fmt.Fprintf(stdout, "listdrop demo: a fake Talkdesk API and S3 listen on %s\n", fake.URL())
	fmt.Fprintf(stdout, "configuration: %s\n\n", cfgPath)

	// What an admin runs first: the file, then the account.
	fmt.Fprintf(stdout, "$ listdrop validate --online --config %s\n", cfgPath)
	check := checkConfig(cfgPath)
	check.checkOnline(ctx)
	check.print(stdout, stderr)
	if err := check.err(); err != nil {
		return fmt.Errorf("demo: validate --online: %w", err)
	}
	fmt.Fprintln(stdout)

	logOut := stderr
	if *quiet {
		logOut = io.Discard
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	finished := make(chan state.Entry, 16)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve(runCtx, cfg, log, func(e state.Entry) { finished <- e }) }()

	// Drop the files as an export job should: write under a temporary name,
	// then rename into the folder.
	drops := []struct{ name, body, why string }{
		{"contacts.csv", demoCSV, "three contacts"},
		{"contacts-again.csv", demoCSV, "the same content again: a duplicate"},
		{"empty.csv", "", "an empty file"},
		{"ragged.csv", "first_name,last_name,mobile_phone\nAda,Lovelace\n", "a row with a field missing"},
		{"campaign.csv", demoCampaign(1200), "1200 contacts, over one upload's 20000 bytes"},
	}
	for _, d := range drops {
		if err := waitFor(ctx, served, func() bool { return dirExists(drop) }); err != nil {
			return err
		}
		tmp := filepath.Join(drop, d.name+".part")
		if err := os.WriteFile(tmp, []byte(d.body), 0o644); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(drop, d.name)); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(stdout, "dropped %-20s (%s)\n", d.name, d.why)
		// One at a time, so the duplicate comes after the original.
		select {
		case e := <-finished:
			parts := ""
			if e.Parts > 0 {
				parts = fmt.Sprintf(" (in %d parts)", e.Parts)
			}
			fmt.Fprintf(stdout, "  -> %-6s %s%s\n", e.Result, rel(root, e.Dest), parts)
		case err := <-served:
			return fmt.Errorf("demo: listdrop stopped: %v", err)
		case <-time.After(30 * time.Second):
			return fmt.Errorf("demo: %s was not handled within 30s", d.name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cancel()
	if err := <-served; err != nil {
		return err
	}

	if store, err := state.OpenReadOnly(cfg.StateFile, time.Second); err == nil {
		hist, _ := store.History(time.Time{})
		store.Close()
		for _, e := range hist {
			if e.Outcome != "" {
				fmt.Fprintf(stdout, "Talkdesk's validation of %s: %s\n", filepath.Base(e.Source), e.Outcome)
			}
		}
	}

	fmt.Fprintf(stdout, "\nWhat the fake Talkdesk saw:\n")
	for _, r := range fake.Requests() {
		fmt.Fprintf(stdout, "  %-5s %-70s %d\n", r.Method, r.Path, r.Status)
	}
	for _, c := range fake.Commits() {
		fmt.Fprintf(stdout, "committed to record list %s: %s (%d bytes, md5 %s, upload request %s)\n",
			c.ListID, c.Filename, c.ByteSize, c.Checksum, c.UploadID)
	}
	if v := fake.Violations(); len(v) > 0 {
		return fmt.Errorf("demo: the fake Talkdesk saw requests that break the API's rules: %s", strings.Join(v, "; "))
	}
	notes, _ := filepath.Glob(filepath.Join(cfg.Folders[0].Failed, "*.error.txt"))
	for _, n := range notes {
		text, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		fmt.Fprintf(stdout, "\n%s:\n", rel(root, n))
		for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
			fmt.Fprintf(stdout, "  | %s\n", line)
		}
	}
	fmt.Fprintf(stdout, "\nThe demo's folder is %s: look in contacts/done and contacts/failed.\n", root)
	return nil
}

func waitFor(ctx context.Context, served <-chan error, cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		select {
		case err := <-served:
			return fmt.Errorf("demo: listdrop stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: gave up waiting for the folders")
		}
	}
	return nil
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}
