//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// report gathers a run's results and writes them as markdown.
type report struct {
	o                 options
	machine           machine
	started, finished time.Time
	loadAtEnd         string

	throughput []throughputResult
	latency    []latencyResult
	idle       *idleResult
	state      *stateResult
	backlog    []backlogResult
	refused    []refusedResult
	validation []validationResult
	split      []splitResult
}

// table is a markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for range t.head {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}

func ms(d time.Duration) string   { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
func us(d time.Duration) string   { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
func mb(kb int64) string          { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
func perSec(v float64) string     { return fmt.Sprintf("%.1f", v) }
func ratio(a, b float64) string   { return fmt.Sprintf("%.2f", a/b) }
func lat(d time.Duration) string  { return fmt.Sprintf("%d ms", d.Milliseconds()) }
func ms3(d time.Duration) string  { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

// Column heads, shared with the tests that read the report back.
var (
	throughputHead = []string{"Files", "Size (bytes)", "Lists", "Workers", "API latency", "Verify", "listdrop (files/s)", "Raw client (files/s)", "listdrop / raw", "Durable raw client (files/s)", "listdrop / durable raw", "Daemon CPU per file", "Daemon peak RSS"}
	latencyHead    = []string{"API latency", "Files", "Rate (files/s)", "Lists", "Settle", "p50", "p95", "p99", "Max", "Raw client p50", "Raw client p99"}
	idleHead       = []string{"Folders", "Measured for", "CPU", "Of one core", "CPU ticks", "Wake-ups", "Wake-ups/s", "Threads", "RSS"}
	stateHead      = []string{"Records", "State file", "Start-up", "Start-up, new state", "RSS after start-up", "Duplicate check, mean", "Duplicate check, p99", "Check of new content, mean"}
	backlogHead    = []string{"Files", "Size (bytes)", "Lists", "Workers", "API latency", "Verify", "To \"watching\"", "All in done/", "listdrop (files/s)", "Raw client (files/s)", "listdrop / raw", "Daemon CPU per file", "Daemon peak RSS"}
	refusedHead    = []string{"Files", "Content", "Lists", "Workers", "Moved to", "To \"watching\"", "Last file moved", "Per file", "Files/s", "Commits at the fake", "Daemon CPU per file", "Daemon peak RSS"}
	validationHead = []string{"Validation", "Lists", "Files per list", "Workers", "Verify", "Ideal span", "listdrop span", "Ideal / listdrop", "listdrop GETs per file", "listdrop 409s per file", "Raw client span", "Ideal / raw", "Raw client GETs per file"}
	splitHead      = []string{"Size", "Records", "Validation", "Parts", "Ideal (parts × validation)", "Drop to done", "Ideal / drop to done", "Overhead per part", "Drop to first PATCH", "Validation end to next PATCH, mean", "Validation end to next PATCH, max", "Last validation end to done/", "Daemon CPU per part", "Daemon peak RSS"}
	targetHead     = []string{"Target", "Measured", "Result"}
)

func (r *report) markdown() string {
	var b strings.Builder
	m := r.machine
	b.WriteString("# listdrop benchmarks\n\n")
	if r.o.smoke {
		b.WriteString("**Smoke run**: every part at a tiny size, to check that the benchmark works. These figures mean nothing.\n\n")
	}
	fmt.Fprintf(&b, "Measured on %s UTC, in %s, with:\n\n```sh\n%s\n```\n\n",
		r.started.UTC().Format("2006-01-02 15:04"), r.finished.Sub(r.started).Round(time.Second), r.o.command)
	b.WriteString("Every figure is from that one run. The daemon is the real binary, built from this\n" +
		"repository and started as `listdrop run --config FILE`; the fake Talkdesk API and S3\n" +
		"(`faketalkdesk`) run in the benchmark's process on 127.0.0.1. How each figure is\n" +
		"measured is at the end.\n\n")

	b.WriteString("## Machine\n\n")
	mt := table{head: []string{"", ""}}
	mt.add("CPU", fmt.Sprintf("%s, %d cores", orUnknown(m.cpu), m.cores))
	mt.add("Memory", orUnknown(m.memory))
	mt.add("System", strings.TrimPrefix(orUnknown(m.os)+", "+orUnknown(m.kernel), ", "))
	mt.add("File system of the folders and state files", m.fs)
	mt.add("Go", m.goVer)
	mt.add("listdrop", orUnknown(m.listdrop))
	mt.add("Load average (1, 5, 15 min) at the start and at the end", orUnknown(m.load)+"; "+orUnknown(r.loadAtEnd))
	mt.write(&b)
	b.WriteString("The machine is shared with other work: figures move by some per cent from one run\n" +
		"to the next.\n\n")

	b.WriteString("## Targets\n\n")
	r.targets().write(&b)

	if len(r.throughput) > 0 {
		fmt.Fprintf(&b, "## 1. Throughput\n\n"+
			"A burst of files renamed into the folders at once, each folder its own record list;\n"+
			"files per second from the first rename to the last file in `done/`. Settle %s.\n"+
			"The raw client makes the same HTTP calls for the same files with the same concurrency.\n\n", r.o.settle)
		t := table{head: throughputHead}
		for _, x := range r.throughput {
			t.add(fmt.Sprint(x.files), fmt.Sprint(x.size), fmt.Sprint(x.lists), fmt.Sprint(x.workers()), lat(x.latency), onOff(x.verify),
				perSec(x.listdrop), perSec(x.raw), ratio(x.listdrop, x.raw), perSec(x.durable), ratio(x.listdrop, x.durable), ms(x.cpuPerFile), mb(x.peakRSSKB))
		}
		t.write(&b)
	}
	if len(r.latency) > 0 {
		b.WriteString("## 2. Latency\n\n" +
			"A steady trickle of 20000-byte files: per file, the time from its rename into the\n" +
			"folder to its arrival in `done/`, minus `settle`. The raw client's figure is the time\n" +
			"from a file's due time to the answer to its PATCH.\n\n")
		t := table{head: latencyHead}
		for _, x := range r.latency {
			t.add(lat(x.latency), fmt.Sprint(x.files), fmt.Sprintf("%g", x.rate), fmt.Sprint(x.lists), lat(x.settle),
				ms(x.p50), ms(x.p95), ms(x.p99), ms(x.m), ms(x.raw50), ms(x.raw99))
		}
		t.write(&b)
	}
	if x := r.idle; x != nil {
		b.WriteString("## 3. Idle\n\n" +
			"A daemon watching empty folders with the default settings (settle 2s, rescan 30s,\n" +
			"workers 4), measured from /proc after its start-up.\n\n")
		t := table{head: idleHead}
		t.add(fmt.Sprint(x.folders), secs(x.duration), fmt.Sprintf("%.4f s", x.cpu),
			fmt.Sprintf("%.4f %%", 100*x.cpu/x.duration.Seconds()), fmt.Sprint(x.cpuTicks), fmt.Sprint(x.wakeups),
			fmt.Sprintf("%.2f", float64(x.wakeups)/x.duration.Seconds()), fmt.Sprint(x.threads), mb(x.rssKB))
		t.write(&b)
		if peak := r.peakRSS(); peak > 0 {
			fmt.Fprintf(&b, "RSS at the peak of a burst: %s (the largest `Daemon peak RSS` above and below).\n\n", mb(peak))
		}
	}
	if x := r.state; x != nil {
		fmt.Fprintf(&b, "## 4. State scale\n\n"+
			"A state file holding %d uploaded files (spread over %d lists): their commits, the\n"+
			"duplicate check's ledger, and their history entries.\n\n", x.records, stateLists)
		t := table{head: stateHead}
		t.add(fmt.Sprint(x.records), fmt.Sprintf("%.1f MB", float64(x.size)/1e6), ms(x.startFull), ms(x.startEmpty), mb(x.rssFullKB),
			us(x.hitMean), us(x.hit99), us(x.missMean))
		t.write(&b)
	}
	if len(r.backlog) > 0 {
		fmt.Fprintf(&b, "## 5. Start-up backlog\n\n"+
			"Files already waiting in the folders when the daemon starts; times from the start\n"+
			"of the process. Settle %s.\n\n", r.o.settle)
		t := table{head: backlogHead}
		for _, x := range r.backlog {
			t.add(fmt.Sprint(x.files), fmt.Sprint(x.size), fmt.Sprint(x.lists), fmt.Sprint(x.workers()), lat(x.latency), onOff(x.verify),
				ms(x.watching), secs(x.allDone), perSec(float64(x.files)/x.allDone.Seconds()), perSec(x.raw),
				ratio(float64(x.files)/x.allDone.Seconds(), x.raw), ms(x.cpuPerFile), mb(x.peakRSSKB))
		}
		t.write(&b)
	}
	if len(r.refused) > 0 {
		fmt.Fprintf(&b, "## 6. Start-up backlog of refused files\n\n"+
			"Files already waiting in one folder (one record list) when the daemon starts: empty\n"+
			"files, each refused (moved to `failed/` beside its `.error.txt`), then good files of\n"+
			"%d bytes, each uploaded (moved to `done/`). Times from the start of the process to\n"+
			"the last file's arrival; per file, that time divided by the files. Settle %s, API\n"+
			"latency 0 ms; `empty_grace` set to the settle.\n\n", refusedGoodSize, r.o.settle)
		t := table{head: refusedHead}
		for _, x := range r.refused {
			t.add(fmt.Sprint(x.files), x.content(), "1", "4", "`"+x.outcome()+"`", ms(x.watching), secs(x.allDone),
				ms3(x.perFile()), perSec(float64(x.files)/x.allDone.Seconds()), fmt.Sprint(x.commits), ms(x.cpuPerFile), mb(x.peakRSSKB))
		}
		t.write(&b)
	}
	if len(r.validation) > 0 {
		b.WriteString("## 7. Validation-paced uploads\n\n" +
			"The fake validates each upload for the time given (the list reports `VALIDATION_STARTED`\n" +
			"and refuses a PATCH with 409 meanwhile). Files of 1000 bytes renamed into the folders at\n" +
			"once. A list's span is the time from its first PATCH to its last, as the fake recorded\n" +
			"them, for the slowest list; the ideal span is (files per list − 1) × validation: each\n" +
			"PATCH the moment the previous validation ends. The raw client obeys the same rule,\n" +
			"prepares each next file while the list validates and looks at the list every 10 ms.\n\n")
		t := table{head: validationHead}
		for _, x := range r.validation {
			t.add(secs(x.validation), fmt.Sprint(x.lists), fmt.Sprint(x.perList), fmt.Sprint(x.workers), onOff(x.verify),
				secs3(x.ideal()), secs3(x.span), fmt.Sprintf("%.3f", ratioOf(x.ideal(), x.span)),
				fmt.Sprintf("%.1f", x.gets), fmt.Sprintf("%.1f", x.refusals),
				secs3(x.rawSpan), fmt.Sprintf("%.3f", ratioOf(x.ideal(), x.rawSpan)), fmt.Sprintf("%.1f", x.rawGets))
		}
		t.write(&b)
	}
	if len(r.split) > 0 {
		fmt.Fprintf(&b, "## 8. Split files\n\n"+
			"One contacts file (header `first_name,last_name,mobile_phone`, every record different)\n"+
			"renamed into a folder with `split: true`; listdrop imports it as parts of at most %d\n"+
			"bytes, one after the other, each part's PATCH after the previous part's validation\n"+
			"ended. The fake validates each upload for the time given. Drop to done is the time\n"+
			"from the rename to the file's arrival in `done/`; the ideal is parts × validation:\n"+
			"nothing but Talkdesk's validations. The overhead per part is (drop to done − ideal) /\n"+
			"parts; the times from each validation's end to the next part's PATCH, from the fake's\n"+
			"record of validations, are what listdrop adds between two parts. Settle %s.\n\n", partLimit, r.o.settle)
		t := table{head: splitHead}
		for _, x := range r.split {
			t.add(sizeName(x.size), fmt.Sprint(x.records), secs(x.validation), fmt.Sprint(x.parts), secs3(x.ideal()), secs3(x.elapsed),
				fmt.Sprintf("%.3f", ratioOf(x.ideal(), x.elapsed)), ms(x.overhead()), ms(x.firstPatch), ms(x.gapMean), ms(x.gapMax),
				ms(x.tail), ms(x.cpuPerPart), mb(x.peakRSSKB))
		}
		t.write(&b)
	}
	r.notes(&b)
	return b.String()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (r *report) peakRSS() int64 {
	var peak int64
	for _, x := range r.throughput {
		peak = max(peak, x.peakRSSKB)
	}
	for _, x := range r.backlog {
		peak = max(peak, x.peakRSSKB)
	}
	for _, x := range r.refused {
		peak = max(peak, x.peakRSSKB)
	}
	return peak
}

// maxLooksPerFile bounds the looks at a validating list per file: the
// first validation of a list is looked at on a schedule that does not know
// its length yet (about 35 looks for 1 s, 80 for 5 s), the next ones about
// eight times each; with 3 files per list and 5 s, that is about 32 per
// file, fewer with more files.
const maxLooksPerFile = 40

// targets sets what was measured against the targets.
func (r *report) targets() *table {
	t := &table{head: targetHead}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "missed"
	}
	ratioTarget := func(name string, latency time.Duration, want float64, durable bool) {
		lo, hi, n := 0.0, 0.0, 0
		for _, x := range r.throughput {
			if x.lists != 8 || x.latency != latency {
				continue
			}
			v := x.listdrop / x.raw
			if durable {
				v = x.listdrop / x.durable
			}
			if n == 0 || v < lo {
				lo = v
			}
			hi = max(hi, v)
			n++
		}
		if n == 0 {
			t.add(name, "not measured", "")
			return
		}
		t.add(name, fmt.Sprintf("%.2f to %.2f (%d bursts)", lo, hi, n), verdict(lo >= want))
	}
	ratioTarget("listdrop / durable raw ≥ 0.8 with 8 lists at 0 ms", 0, 0.8, true)
	ratioTarget("listdrop / raw ≥ 0.97 with 8 lists at 50 ms", 50*time.Millisecond, 0.97, false)
	p99 := "not measured"
	p99ok := ""
	for _, x := range r.latency {
		if x.latency == 0 {
			p99, p99ok = ms(x.p99), verdict(x.p99 <= 25*time.Millisecond)
		}
	}
	t.add("latency p99 − settle ≤ 25 ms at 0 ms", p99, p99ok)
	if x := r.idle; x != nil {
		share := 100 * x.cpu / x.duration.Seconds()
		t.add("idle CPU ≤ 0.05 % of one core", fmt.Sprintf("%.4f %%", share), verdict(share <= 0.05))
		t.add("idle RSS ≤ 20 MB", mb(x.rssKB), verdict(x.rssKB <= 20*1024))
	} else {
		t.add("idle CPU ≤ 0.05 % of one core", "not measured", "")
		t.add("idle RSS ≤ 20 MB", "not measured", "")
	}
	refusedName := fmt.Sprintf("one folder's start-up backlog: per file, %d empty (refused) ≤ %d good", r.o.refusedEmpty, r.o.refusedGood)
	var empty, good *refusedResult
	for i, x := range r.refused {
		if x.empty {
			empty = &r.refused[i]
		} else {
			good = &r.refused[i]
		}
	}
	if empty != nil && good != nil {
		t.add(refusedName, ms3(empty.perFile())+" vs "+ms3(good.perFile()), verdict(empty.perFile() <= good.perFile()))
	} else {
		t.add(refusedName, "not measured", "")
	}
	pacedTarget := func(name string, verify bool, want float64) {
		var ratios []float64
		for _, x := range r.validation {
			if x.verify == verify {
				ratios = append(ratios, ratioOf(x.ideal(), x.span))
			}
		}
		minRatioTarget(t, name, ratios, want, verdict)
	}
	pacedTarget("validation-paced, verify on: ideal / listdrop span ≥ 0.95", true, 0.95)
	pacedTarget("validation-paced, verify off: ideal / listdrop span ≥ 0.9", false, 0.9)
	if len(r.validation) > 0 {
		most := 0.0
		for _, x := range r.validation {
			most = max(most, x.gets+x.refusals)
		}
		t.add(fmt.Sprintf("validation-paced: list GETs + refused PATCHes per file ≤ %d", maxLooksPerFile),
			fmt.Sprintf("at most %.1f", most), verdict(most <= maxLooksPerFile))
	} else {
		t.add(fmt.Sprintf("validation-paced: list GETs + refused PATCHes per file ≤ %d", maxLooksPerFile), "not measured", "")
	}
	r.splitTarget(t, verdict)
	if x := r.state; x != nil && x.records >= 1_000_000 {
		t.add("1M records: start-up ≤ 1 s", ms(x.startFull), verdict(x.startFull <= time.Second))
		t.add("1M records: duplicate check ≤ 100 µs", us(x.hitMean)+" mean ("+us(x.hit99)+" p99)", verdict(x.hitMean <= 100*time.Microsecond))
		t.add("1M records: state file ≤ 300 MB", fmt.Sprintf("%.1f MB", float64(x.size)/1e6), verdict(x.size <= 300_000_000))
	} else {
		what := "not measured"
		if x != nil {
			what = fmt.Sprintf("only %d records", x.records)
		}
		for _, n := range []string{"start-up ≤ 1 s", "duplicate check ≤ 100 µs", "state file ≤ 300 MB"} {
			t.add("1M records: "+n, what, "")
		}
	}
	return t
}

// splitTargetRatio is the least ideal / drop-to-done of a split file when
// Talkdesk validates each part for splitTargetValidation or more: the
// validation-paced part's target with the follow-up of validation on,
// which is how every part is followed. 0.95 leaves listdrop about 50 ms
// per part at 1 s, for what it does in series after each validation's
// end, since a part is prepared only once the one before it is in:
// noticing the end (it looks every 10 ms near the end it expects), the
// part's synced state writes, its upload request, PUT and PATCH; plus the
// settle, the cut and the first validation's coarser looks, shared over
// the parts.
const (
	splitTargetRatio      = 0.95
	splitTargetValidation = time.Second
)

func (r *report) splitTarget(t *table, verdict func(bool) string) {
	name := fmt.Sprintf("split file, validation ≥ %s: ideal / drop to done ≥ %g", splitTargetValidation, splitTargetRatio)
	var ratios []float64
	for _, x := range r.split {
		if x.validation >= splitTargetValidation {
			ratios = append(ratios, ratioOf(x.ideal(), x.elapsed))
		}
	}
	minRatioTarget(t, name, ratios, splitTargetRatio, verdict)
}

// minRatioTarget adds the row of a target that every ratio must meet: their
// range, and whether the lowest is at least want.
func minRatioTarget(t *table, name string, ratios []float64, want float64, verdict func(bool) string) {
	if len(ratios) == 0 {
		t.add(name, "not measured", "")
		return
	}
	lo, hi := slices.Min(ratios), slices.Max(ratios)
	t.add(name, fmt.Sprintf("%.3f to %.3f (%d rows)", lo, hi, len(ratios)), verdict(lo >= want))
}

func (r *report) notes(b *strings.Builder) {
	b.WriteString("## How it is measured\n\n")
	notes := []string{
		"**One file in flight per record list.** Talkdesk's state is per list, so listdrop sends a list's files one after the other: with 1 list, throughput is bounded by one file's round trips in series. The raw client obeys the same rule: one goroutine per list, each sending its list's files in order, at most `workers` lists at once. `workers` (for listdrop, the requests to Talkdesk in flight at once) is listdrop's default 4, set to 8 for 8 lists.",
		"**The raw client** is a minimal loop in the benchmark's process making the same HTTP calls as listdrop for the same files: a token once, then per file create, PUT, PATCH (and, for bursts marked `Verify on`, one GET of the list's status, as listdrop's follow-up of validation does). The files' bytes are already in memory: no filesystem, no state file, no logging; the same keep-alive connection pool (`MaxIdleConnsPerHost` = workers + 2). It is the limit: what the HTTP round trips themselves allow on this machine. Each side gets a fresh fake with the same added latency, applied before every answer.",
		fmt.Sprintf("**Throughput and backlog** use `settle: %s` (files are renamed into the folders, as the README asks), the default `rescan: 30s` and, unless marked `Verify on`, `verify: false`: the issue's calls are create, PUT and PATCH; the follow-up of validation (on by default) adds a GET of the list's status per file and waits for validation to end, which the fake reports as ended (`ACCEPTED`) at once. The admin endpoint stays on, on a free port. Files are written under a staging folder on the same disk, flushed with sync(2), then renamed into the folders in turn (file i to folder i mod lists); the clock starts at the first rename and stops at the last file's arrival in `done/`, seen through inotify. Every run is checked: each file committed exactly once at the fake, no rule broken, every file in `done/`. \"20 KB\" files are exactly 20000 bytes, Talkdesk's limit.", r.o.settle),
		"**The durable raw client** is the raw client plus the least durable work an exactly-once uploader needs: before each PATCH a write-ahead record (list, upload request, MD5) and after it a commit record, each appended to one file and synced (fsync) before the client goes on; records written at once by several lists share one write and one sync, as listdrop's state writes share a transaction. Its log is on the same disk as listdrop's folders and state. At 0 ms latency the plain raw client keeps nothing on disk, a limit no exactly-once uploader can reach; the 0 ms target is stated against the durable one, and the plain ratio is kept for reference.",
		fmt.Sprintf("**Start-up backlog of refused files**: %d empty files, made in one folder before the daemon starts, then (another daemon, a fresh fake and state) %d good files of %d bytes written under a staging folder and renamed into it; listdrop's default settings but `settle: %s`, `empty_grace` the same (its default, 5 minutes, waits for a writer that may not have begun; nothing writes these files), `verify: false`, `workers: 4`. The clock runs from the start of the process to the last file's arrival in `failed/` or `done/`, seen through inotify (a refused file's `.error.txt` is renamed into `failed/` before the file). Each run is checked: every empty file in `failed/` with its `.error.txt`, a \"file failed\" line for each in the log, no upload request and no commit at the fake; every good file committed exactly once and in `done/`, none in `failed/`. The CPU per file is over the daemon's whole life, as for the backlog. Sizes: `-refused-empty` and `-refused-good`.", r.o.refusedEmpty, r.o.refusedGood, refusedGoodSize, r.o.settle),
		"**Validation-paced uploads**: the fake validates each upload for the time given; listdrop runs with `settle` as above, the `workers` of the case, and `verify` on and off. The spans come from the fake's record of each validation's start (its PATCH) and end. GETs are those of `GET /record-lists/{id}` (listdrop's follow-up of validation, or the raw client's looks), and 409s are PATCHes refused because the list was validating (how listdrop paces a list with `verify: false`); both per file. The raw client polls every 10 ms and never waits longer than that: it is the limit.",
		fmt.Sprintf("**Split files**: one folder with `split: true` (listdrop's default `split_max_size`, 10 MB), `settle: %s`, `verify` on (listdrop's default; the parts are followed to their verdicts either way), the default `workers`. The file is written under a staging folder, flushed with sync(2), and renamed into the folder once the daemon has read its list's name; the clock stops at its arrival in `done/`, seen through inotify. Its records look like a contacts export: names from several countries (accents, apostrophes, and now and then a last name with a suffix after a comma, quoted), E.164 mobile numbers, every record different; the file is as close to the size as whole records allow. Each run is checked: no rule broken at the fake, one upload request per part, each committed once and in order, named `…-partKofN.csv`, at most %d bytes and starting with the header; the parts' records end to end exactly the file's; one validation per part; the file in `done/`, nothing in `failed/`. The daemon's CPU is over the import, divided by the parts; peak RSS is VmHWM at its end. Sizes: `-split-sizes 1MB,5MB`; validation times: `-split-validation 1s`.", r.o.settle, partLimit),
		"**Daemon CPU per file** is the daemon's CPU time (user + system, all threads) during the burst divided by the files; for the backlog, over the daemon's whole life. **Peak RSS** is VmHWM from /proc/PID/status at the end of the burst.",
		fmt.Sprintf("**Latency**: %d files of 20000 bytes at %g files/s, spread over %d folders (lists; workers %d), `verify: false`, settle %s subtracted; percentiles by nearest rank.", r.o.trickleFiles, r.o.trickleRate, r.o.trickleLists, max(4, r.o.trickleLists), r.o.settle),
		fmt.Sprintf("**Idle**: %d folders, no files, listdrop's default settings, %s. CPU is utime + stime of /proc/PID/stat (`CPU ticks`, 1/100 s each) and, with nanosecond precision, the sum of `se.sum_exec_runtime` over /proc/PID/task/*/sched (`CPU`, used when the kernel provides it). Wake-ups are voluntary + involuntary context switches summed over every thread's /proc/PID/task/TID/status (/proc/PID/status alone counts only the main thread). RSS is VmRSS at the end.", r.o.idleFolders, r.o.idle),
		"**State scale**: the state file is filled through the `state` package: for each file, `Commit` then `Finish` with the validation outcome already in the entry (the daemon's last writes for a file), on a memory file system when `-state-fill-dir` is one, then copied next to the daemon; its size is the file's size. Start-up is the median, over several starts with listdrop's default settings, of the time from starting the process to its log line \"listdrop is watching\" (after opening and pruning the state and resuming held files), with the file in the page cache. The duplicate check is `state.Store.LookupCommit` timed in the benchmark's process on the same file, for content that is in the ledger (a duplicate) and content that is not (every new file); the target is judged on the mean.",
		"**Default full run** (about 34 minutes on 2 cores): every mix of 1,000 and 10,000 files, 20000 and 1000 bytes, 1 and 8 lists at 0 ms, and 1,000 files of 20000 bytes over 8 lists with the follow-up of validation; at 50 ms, 1,000 files of 20000 bytes and 10,000 of 1000 bytes over 8 lists, 200 files over 1 list (1,000 would take 5 minutes for the same figure: a list's files go one by one), and 1,000 files over 8 lists with the follow-up of validation. Then the refused part (3 to 5 minutes): 100,000 empty files, then 20,000 good ones, in one folder. Then the validation-paced part (about 7 minutes, most of it waiting): validations of 1 s and 5 s, 1 list of 10 files, 8 lists of 5 and 32 lists of 3 with `workers: 4`, `verify` on and off; pick others with `-validation 1s,5s` and `-validation-cases 8x5@4,…`. Then the split part (about 6 minutes, most of it waiting): a 1 MB and a 5 MB contacts file at 1 s of validation per part; pick others with `-split-sizes 1MB,5MB` and `-split-validation 1s`. Pick other bursts with `-throughput 10000x20000x8@50ms,…` and `-backlog`; `-only throughput,latency` runs some parts; `-smoke` runs all of them at a tiny size in a few seconds.",
	}
	for _, n := range notes {
		b.WriteString("- " + n + "\n")
	}
}
