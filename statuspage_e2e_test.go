package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/listdrop/listdrop/faketalkdesk"
	"github.com/listdrop/listdrop/state"
)

// browserPath finds Chromium. Without it the test is skipped, unless
// LISTDROP_BROWSER_TESTS=1 (set by .ci/run, which installs it) makes that
// a failure.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LISTDROP_BROWSER_TESTS") == "1" {
		t.Fatal("LISTDROP_BROWSER_TESTS=1 but no chromium on PATH: apt-get install chromium")
	}
	t.Skip("no chromium on PATH (apt-get install chromium): the status page is not checked in a browser")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browserPath(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

var linkRE = regexp.MustCompile(`http://\S+/login\?code=[0-9a-f]+`)

// TestStatusPageInABrowser runs the real daemon against the fake, drops a
// good file, its duplicate, a ragged one, one with a hostile name and one
// Talkdesk rejects in validation, and checks in headless Chromium what a
// person sees: health, counts, rows, the failure sentence, the chart's
// bars, the hostile name as text, and a retry that moves the fixed file
// back and then to done/. A screenshot is kept as an artifact
// (go test -artifacts), and with -update in docs/status-page.png.
func TestStatusPageInABrowser(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newE2E(t, faketalkdesk.Options{}, []string{"L1", "L2"}, "")
	e.fake.SetListStatus("L2", "REJECTED")
	e.start()

	const hostile = `<img src=x onerror="document.title='pwned'">.csv`
	e.drop(0, "good.csv", rows("good"))
	e.eventually("good.csv done", func() bool { return finished(e.history(), "good.csv", state.Done) == 1 })
	e.drop(0, "copy.csv", rows("good"))
	e.drop(0, "ragged.csv", []byte("first_name,last_name\nAda\n"))
	e.drop(0, hostile, rows("hostile"))
	e.drop(1, "rejected.csv", rows("rejected"))
	var hist []state.Entry
	e.eventually("five files finished, and the verdict on rejected.csv", func() bool {
		hist = e.history()
		return len(hist) == 5 && finished(hist, "rejected.csv", state.Done) == 1 && outcomeOf(hist, "rejected.csv") == "REJECTED"
	})
	raggedReason := ""
	for _, h := range hist {
		if filepath.Base(h.Source) == "ragged.csv" {
			raggedReason = h.Reason
		}
	}

	// Without signing in, nothing but the way to sign in.
	resp, err := http.Get("http://" + e.admin + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/ without a session: %s", resp.Status)
	}

	out, stderr, code := e.cli("open")
	link := linkRE.FindString(out)
	if code != 0 || link == "" {
		t.Fatalf("listdrop open: exit %d\n%s%s", code, out, stderr)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible("#files")); err != nil {
		t.Fatalf("open the link: %v", err)
	}
	health := see(t, ctx, chromedp.Text("#health"))
	title := see(t, ctx, chromedp.Title())
	rowsN := see(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#files tbody tr").length`))
	barsN := see(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#chart rect.bar").length`))
	kinds := see(t, ctx, chromedp.Evaluate[[]string](`[...new Set([...document.querySelectorAll("#chart rect.bar")].map(r => r.dataset.kind))].sort()`))
	imgs := see(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
	hostileText := see(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#files td.name")].map(td => td.textContent).find(s => s.startsWith("<img")) || ""`))
	raggedWhy := see(t, ctx, chromedp.Evaluate[string](`(() => { for (const tr of document.querySelectorAll("#files tbody tr")) { if (tr.querySelector("td.name").textContent === "ragged.csv") return tr.querySelector("td.why").textContent } return "" })()`))
	failedCount := see(t, ctx, chromedp.Text(`#folders tr[data-folder="`+e.folders[0]+`"] td.failed`))
	if health != "Working" || !strings.HasPrefix(title, "listdrop") {
		t.Errorf("health %q, title %q", health, title)
	}
	if rowsN != 5 {
		t.Errorf("%d rows in the recent files, want 5", rowsN)
	}
	if strings.Join(kinds, " ") != "duplicate imported refused rejected" || barsN < 4 {
		t.Errorf("chart: %d bars of kinds %v", barsN, kinds)
	}
	if hostileText != hostile || imgs != 0 || title == "pwned" {
		t.Errorf("the hostile name: shown as %q, %d img elements, title %q", hostileText, imgs, title)
	}
	first := raggedReason
	if i := strings.Index(first, ". "); i >= 0 {
		first = first[:i+1]
	}
	if raggedReason == "" || !strings.HasPrefix(strings.TrimSpace(raggedWhy), first) {
		t.Errorf("ragged.csv's reason on the page %q, want it to start with %q", raggedWhy, first)
	}
	if failedCount != "2" {
		t.Errorf("failed in the first folder: %q, want 2", failedCount)
	}

	shot := see(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "status-page.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("docs", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("docs", "status-page.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Fix ragged.csv where it failed, and retry it from the page.
	failedPath := filepath.Join(e.folders[0], "failed", "ragged.csv")
	writeFile(t, failedPath, rows("fixed"))
	if err := chromedp.Do(ctx, chromedp.Click(`li[data-file="ragged.csv"] button.retry`, chromedp.NodeVisible)); err != nil {
		t.Fatalf("retry from the page: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible("#flash")); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		t.Fatalf("after the retry, no message on the page: %v\n%s", err, body)
	}
	flash := see(t, ctx, chromedp.Text("#flash"))
	if !strings.Contains(flash, failedPath+" -> ") {
		t.Errorf("the page after the retry says %q", flash)
	}
	e.eventually("ragged.csv in done/", func() bool { return exists(filepath.Join(e.folders[0], "done", "ragged.csv")) })

	// The link worked once.
	if err := chromedp.Do(ctx, chromedp.Navigate(link)); err != nil {
		t.Fatal(err)
	}
	msg := see(t, ctx, chromedp.Text("#message"))
	if !strings.Contains(msg, "used already or has expired") {
		t.Errorf("the link a second time: %q", msg)
	}
}

func outcomeOf(h []state.Entry, name string) string {
	for _, e := range h {
		if filepath.Base(e.Source) == name {
			return e.Outcome
		}
	}
	return ""
}

// see runs one browser action that reads something.
func see[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("in the browser: %v", err)
	}
	return v
}
