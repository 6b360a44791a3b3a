//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// refusedGoodSize is the size of the good files of the refused part: small,
// as the backlog's, so that the part measures the daemon's work per file.
const refusedGoodSize = 1000

// refusedResult is one row of the refused part: files waiting in one folder
// when the daemon starts, all empty (each refused: moved to failed/ with its
// explanation) or all good (each uploaded: moved to done/).
type refusedResult struct {
	files      int
	empty      bool
	watching   time.Duration // start of the process to "listdrop is watching"
	allDone    time.Duration // start of the process to the last file's arrival
	commits    int           // commits the fake saw
	cpuPerFile time.Duration
	peakRSSKB  int64
}

// perFile is the time per file from the start of the process to the last
// file's arrival.
func (x refusedResult) perFile() time.Duration { return x.allDone / time.Duration(x.files) }

func (x refusedResult) outcome() string {
	if x.empty {
		return "failed/"
	}
	return "done/"
}

func (x refusedResult) content() string {
	if x.empty {
		return "empty"
	}
	return fmt.Sprintf("%d bytes", refusedGoodSize)
}

// refused measures a large start-up backlog in one folder: the empty files,
// each refused, then the good ones, each uploaded, so that the time per
// refused file can be set beside the time per uploaded one.
func (b *bench) refused(ctx context.Context) error {
	for _, c := range []struct {
		n     int
		empty bool
	}{{b.o.refusedEmpty, true}, {b.o.refusedGood, false}} {
		b.logf("refused    staging %d %s files in one folder", c.n, map[bool]string{true: "empty", false: "good"}[c.empty])
		res, err := b.listdropRefused(ctx, c.n, c.empty)
		if err != nil {
			return fmt.Errorf("%d %s files: %w", c.n, map[bool]string{true: "empty", false: "good"}[c.empty], err)
		}
		b.logf("refused    %6d %-9s watching after %s  last in %s after %s (%s per file, %.1f files/s)  commits %d  cpu/file %s  peak rss %.1f MB",
			res.files, res.content(), res.watching.Round(time.Millisecond), res.outcome(), res.allDone.Round(time.Millisecond),
			res.perFile().Round(time.Microsecond), float64(res.files)/res.allDone.Seconds(), res.commits,
			res.cpuPerFile.Round(time.Microsecond), float64(res.peakRSSKB)/1024)
		b.rep.refused = append(b.rep.refused, res)
	}
	return nil
}

func (b *bench) listdropRefused(ctx context.Context, n int, empty bool) (refusedResult, error) {
	res := refusedResult{files: n, empty: empty}
	what, tag := "refused-good", "good"
	if empty {
		what, tag = "refused-empty", "empty"
	}
	var failed string
	// The empty files were made before the start, and nothing writes them:
	// empty_grace, which waits for a writer that may not have begun, is
	// set to the settle, so that the part measures the work per file and
	// not a wait.
	r, err := b.setup(what, 1, 0, daemonConf{settle: b.o.settle, emptyGrace: max(b.o.settle, time.Millisecond), workers: 4},
		func(r *daemonRun) error {
			// failed/ is where listdrop puts refused files by default; it
			// is made here so that it can be watched from the start.
			failed = filepath.Join(r.drops[0], "failed")
			if err := os.MkdirAll(failed, 0o755); err != nil {
				return err
			}
			if empty {
				// The files are made in the folder itself: the daemon has
				// not started yet, and empty files have nothing to flush.
				for i := range n {
					name := fmt.Sprintf("%s-00-%06d.csv", tag, i)
					if err := os.WriteFile(filepath.Join(r.drops[0], name), nil, 0o644); err != nil {
						return err
					}
				}
				syscall.Sync()
				return nil
			}
			files, err := stageFiles(filepath.Join(r.dir, "stage"), r.drops, n, refusedGoodSize, tag)
			if err != nil {
				return err
			}
			for _, f := range files {
				if err := os.Rename(f.staged, f.target); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return res, err
	}
	defer r.close(b)
	// setup watches done/; the refused files arrive in failed/.
	arr := r.arr
	if empty {
		if arr, err = watchArrivals([]string{failed}); err != nil {
			return res, err
		}
		defer arr.Close()
	}
	if res.watching, err = r.d.waitWatching(ctx, time.Minute); err != nil {
		return res, err
	}
	last, err := arr.wait(ctx, n, stall)
	if err != nil {
		return res, fmt.Errorf("%w; %s", err, r.d.problems())
	}
	after, err := sampleProc(r.d.pid())
	if err != nil {
		return res, err
	}
	res.allDone = last.Sub(r.d.started)
	res.cpuPerFile = time.Duration(float64(after.cpuTicks) / userHZ / float64(n) * 1e9)
	if after.runNanos > 0 {
		res.cpuPerFile = time.Duration(after.runNanos / int64(n))
	}
	res.peakRSSKB = after.hwmKB
	d := r.d
	r.d = nil
	if err := d.stop(); err != nil {
		return res, err
	}
	res.commits = commits(r.fake)
	if err := checkRefused(r, failed, n, empty); err != nil {
		return res, err
	}
	if want := map[bool]int{true: n}[empty]; d.failures() != want {
		return res, fmt.Errorf("the daemon's log has %d \"file failed\" lines, want %d", d.failures(), want)
	}
	return res, nil
}

// commits is the number of uploads the fake saw committed.
func commits(fake *faketalkdesk.Server) int {
	c := 0
	for _, u := range fake.UploadRequests() {
		if u.Status == faketalkdesk.StatusUploaded {
			c++
		}
	}
	return c
}

// checkRefused makes sure a stopped daemon handled the n files as it must:
// empty files each in failed/ with its explanation, no upload started and no
// commit at the fake; good files each committed exactly once and in done/,
// none in failed/.
func checkRefused(r *daemonRun, failed string, n int, empty bool) error {
	inDone := countFiles(r.dones[0])
	csvs, notes, other := 0, 0, 0
	ents, err := os.ReadDir(failed)
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch name := e.Name(); {
		case strings.HasSuffix(name, ".csv.error.txt"):
			notes++
		case strings.HasSuffix(name, ".csv"):
			csvs++
		default:
			other++
		}
	}
	left := 0
	if ents, err := os.ReadDir(r.drops[0]); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".csv") {
				left++
			}
		}
	}
	if left > 0 {
		return fmt.Errorf("%d files still in the folder", left)
	}
	if !empty {
		switch {
		case csvs+notes+other > 0:
			return fmt.Errorf("%d entries in failed/, want none", csvs+notes+other)
		case inDone != n:
			return fmt.Errorf("%d files in done/, want %d", inDone, n)
		}
		return checkFake(r.fake, n)
	}
	if err := checkFake(r.fake, 0); err != nil {
		return err
	}
	if u := len(r.fake.UploadRequests()); u > 0 {
		return fmt.Errorf("the fake saw %d upload requests for empty files, want none", u)
	}
	switch {
	case csvs != n:
		return fmt.Errorf("%d files in failed/, want %d", csvs, n)
	case notes != n:
		return fmt.Errorf("%d explanations (.error.txt) in failed/ for %d files", notes, n)
	case other > 0:
		return fmt.Errorf("%d other entries in failed/", other)
	case inDone > 0:
		return fmt.Errorf("%d empty files in done/", inDone)
	}
	return nil
}
