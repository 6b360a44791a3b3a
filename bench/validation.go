//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// pacedCase is one validation-paced measurement: lists record lists with
// perList files each, dropped at once, with the daemon's `workers`.
type pacedCase struct {
	lists, perList, workers int
}

func (c pacedCase) String() string { return fmt.Sprintf("%dx%d@%d", c.lists, c.perList, c.workers) }

// parsePaced reads "LISTSxFILES@WORKERS,…", e.g. "8x5@4".
func parsePaced(s string) ([]pacedCase, error) {
	var out []pacedCase
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		dims, w, ok := strings.Cut(part, "@")
		l, f, ok2 := strings.Cut(dims, "x")
		if !ok || !ok2 {
			return nil, fmt.Errorf("%q: want LISTSxFILES@WORKERS, e.g. 8x5@4", part)
		}
		var n [3]int
		for i, v := range []string{l, f, w} {
			x, err := strconv.Atoi(v)
			if err != nil || x < 1 {
				return nil, fmt.Errorf("%q: %q is not a positive number", part, v)
			}
			n[i] = x
		}
		c := pacedCase{lists: n[0], perList: n[1], workers: n[2]}
		if c.perList < 2 || c.lists > 64 || c.workers > 64 {
			return nil, fmt.Errorf("%q: want at least 2 files per list, at most 64 lists and 64 workers", part)
		}
		out = append(out, c)
	}
	return out, nil
}

// pacedFileSize is the size of the validation-paced files: their size does
// not matter here, the fake's validation time does.
const pacedFileSize = 1000

// rawPoll is how often the raw client looks at a validating list: as fast
// as makes no difference to a validation of a second or more.
const rawPoll = 10 * time.Millisecond

// validationResult is one row of the validation-paced table.
type validationResult struct {
	pacedCase
	validation time.Duration
	verify     bool
	// span is, for the slowest list, the time from its first PATCH to its
	// last, as the fake recorded them.
	span           time.Duration
	gets, refusals float64 // list GETs and PATCHes refused with 409, per file
	rawSpan        time.Duration
	rawGets        float64
}

// ideal is a list's span when each PATCH follows the end of the previous
// validation at once.
func (r validationResult) ideal() time.Duration {
	return time.Duration(r.perList-1) * r.validation
}

func (b *bench) validation(ctx context.Context) error {
	for _, v := range b.o.validations {
		for _, c := range b.o.paced {
			rawSpan, rawGets, err := b.rawPaced(ctx, v, c)
			if err != nil {
				return fmt.Errorf("%s %s: raw client: %w", v, c, err)
			}
			for _, verify := range []bool{true, false} {
				res, err := b.listdropPaced(ctx, v, c, verify)
				if err != nil {
					return fmt.Errorf("%s %s verify %t: %w", v, c, verify, err)
				}
				res.rawSpan, res.rawGets = rawSpan, rawGets
				b.logf("validation %-5s %-8s verify %-3s  span %s (ideal %s, ratio %.3f)  GETs/file %.1f  409s/file %.1f  raw span %s (ratio %.3f, GETs/file %.1f)",
					v, c, onOff(verify), res.span.Round(time.Millisecond), res.ideal(), ratioOf(res.ideal(), res.span),
					res.gets, res.refusals, rawSpan.Round(time.Millisecond), ratioOf(res.ideal(), rawSpan), rawGets)
				b.rep.validation = append(b.rep.validation, res)
			}
		}
	}
	return nil
}

func ratioOf(ideal, measured time.Duration) float64 {
	if measured <= 0 {
		return 0
	}
	return float64(ideal) / float64(measured)
}

// slowestSpan is the longest first-PATCH-to-last-PATCH time of any list,
// from the fake's record of validations; it checks that every list had
// perList of them.
func slowestSpan(fake *faketalkdesk.Server, c pacedCase) (time.Duration, error) {
	first, last, n := map[string]time.Time{}, map[string]time.Time{}, map[string]int{}
	for _, v := range fake.Validations() {
		if n[v.ListID] == 0 {
			first[v.ListID] = v.Start
		}
		last[v.ListID] = v.Start
		n[v.ListID]++
	}
	if len(n) != c.lists {
		return 0, fmt.Errorf("%d lists validated uploads, want %d", len(n), c.lists)
	}
	var span time.Duration
	for l, k := range n {
		if k != c.perList {
			return 0, fmt.Errorf("list %s validated %d uploads, want %d", l, k, c.perList)
		}
		span = max(span, last[l].Sub(first[l]))
	}
	return span, nil
}

func refusedPatches(fake *faketalkdesk.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == "PATCH" && r.Status == 409 {
			n++
		}
	}
	return n
}

// nameLookups waits for the daemon's start-up reads of its lists (one per
// list, for their names) and returns how many list reads the fake answered.
func (r *daemonRun) nameLookups(ctx context.Context, lists int) (int, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		if n := r.fake.ListGets(""); n >= lists {
			return n, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the daemon did not read its %d lists' names within a minute; %s", lists, r.d.problems())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// listdropPaced starts a daemon against a fake that validates each upload
// for v, renames the files into its folders at once and measures the
// lists' spans once every file is in done/.
func (b *bench) listdropPaced(ctx context.Context, v time.Duration, c pacedCase, verify bool) (validationResult, error) {
	res := validationResult{pacedCase: c, validation: v, verify: verify}
	n := c.lists * c.perList
	var files []dropFile
	r, err := b.setup("paced", c.lists, 0, daemonConf{settle: b.o.settle, workers: c.workers, verify: verify},
		func(r *daemonRun) (err error) {
			r.fake.SetValidation("", v)
			files, err = stageFiles(filepath.Join(r.dir, "stage"), r.drops, n, pacedFileSize, "val")
			return err
		})
	if err != nil {
		return res, err
	}
	defer r.close(b)
	if _, err := r.d.waitWatching(ctx, time.Minute); err != nil {
		return res, err
	}
	// At start the daemon reads each folder's list once, to log its name:
	// not a cost of pacing, so not counted per file.
	startGets, err := r.nameLookups(ctx, c.lists)
	if err != nil {
		return res, err
	}
	for _, f := range files {
		if err := os.Rename(f.staged, f.target); err != nil {
			return res, err
		}
	}
	if _, err := r.arr.wait(ctx, n, stall); err != nil {
		return res, fmt.Errorf("%w; %s", err, r.d.problems())
	}
	if res.span, err = slowestSpan(r.fake, c); err != nil {
		return res, err
	}
	res.gets = float64(r.fake.ListGets("")-startGets) / float64(n)
	res.refusals = float64(refusedPatches(r.fake)) / float64(n)
	if err := r.finish(n); err != nil {
		return res, err
	}
	return res, nil
}

// rawPaced runs the raw client obeying the same rule against a fake that
// validates each upload for v.
func (b *bench) rawPaced(ctx context.Context, v time.Duration, c pacedCase) (time.Duration, float64, error) {
	fake, err := faketalkdesk.Start(faketalkdesk.Options{ClientID: benchClientID, ClientSecret: b.secret, Validation: v})
	if err != nil {
		return 0, 0, err
	}
	defer fake.Close()
	n := c.lists * c.perList
	files := rawFiles(burst{files: n, size: pacedFileSize, lists: c.lists}, "rawval")
	cl := newRawClient(fake.URL(), fake.TokenURL(), b.secret, c.workers)
	defer cl.close()
	if err := cl.runPaced(ctx, files, c.lists, c.workers, rawPoll); err != nil {
		return 0, 0, err
	}
	if err := checkFake(fake, n); err != nil {
		return 0, 0, err
	}
	span, err := slowestSpan(fake, c)
	if err != nil {
		return 0, 0, err
	}
	return span, float64(fake.ListGets("")) / float64(n), nil
}

func secs3(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
