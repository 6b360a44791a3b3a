// Command listdrop watches folders and uploads every CSV dropped in them to
// a Talkdesk record list, exactly once, then moves the file to done/, or to
// failed/ with a plain explanation beside it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `listdrop uploads the CSV files dropped in folders to Talkdesk record lists.

Usage:
  listdrop run [--config FILE]       watch the folders until stopped (SIGINT/SIGTERM)
  listdrop validate [--config FILE] [--online] [--json]
                                     check a configuration file and exit; --online also
                                     gets a token and reads each folder's record list
                                     (uploads nothing, writes nothing)
  listdrop demo [--dir DIR]          run the whole flow against a local fake Talkdesk
  listdrop version                   print the version

Operating (each takes --config FILE; works whether or not the daemon runs):
  listdrop status                    running or not, files waiting, held and failed
                                     per folder, what is stuck and why, the last failure
  listdrop history [--folder F] [--failed] [--since 24h] [--json]
                                     the files finished lately: time, list, size, result,
                                     upload request, Talkdesk's validation outcome
  listdrop retry FILE... | --all-failed [--folder F] [--force]
                                     put failed files back into their drop folder;
                                     --force lets a duplicate through once
  listdrop upload FILE --list ID     upload one file now, without the daemon
  listdrop open                      a one-time link that signs a browser in to the
                                     status page (http://127.0.0.1:9464/); needs the daemon

As a service (systemd, Windows service manager; needs root or Administrator):
  listdrop install [--config FILE] [--user NAME]
                                     install the service, started at boot with FILE
  listdrop uninstall                 stop and remove the service
  listdrop start | stop | restart    control the installed service
                                     (listdrop status also says what the service manager says)

Without --config, the configuration is read from %s.
`

// errUsage marks a command line that could not be understood (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "listdrop:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// machine is what the commands ask of the machine they run on, as
// fields so that tests can give other answers without changing them for
// every other test.
type machine struct {
	// elevated reports whether the process may install and control
	// services.
	elevated func() bool
	// serviceState is what the service manager says of the listdrop
	// service (serviceStateOf).
	serviceState func() string
}

// thisMachine asks the machine itself.
var thisMachine = machine{elevated: isElevated, serviceState: serviceStateOf}

// run executes one command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return thisMachine.run(ctx, args, stdout, stderr)
}

func (m machine) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, defaultConfigPath())
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		path, err := configFlag(cmd, rest, stderr)
		if err != nil {
			return err
		}
		return runDaemon(ctx, path, stderr)
	case "validate":
		return validateCommand(ctx, rest, stdout, stderr)
	case "demo":
		return demo(ctx, rest, stdout, stderr)
	case "install", "uninstall", "start", "stop", "restart":
		return serviceCommand(cmd, rest, stdout, stderr, m.elevated)
	case "status":
		return statusCommand(ctx, rest, stdout, stderr, m.serviceState)
	case "history":
		return historyCommand(ctx, rest, stdout, stderr)
	case "retry":
		return retryCommand(ctx, rest, stdout, stderr)
	case "open":
		return openCommand(ctx, rest, stdout, stderr)
	case "upload":
		return uploadCommand{}.run(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "listdrop", version())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprintf(stdout, usage, defaultConfigPath())
		return nil
	}
	fmt.Fprintf(stderr, "listdrop: unknown command %q\n\n", cmd)
	fmt.Fprintf(stderr, usage, defaultConfigPath())
	return errUsage
}

// configFlag parses the one flag run and validate take.
func configFlag(cmd string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	if err := fs.Parse(args); err != nil {
		return "", errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "listdrop %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return "", errUsage
	}
	return *path, nil
}
