//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// stall is how long a run waits without any file reaching done/ before it
// gives up: far longer than one file takes at any latency measured here.
const stall = 2 * time.Minute

// bench is one run of the benchmark.
type bench struct {
	o        options
	progress io.Writer
	binary   string
	root     string // the run's folder
	secret   string
	seq      int // names the folders of successive measurements
	rep      *report
	raw      map[burst]rawResult // raw client results, reused by the backlog
}

type rawResult struct {
	perSec  float64
	elapsed time.Duration
	// durable is the durable raw client's files per second: the raw
	// client plus a synced write-ahead record before each PATCH and a
	// synced commit after it.
	durable float64
}

// run measures what o selects and writes the markdown report to out.
func run(ctx context.Context, o options, out, progress io.Writer) error {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	root, err := os.MkdirTemp(o.dir, "listdrop-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(progress, "run folder (kept): %s\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	b := &bench{o: o, progress: progress, root: root, secret: hex.EncodeToString(secret), raw: map[burst]rawResult{}}
	if b.binary = o.binary; b.binary == "" {
		fmt.Fprintln(progress, "building listdrop")
		if b.binary, err = buildListdrop(ctx, root); err != nil {
			return err
		}
	}
	b.rep = &report{o: o, machine: describeMachine(root, b.binary), started: time.Now()}
	for _, part := range allParts {
		if !slices.Contains(o.parts, part) {
			continue
		}
		var err error
		switch part {
		case "throughput":
			err = b.throughput(ctx)
		case "latency":
			err = b.latency(ctx)
		case "idle":
			err = b.idle(ctx)
		case "state":
			err = b.stateScale(ctx)
		case "backlog":
			err = b.backlog(ctx)
		case "refused":
			err = b.refused(ctx)
		case "validation":
			err = b.validation(ctx)
		case "split":
			err = b.split(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
	}
	b.rep.finished, b.rep.loadAtEnd = time.Now(), loadAverage()
	text := b.rep.markdown()
	if _, err := io.WriteString(out, text); err != nil {
		return err
	}
	if o.md != "" {
		return os.WriteFile(o.md, []byte(text), 0o644)
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, format+"\n", args...)
}

// newDir makes the folder of one measurement.
func (b *bench) newDir(what string) (string, error) {
	b.seq++
	dir := filepath.Join(b.root, fmt.Sprintf("%02d-%s", b.seq, what))
	return dir, os.MkdirAll(dir, 0o755)
}

func (b *bench) cleanup(dir string) {
	if !b.o.keep {
		os.RemoveAll(dir)
	}
}

func (b *bench) startFake(latency time.Duration) (*faketalkdesk.Server, error) {
	return faketalkdesk.Start(faketalkdesk.Options{ClientID: benchClientID, ClientSecret: b.secret, Latency: latency})
}

// checkFake makes sure the fake saw a correct client commit each of the n
// files exactly once.
func checkFake(fake *faketalkdesk.Server, n int) error {
	if v := fake.Violations(); len(v) > 0 {
		return fmt.Errorf("the fake Talkdesk saw %d rule violations, the first: %s", len(v), v[0])
	}
	byContent := map[string]int{}
	for _, u := range fake.UploadRequests() {
		if u.Status == faketalkdesk.StatusUploaded {
			byContent[u.ListID+" "+u.Checksum]++
		}
	}
	if len(byContent) != n {
		return fmt.Errorf("%d files were committed, want %d", len(byContent), n)
	}
	for k, c := range byContent {
		if c != 1 {
			return fmt.Errorf("content %s was committed %d times", k, c)
		}
	}
	return nil
}

// daemonRun is a daemon with its fake, folders and the watch on its done/
// folders, ready for files.
type daemonRun struct {
	dir          string
	fake         *faketalkdesk.Server
	drops, dones []string
	d            *daemon
	arr          *arrivals
}

// setup prepares folders, a fake with latency, and a configuration; before,
// if set, runs once the folders exist and before the daemon starts.
func (b *bench) setup(what string, lists int, latency time.Duration, conf daemonConf, before func(r *daemonRun) error) (*daemonRun, error) {
	dir, err := b.newDir(what)
	if err != nil {
		return nil, err
	}
	r := &daemonRun{dir: dir}
	if r.fake, err = b.startFake(latency); err != nil {
		return nil, err
	}
	if r.drops, r.dones, err = makeFolders(dir, lists); err != nil {
		r.close(b)
		return nil, err
	}
	for k, d := range r.drops {
		conf.folders = append(conf.folders, folderConf{path: d, list: listID(k)})
	}
	if conf.state == "" {
		conf.state = filepath.Join(dir, "state", "listdrop.db")
	}
	cfg := filepath.Join(dir, "listdrop.yaml")
	if err := writeConfig(cfg, r.fake, conf); err != nil {
		r.close(b)
		return nil, err
	}
	if before != nil {
		if err := before(r); err != nil {
			r.close(b)
			return nil, err
		}
	}
	if r.arr, err = watchArrivals(r.dones); err != nil {
		r.close(b)
		return nil, err
	}
	if r.d, err = startDaemon(b.binary, cfg, b.secret, filepath.Join(dir, "listdrop.log")); err != nil {
		r.close(b)
		return nil, err
	}
	return r, nil
}

// finish stops the daemon and checks that it uploaded n files correctly:
// each committed once, none failed, all in done/.
func (r *daemonRun) finish(n int) error {
	err := r.d.stop()
	r.d = nil
	if err != nil {
		return err
	}
	if err := checkFake(r.fake, n); err != nil {
		return err
	}
	done := 0
	for _, d := range r.dones {
		done += countFiles(d)
	}
	if done != n {
		return fmt.Errorf("%d files in done/, want %d", done, n)
	}
	return nil
}

func (r *daemonRun) close(b *bench) {
	if r.d != nil {
		r.d.stop()
	}
	if r.arr != nil {
		r.arr.Close()
	}
	r.fake.Close()
	b.cleanup(r.dir)
}

// rawFiles are the same files as a burst's, in memory.
func rawFiles(br burst, tag string) []*rawFile {
	files := make([]*rawFile, br.files)
	for i := range files {
		k := i % br.lists
		name := fmt.Sprintf("%s-%02d-%06d.csv", tag, k, i)
		files[i] = &rawFile{name: name, list: k, data: csvBody(tag+name, br.size)}
	}
	return files
}

// rawBurst runs the raw client over a burst's files against a fresh fake.
func (b *bench) rawBurst(ctx context.Context, br burst) (rawResult, error) {
	if r, ok := b.raw[br]; ok {
		return r, nil
	}
	elapsed, err := b.rawRun(ctx, br, "")
	if err != nil {
		return rawResult{}, fmt.Errorf("raw client: %w", err)
	}
	dir, err := b.newDir("durable")
	if err != nil {
		return rawResult{}, err
	}
	defer b.cleanup(dir)
	durable, err := b.rawRun(ctx, br, filepath.Join(dir, "wal"))
	if err != nil {
		return rawResult{}, fmt.Errorf("durable raw client: %w", err)
	}
	r := rawResult{perSec: float64(br.files) / elapsed.Seconds(), elapsed: elapsed, durable: float64(br.files) / durable.Seconds()}
	b.raw[br] = r
	return r, nil
}

// rawRun times the raw client over a burst's files against a fresh fake;
// with a wal path, the durable raw client, logging there.
func (b *bench) rawRun(ctx context.Context, br burst, wal string) (time.Duration, error) {
	fake, err := b.startFake(br.latency)
	if err != nil {
		return 0, err
	}
	defer fake.Close()
	files := rawFiles(br, "raw")
	c := newRawClient(fake.URL(), fake.TokenURL(), b.secret, br.workers())
	defer c.close()
	if wal != "" {
		if c.wal, err = openDurableLog(wal); err != nil {
			return 0, err
		}
	}
	t0 := time.Now()
	err = c.runRaw(ctx, files, br.lists, br.workers(), br.verify)
	elapsed := time.Since(t0)
	if c.wal != nil {
		if cerr := c.wal.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return 0, err
	}
	return elapsed, checkFake(fake, br.files)
}

// throughputResult is one row of the throughput table.
type throughputResult struct {
	burst
	listdrop, raw float64 // files per second
	durable       float64 // the durable raw client's files per second
	elapsed       time.Duration
	cpuPerFile    time.Duration // the daemon's CPU time per file
	peakRSSKB     int64
}

func (b *bench) throughput(ctx context.Context) error {
	for _, br := range b.o.throughput {
		raw, err := b.rawBurst(ctx, br)
		if err != nil {
			return fmt.Errorf("%s: %w", br, err)
		}
		res, err := b.listdropBurst(ctx, br)
		if err != nil {
			return fmt.Errorf("%s: %w", br, err)
		}
		res.raw, res.durable = raw.perSec, raw.durable
		b.logf("throughput %-18s listdrop %8.1f files/s  raw %8.1f files/s  ratio %.2f  durable raw %8.1f files/s  ratio %.2f  cpu/file %s  peak rss %.1f MB",
			br, res.listdrop, res.raw, res.listdrop/res.raw, res.durable, res.listdrop/res.durable, res.cpuPerFile.Round(time.Microsecond), float64(res.peakRSSKB)/1024)
		b.rep.throughput = append(b.rep.throughput, res)
	}
	return nil
}

// listdropBurst starts a daemon, renames the burst's files into its folders
// at once and times them until the last one is in done/.
func (b *bench) listdropBurst(ctx context.Context, br burst) (throughputResult, error) {
	res := throughputResult{burst: br}
	var files []dropFile
	r, err := b.setup("burst", br.lists, br.latency, daemonConf{settle: b.o.settle, workers: br.workers(), verify: br.verify},
		func(r *daemonRun) (err error) {
			files, err = stageFiles(filepath.Join(r.dir, "stage"), r.drops, br.files, br.size, "tp")
			return err
		})
	if err != nil {
		return res, err
	}
	defer r.close(b)
	if _, err := r.d.waitWatching(ctx, time.Minute); err != nil {
		return res, err
	}
	before, err := sampleProc(r.d.pid())
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	for _, f := range files {
		if err := os.Rename(f.staged, f.target); err != nil {
			return res, err
		}
	}
	last, err := r.arr.wait(ctx, br.files, stall)
	if err != nil {
		return res, fmt.Errorf("%w; %s", err, r.d.problems())
	}
	after, err := sampleProc(r.d.pid())
	if err != nil {
		return res, err
	}
	if err := r.finish(br.files); err != nil {
		return res, err
	}
	res.elapsed = last.Sub(t0)
	res.listdrop = float64(br.files) / res.elapsed.Seconds()
	res.cpuPerFile = time.Duration(cpuSeconds(before, after) / float64(br.files) * 1e9)
	res.peakRSSKB = after.hwmKB
	return res, nil
}

// latencyResult is one row of the latency table: per-file times from the
// rename into the folder to the arrival in done/, settle subtracted.
type latencyResult struct {
	latency          time.Duration
	files, lists     int
	rate             float64
	settle           time.Duration
	p50, p95, p99, m time.Duration
	raw50, raw99     time.Duration // the raw client's drop-to-PATCH-answer times
}

func (b *bench) latency(ctx context.Context) error {
	for _, lat := range b.o.trickleLatencies {
		res, err := b.listdropTrickle(ctx, lat)
		if err != nil {
			return fmt.Errorf("%s: %w", lat, err)
		}
		if err := b.rawTrickle(ctx, lat, &res); err != nil {
			return fmt.Errorf("%s: %w", lat, err)
		}
		b.logf("latency    %-18s p50 %s  p95 %s  p99 %s  max %s (settle %s subtracted)  raw p50 %s  p99 %s",
			lat, res.p50.Round(10*time.Microsecond), res.p95.Round(10*time.Microsecond), res.p99.Round(10*time.Microsecond),
			res.m.Round(10*time.Microsecond), res.settle, res.raw50.Round(10*time.Microsecond), res.raw99.Round(10*time.Microsecond))
		b.rep.latency = append(b.rep.latency, res)
	}
	return nil
}

// interval is the time between two drops of the trickle.
func (b *bench) interval() time.Duration {
	return time.Duration(float64(time.Second) / b.o.trickleRate)
}

func (b *bench) listdropTrickle(ctx context.Context, lat time.Duration) (latencyResult, error) {
	res := latencyResult{latency: lat, files: b.o.trickleFiles, lists: b.o.trickleLists, rate: b.o.trickleRate, settle: b.o.settle}
	var files []dropFile
	r, err := b.setup("trickle", b.o.trickleLists, lat, daemonConf{settle: b.o.settle, workers: max(4, b.o.trickleLists)},
		func(r *daemonRun) (err error) {
			files, err = stageFiles(filepath.Join(r.dir, "stage"), r.drops, b.o.trickleFiles, maxFileSize, "lat")
			return err
		})
	if err != nil {
		return res, err
	}
	defer r.close(b)
	if _, err := r.d.waitWatching(ctx, time.Minute); err != nil {
		return res, err
	}
	dropped := make(map[string]time.Time, len(files))
	t0 := time.Now()
	for i, f := range files {
		due := t0.Add(time.Duration(i) * b.interval())
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		dropped[f.name] = time.Now()
		if err := os.Rename(f.staged, f.target); err != nil {
			return res, err
		}
	}
	if _, err := r.arr.wait(ctx, len(files), stall); err != nil {
		return res, fmt.Errorf("%w; %s", err, r.d.problems())
	}
	arrived := r.arr.times()
	if err := r.finish(len(files)); err != nil {
		return res, err
	}
	lats := make([]time.Duration, 0, len(files))
	for name, at := range dropped {
		lats = append(lats, arrived[name].Sub(at)-b.o.settle)
	}
	res.p50, res.p95, res.p99, res.m = percentile(lats, 50), percentile(lats, 95), percentile(lats, 99), percentile(lats, 100)
	return res, nil
}

// rawTrickle sends the same trickle with the raw client: each file at its
// drop time, one in flight per list.
func (b *bench) rawTrickle(ctx context.Context, lat time.Duration, res *latencyResult) error {
	fake, err := b.startFake(lat)
	if err != nil {
		return err
	}
	defer fake.Close()
	br := burst{files: b.o.trickleFiles, size: maxFileSize, lists: b.o.trickleLists, latency: lat}
	files := rawFiles(br, "rawlat")
	c := newRawClient(fake.URL(), fake.TokenURL(), b.secret, br.workers())
	defer c.close()
	// The token is fetched before the first drop, as listdrop's first file
	// pays for it too but only once: start the schedule after it.
	if err := c.fetchToken(ctx); err != nil {
		return err
	}
	t0 := time.Now().Add(50 * time.Millisecond)
	for i, f := range files {
		f.due = t0.Add(time.Duration(i) * b.interval())
	}
	if err := c.runRaw(ctx, files, br.lists, br.workers(), false); err != nil {
		return fmt.Errorf("raw client: %w", err)
	}
	if err := checkFake(fake, br.files); err != nil {
		return fmt.Errorf("raw client: %w", err)
	}
	lats := make([]time.Duration, len(files))
	for i, f := range files {
		lats[i] = f.done.Sub(f.due)
	}
	res.raw50, res.raw99 = percentile(lats, 50), percentile(lats, 99)
	return nil
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// idleResult is the idle daemon's cost.
type idleResult struct {
	folders  int
	duration time.Duration
	cpuTicks int64   // from /proc/PID/stat
	cpu      float64 // seconds, nanosecond precision when available
	wakeups  int64
	threads  int
	rssKB    int64
}

func (b *bench) idle(ctx context.Context) error {
	r, err := b.setup("idle", b.o.idleFolders, 0, daemonConf{settle: -1, verify: true}, nil)
	if err != nil {
		return err
	}
	defer r.close(b)
	if _, err := r.d.waitWatching(ctx, time.Minute); err != nil {
		return err
	}
	// Let the start-up (first scan, first collections) pass.
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	before, err := sampleProc(r.d.pid())
	if err != nil {
		return err
	}
	b.logf("idle       measuring %d folders for %s", b.o.idleFolders, b.o.idle)
	if err := sleep(ctx, b.o.idle); err != nil {
		return err
	}
	after, err := sampleProc(r.d.pid())
	if err != nil {
		return err
	}
	if err := r.finish(0); err != nil {
		return err
	}
	res := idleResult{
		folders: b.o.idleFolders, duration: after.at.Sub(before.at),
		cpuTicks: after.cpuTicks - before.cpuTicks, cpu: cpuSeconds(before, after),
		wakeups: after.switches - before.switches, threads: after.threads, rssKB: after.rssKB,
	}
	b.logf("idle       cpu %.4f s (%.4f%% of one core, %d ticks)  wakeups %d (%.2f/s)  rss %.1f MB",
		res.cpu, 100*res.cpu/res.duration.Seconds(), res.cpuTicks, res.wakeups, float64(res.wakeups)/res.duration.Seconds(), float64(res.rssKB)/1024)
	b.rep.idle = &res
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backlogResult is one start-up backlog: files waiting before the start.
type backlogResult struct {
	burst
	watching   time.Duration // start of the process to "listdrop is watching"
	allDone    time.Duration // start of the process to the last file in done/
	raw        float64       // the raw client's files per second for the same files
	cpuPerFile time.Duration
	peakRSSKB  int64
}

func (b *bench) backlog(ctx context.Context) error {
	for _, br := range b.o.backlog {
		raw, err := b.rawBurst(ctx, br)
		if err != nil {
			return fmt.Errorf("%s: %w", br, err)
		}
		res, err := b.listdropBacklog(ctx, br)
		if err != nil {
			return fmt.Errorf("%s: %w", br, err)
		}
		res.raw = raw.perSec
		b.logf("backlog    %-18s watching after %s  all in done/ after %s (%.1f files/s; raw %.1f files/s)",
			br, res.watching.Round(time.Millisecond), res.allDone.Round(time.Millisecond), float64(br.files)/res.allDone.Seconds(), raw.perSec)
		b.rep.backlog = append(b.rep.backlog, res)
	}
	return nil
}

func (b *bench) listdropBacklog(ctx context.Context, br burst) (backlogResult, error) {
	res := backlogResult{burst: br}
	r, err := b.setup("backlog", br.lists, br.latency, daemonConf{settle: b.o.settle, workers: br.workers(), verify: br.verify},
		func(r *daemonRun) error {
			files, err := stageFiles(filepath.Join(r.dir, "stage"), r.drops, br.files, br.size, "bl")
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
	if res.watching, err = r.d.waitWatching(ctx, time.Minute); err != nil {
		return res, err
	}
	last, err := r.arr.wait(ctx, br.files, stall)
	if err != nil {
		return res, fmt.Errorf("%w; %s", err, r.d.problems())
	}
	after, err := sampleProc(r.d.pid())
	if err != nil {
		return res, err
	}
	res.allDone = last.Sub(r.d.started)
	if err := r.finish(br.files); err != nil {
		return res, err
	}
	res.cpuPerFile = time.Duration(float64(after.cpuTicks) / userHZ / float64(br.files) * 1e9)
	if after.runNanos > 0 {
		res.cpuPerFile = time.Duration(after.runNanos / int64(br.files))
	}
	res.peakRSSKB = after.hwmKB
	return res, nil
}
