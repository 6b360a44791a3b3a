package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/listdrop/listdrop/admin"
	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/display"
)

// openCommand runs `listdrop open`: it asks the running daemon for a
// one-time sign-in link to its status page, with the token only root,
// administrators and the service's user can read, and prints it.
func openCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlagSet("open", stderr)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "listdrop open: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	cfg, err := config.LoadLocal(*cfgPath)
	if err != nil {
		return err
	}
	a := newAdminClient(cfg)
	if a == nil {
		return fmt.Errorf("the status page is served by the admin endpoint, which is off (admin.listen is empty): set admin.listen (for example %s) and restart listdrop", config.DefaultAdminListen)
	}
	var lc admin.LoginCode
	answered, err := ask(ctx, a, http.MethodPost, "/login-code", struct{}{}, &lc)
	if err != nil {
		return err
	}
	if !answered {
		return fmt.Errorf("nothing answers at the admin endpoint %s: the status page is served by the running daemon; start it (listdrop start, or listdrop run)", a.listen)
	}
	fmt.Fprintf(stdout, "Open this link in a browser on this machine. It signs the browser in, works once, and expires at %s:\n\n  %s%s\n",
		display.Time(lc.Expires), a.base, lc.Path)
	return nil
}
