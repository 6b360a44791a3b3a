//go:build linux

// Command bench measures listdrop as users run it: it builds the binary,
// runs `listdrop run --config` as a child process against the fake Talkdesk
// API and S3 served from this process on 127.0.0.1, drops real files in
// real folders, and reads the daemon's CPU time, wake-ups and memory from
// /proc. Beside listdrop it runs a raw client: the same HTTP calls for the
// same files with the same concurrency and no filesystem work, which is the
// limit listdrop is measured against.
//
//	go run ./bench -md BENCHMARKS.md
//
// The report is markdown on standard output (and in the -md file); progress
// goes to standard error. -smoke runs every part at a tiny size in a few
// seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// burst is one throughput measurement: files of size bytes dropped at once
// over lists folders, each folder its own record list.
type burst struct {
	files, size, lists int
	latency            time.Duration
	// verify turns on listdrop's follow-up of validation (one GET of the
	// list per file, in the list's turn); the raw client then makes it too.
	verify bool
}

func (b burst) String() string {
	s := fmt.Sprintf("%dx%dx%d@%s", b.files, b.size, b.lists, b.latency)
	if b.verify {
		s += "+verify"
	}
	return s
}

// workers is the daemon's `workers` for a burst: the default 4, raised to
// the number of lists so that every list can have its file in flight.
func (b burst) workers() int { return max(4, b.lists) }

// parseBursts reads "FILESxSIZExLISTS@LATENCY[+verify],…", e.g.
// "1000x20000x8@50ms".
func parseBursts(s string) ([]burst, error) {
	var out []burst
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		spec, verify := strings.CutSuffix(part, "+verify")
		dims, lat, ok := strings.Cut(spec, "@")
		if !ok {
			return nil, fmt.Errorf("%q: want FILESxSIZExLISTS@LATENCY[+verify], e.g. 1000x20000x8@50ms", part)
		}
		f := strings.Split(dims, "x")
		if len(f) != 3 {
			return nil, fmt.Errorf("%q: want FILESxSIZExLISTS@LATENCY[+verify], e.g. 1000x20000x8@50ms", part)
		}
		var n [3]int
		for i, v := range f {
			x, err := strconv.Atoi(v)
			if err != nil || x < 1 {
				return nil, fmt.Errorf("%q: %q is not a positive number", part, v)
			}
			n[i] = x
		}
		d, err := time.ParseDuration(lat)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q: latency %q is not a duration", part, lat)
		}
		b := burst{files: n[0], size: n[1], lists: n[2], latency: d, verify: verify}
		if b.size < minFileSize || b.size > maxFileSize {
			return nil, fmt.Errorf("%q: size must be %d to %d bytes", part, minFileSize, maxFileSize)
		}
		if b.lists > 64 {
			return nil, fmt.Errorf("%q: at most 64 lists (listdrop's workers limit)", part)
		}
		out = append(out, b)
	}
	return out, nil
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a duration", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// The parts of a run, in the order they run and are reported.
var allParts = []string{"throughput", "latency", "idle", "state", "backlog", "refused", "validation", "split"}

type options struct {
	dir    string // a new folder for the runs is made in it
	binary string // a listdrop binary to measure; empty: build one
	keep   bool   // keep the run folders, logs included
	md     string // also write the report to this file
	parts  []string
	smoke  bool

	settle     time.Duration
	throughput []burst

	trickleRate      float64
	trickleFiles     int
	trickleLists     int
	trickleLatencies []time.Duration

	idle        time.Duration
	idleFolders int

	stateRecords  int
	stateFillDir  string // where the state file is filled before it is copied to dir
	startupRounds int
	lookups       int

	backlog []burst

	// The refused part: empty files (each refused) and good files waiting
	// in one folder at the start.
	refusedEmpty, refusedGood int

	validations []time.Duration // how long the fake validates each upload
	paced       []pacedCase

	// The split part: a contacts file of each size in a folder that
	// splits, against a fake validating each upload for each time.
	splitSizes       []int
	splitValidations []time.Duration

	command string // how this run was started, for the report
}

// Defaults of the full run. It takes about 34 minutes on a 2-core machine;
// BENCHMARKS.md says what it measured.
const (
	defaultThroughput = "1000x20000x1@0ms,1000x1000x1@0ms,1000x20000x8@0ms,1000x1000x8@0ms," +
		"10000x20000x1@0ms,10000x1000x1@0ms,10000x20000x8@0ms,10000x1000x8@0ms," +
		"1000x20000x8@0ms+verify,1000x20000x8@50ms,10000x1000x8@50ms,200x20000x1@50ms,1000x1000x8@50ms+verify"
	defaultBacklog = "10000x1000x8@0ms"
	// The refused part takes 3 to 5 minutes on a 2-core machine.
	defaultRefusedEmpty = 100_000
	defaultRefusedGood  = 20_000
	// The validation-paced part takes about 7 minutes, most of it waiting.
	defaultValidations = "1s,5s"
	defaultPaced       = "1x10@4,8x5@4,32x3@4"
	// The split part takes about 6 minutes: 51 and 255 parts, each
	// validated for a second.
	defaultSplitSizes       = "1MB,5MB"
	defaultSplitValidations = "1s"
)

// smokeOptions is the few-second run that CI and the tests use.
func smokeOptions(o options) options {
	o.smoke = true
	o.throughput = []burst{{files: 20, size: 20000, lists: 1}, {files: 40, size: 1000, lists: 8, latency: 5 * time.Millisecond, verify: true}}
	o.trickleRate, o.trickleFiles, o.trickleLists = 50, 20, 2
	o.trickleLatencies = []time.Duration{0}
	o.idle, o.idleFolders = time.Second, 10
	o.stateRecords, o.startupRounds, o.lookups = 1000, 1, 1000
	o.backlog = []burst{{files: 40, size: 1000, lists: 2}}
	o.refusedEmpty, o.refusedGood = 300, 100
	o.validations = []time.Duration{200 * time.Millisecond}
	o.paced = []pacedCase{{lists: 1, perList: 3, workers: 4}, {lists: 4, perList: 2, workers: 2}}
	o.splitSizes, o.splitValidations = []int{100_000}, []time.Duration{100 * time.Millisecond}
	return o
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.dir, "dir", os.TempDir(), "folder in which the run makes its folders and state files (put it on the disk to measure)")
	fs.StringVar(&o.binary, "binary", "", "listdrop binary to measure (default: build this module's)")
	fs.BoolVar(&o.keep, "keep", false, "keep the run's folders and the daemons' logs")
	fs.StringVar(&o.md, "md", "", "also write the markdown report to this file")
	parts := fs.String("only", strings.Join(allParts, ","), "parts to run, comma-separated: "+strings.Join(allParts, ","))
	fs.BoolVar(&o.smoke, "smoke", false, "run every part at a tiny size, in a few seconds (ignores the size flags)")
	fs.DurationVar(&o.settle, "settle", 50*time.Millisecond, "the daemon's settle for throughput, latency and backlog")
	tp := fs.String("throughput", defaultThroughput, "bursts FILESxSIZExLISTS@LATENCY[+verify], comma-separated")
	fs.Float64Var(&o.trickleRate, "trickle-rate", 20, "files per second of the latency trickle")
	fs.IntVar(&o.trickleFiles, "trickle-files", 400, "files dropped in the latency trickle")
	fs.IntVar(&o.trickleLists, "trickle-lists", 8, "folders (lists) of the latency trickle")
	tl := fs.String("trickle-latency", "0ms,50ms", "API latencies of the latency trickle, comma-separated")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "how long the idle daemon is measured")
	fs.IntVar(&o.idleFolders, "idle-folders", 10, "folders the idle daemon watches")
	fs.IntVar(&o.stateRecords, "state-records", 1_000_000, "files recorded in the state file of the scale test")
	fs.StringVar(&o.stateFillDir, "state-fill-dir", "/dev/shm", "folder where the state file is filled before being copied next to the daemon (a memory file system makes the filling fast); empty or missing: fill it in place")
	fs.IntVar(&o.startupRounds, "startup-rounds", 3, "daemon start-ups measured per state file (the median is reported)")
	fs.IntVar(&o.lookups, "lookups", 10000, "duplicate checks timed on the big state file")
	bl := fs.String("backlog", defaultBacklog, "start-up backlogs FILESxSIZExLISTS@LATENCY[+verify], comma-separated")
	fs.IntVar(&o.refusedEmpty, "refused-empty", defaultRefusedEmpty, "empty files waiting in one folder at the start, each refused (the refused part)")
	fs.IntVar(&o.refusedGood, "refused-good", defaultRefusedGood, "good files waiting in one folder at the start, each uploaded (the refused part)")
	vals := fs.String("validation", defaultValidations, "validation times of the fake for the validation-paced part, comma-separated")
	pc := fs.String("validation-cases", defaultPaced, "validation-paced cases LISTSxFILES@WORKERS (files per list), comma-separated")
	ss := fs.String("split-sizes", defaultSplitSizes, "sizes of the split part's contacts files (bytes, kB or MB), comma-separated")
	sv := fs.String("split-validation", defaultSplitValidations, "validation times of the fake for the split part, comma-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.throughput, err = parseBursts(*tp); err != nil {
		return o, fmt.Errorf("-throughput: %w", err)
	}
	if o.backlog, err = parseBursts(*bl); err != nil {
		return o, fmt.Errorf("-backlog: %w", err)
	}
	if o.trickleLatencies, err = parseDurations(*tl); err != nil {
		return o, fmt.Errorf("-trickle-latency: %w", err)
	}
	if o.validations, err = parseDurations(*vals); err != nil {
		return o, fmt.Errorf("-validation: %w", err)
	}
	if slices.Contains(o.validations, 0) {
		return o, errors.New("-validation: a validation time must be positive")
	}
	if o.paced, err = parsePaced(*pc); err != nil {
		return o, fmt.Errorf("-validation-cases: %w", err)
	}
	if o.splitSizes, err = parseSizes(*ss); err != nil {
		return o, fmt.Errorf("-split-sizes: %w", err)
	}
	if o.splitValidations, err = parseDurations(*sv); err != nil {
		return o, fmt.Errorf("-split-validation: %w", err)
	}
	if len(o.splitValidations) == 0 || slices.Contains(o.splitValidations, 0) {
		return o, errors.New("-split-validation: a validation time must be positive")
	}
	for _, p := range strings.Split(*parts, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(allParts, p) {
			return o, fmt.Errorf("-only: unknown part %q (want %s)", p, strings.Join(allParts, ","))
		}
		o.parts = append(o.parts, p)
	}
	switch {
	case o.trickleRate <= 0 || o.trickleFiles < 1 || o.trickleLists < 1 || o.trickleLists > 64:
		return o, errors.New("-trickle-rate, -trickle-files and -trickle-lists must be positive (at most 64 lists)")
	case o.idleFolders < 1 || o.stateRecords < 1 || o.startupRounds < 1 || o.lookups < 1:
		return o, errors.New("-idle-folders, -state-records, -startup-rounds and -lookups must be positive")
	case o.refusedEmpty < 1 || o.refusedGood < 1:
		return o, errors.New("-refused-empty and -refused-good must be positive")
	case o.settle < 0 || o.idle <= 0:
		return o, errors.New("-settle must not be negative and -idle must be positive")
	}
	if o.smoke {
		o = smokeOptions(o)
	}
	o.command = commandLine(fs)
	return o, nil
}

// commandLine is the command that repeats a run, for the report. Flags
// that only name places on this machine are left out (the report must not
// name them); -md keeps the file's name.
func commandLine(fs *flag.FlagSet) string {
	parts := []string{"go run ./bench"}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "dir", "binary", "state-fill-dir", "keep":
			return
		case "md":
			parts = append(parts, "-md "+filepath.Base(f.Value.String()))
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if f.Value.String() == "true" {
				parts = append(parts, "-"+f.Name)
			} else {
				parts = append(parts, "-"+f.Name+"=false")
			}
			return
		}
		parts = append(parts, "-"+f.Name+" "+f.Value.String())
	})
	return strings.Join(parts, " ")
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opts, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
