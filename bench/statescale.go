//go:build linux

package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// stateResult is the state-scale measurement.
type stateResult struct {
	records        int
	size           int64 // bytes of the state file
	fill           time.Duration
	fillFS         string
	startEmpty     time.Duration // median start-up with a new state file
	startFull      time.Duration // median start-up with the filled one
	rssFullKB      int64         // the daemon's RSS once watching, filled state
	hitMean, hit99 time.Duration // LookupCommit of recorded content
	missMean       time.Duration // LookupCommit of new content
}

// stateLists is how many record lists the filled records are spread over.
const stateLists = 8

// recordMD5 is the content digest of filled record i.
func recordMD5(i int) string {
	sum := md5.Sum(fmt.Appendf(nil, "bench-record-%d", i))
	return hex.EncodeToString(sum[:])
}

// fillState records n uploaded files in a new state file through the state
// package, as the daemon's last two writes for each file leave them: the
// commit to the list's ledger, then the entry in the history.
func fillState(ctx context.Context, path string, n int, progress func(done int)) error {
	s, err := state.Open(path, 5*time.Second)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now().Add(-time.Duration(n) * time.Second)
	for i := range n {
		if i%(1<<14) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if i > 0 {
				progress(i)
			}
		}
		k := i % stateLists
		folder := fmt.Sprintf("/srv/listdrop/drop%02d", k)
		name := fmt.Sprintf("contacts-%07d.csv", i)
		at := start.Add(time.Duration(i) * time.Second)
		rec := state.Record{
			Key: folder + "/.listdrop/" + name, Folder: folder, Source: folder + "/" + name,
			ListID: listID(k), Size: maxFileSize, MD5: recordMD5(i), Phase: state.Committed,
			UploadID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i),
			Claimed:  at, Committed: at, Dest: folder + "/done/" + name,
		}
		if err := s.Commit(rec); err != nil {
			return err
		}
		// The outcome is in the entry from the start: what the follow-up
		// of validation (verify, on by default) would write there later.
		e := state.NewEntry(rec, state.Done, "")
		e.At, e.Outcome = at, "ACCEPTED"
		if _, err := s.Finish(rec.Key, e); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) stateScale(ctx context.Context) error {
	dir, err := b.newDir("state")
	if err != nil {
		return err
	}
	defer b.cleanup(dir)
	res := stateResult{records: b.o.stateRecords}
	path := filepath.Join(dir, "listdrop.db")
	fillPath := path
	if fd := b.o.stateFillDir; fd != "" {
		if fi, err := os.Stat(fd); err == nil && fi.IsDir() {
			tmp, err := os.MkdirTemp(fd, "listdrop-bench-state-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			fillPath = filepath.Join(tmp, "listdrop.db")
		}
	}
	res.fillFS = fsType(filepath.Dir(fillPath))
	b.logf("state      filling %d records (%s)", res.records, res.fillFS)
	t0 := time.Now()
	err = fillState(ctx, fillPath, res.records, func(done int) {
		if done%(1<<18) == 0 {
			b.logf("state      %d records after %s", done, time.Since(t0).Round(time.Second))
		}
	})
	if err != nil {
		return fmt.Errorf("fill the state file: %w", err)
	}
	res.fill = time.Since(t0)
	if fillPath != path {
		if _, err := fsutil.Move(fillPath, path); err != nil {
			return err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	res.size = fi.Size()

	if res.startEmpty, _, err = b.startups(ctx, ""); err != nil {
		return err
	}
	if res.startFull, res.rssFullKB, err = b.startups(ctx, path); err != nil {
		return err
	}
	if err := b.lookups(path, &res); err != nil {
		return err
	}
	b.logf("state      %d records: %.1f MB, filled in %s; start-up %s (empty state %s); duplicate check %s mean, %s p99 (new content %s)",
		res.records, float64(res.size)/1e6, res.fill.Round(time.Second), res.startFull.Round(time.Millisecond),
		res.startEmpty.Round(time.Millisecond), res.hitMean.Round(10*time.Nanosecond), res.hit99.Round(10*time.Nanosecond), res.missMean.Round(10*time.Nanosecond))
	b.rep.state = &res
	return nil
}

// startups starts a daemon on the state file (a new one when empty) a few
// times and returns the median time from the start of the process to
// "listdrop is watching", and its RSS then.
func (b *bench) startups(ctx context.Context, statePath string) (time.Duration, int64, error) {
	var times []time.Duration
	var rss int64
	for range b.o.startupRounds {
		r, err := b.setup("startup", 1, 0, daemonConf{settle: -1, verify: true, state: statePath}, nil)
		if err != nil {
			return 0, 0, err
		}
		d, err := r.d.waitWatching(ctx, 5*time.Minute)
		if err == nil {
			var s procSample
			if s, err = sampleProc(r.d.pid()); err == nil {
				rss = s.rssKB
				err = r.finish(0)
			}
		}
		r.close(b)
		if err != nil {
			return 0, 0, err
		}
		times = append(times, d)
	}
	return percentile(times, 50), rss, nil
}

// lookups times the duplicate check, state.Store.LookupCommit, in this
// process on the filled file: recorded content (a duplicate) and new
// content.
func (b *bench) lookups(path string, res *stateResult) error {
	s, err := state.Open(path, 5*time.Second)
	if err != nil {
		return err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	hits := make([]time.Duration, b.o.lookups)
	var total time.Duration
	for j := range hits {
		i := rng.IntN(res.records)
		t := time.Now()
		_, ok, err := s.LookupCommit(listID(i%stateLists), recordMD5(i))
		hits[j] = time.Since(t)
		total += hits[j]
		if err != nil || !ok {
			return fmt.Errorf("duplicate check of record %d: found %v, %v", i, ok, err)
		}
	}
	res.hitMean, res.hit99 = total/time.Duration(len(hits)), percentile(hits, 99)
	total = 0
	for j := range b.o.lookups {
		i := res.records + j
		t := time.Now()
		_, ok, err := s.LookupCommit(listID(i%stateLists), recordMD5(i))
		total += time.Since(t)
		if err != nil || ok {
			return fmt.Errorf("duplicate check of new content %d: found %v, %v", i, ok, err)
		}
	}
	res.missMean = total / time.Duration(b.o.lookups)
	return nil
}
