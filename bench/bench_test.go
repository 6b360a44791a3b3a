//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseBursts(t *testing.T) {
	t.Parallel()
	got, err := parseBursts("1000x20000x8@50ms, 10x200x1@0s+verify")
	if err != nil {
		t.Fatal(err)
	}
	want := []burst{{1000, 20000, 8, 50 * time.Millisecond, false}, {10, 200, 1, 0, true}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"1000x20000x8", "1000x20000@0ms", "0x20000x1@0ms", "10x20001x1@0ms", "10x199x1@0ms", "10x1000x65@0ms", "10x1000x1@-1ms", "ax1000x1@0ms", "10x1000x1@0ms+verfy"} {
		if _, err := parseBursts(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCSVBody(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, size := range []int{minFileSize, 201, 999, 1000, 4096, maxFileSize} {
		for _, id := range []string{"tp-00-000000.csv", "rawlat-07-012345.csv"} {
			b := csvBody(id, size)
			if len(b) != size {
				t.Fatalf("%s, %d bytes: got %d", id, size, len(b))
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if lines[0]+"\n" != csvHeader || len(lines) < 2 || b[len(b)-1] != '\n' {
				t.Fatalf("%s, %d bytes: not a CSV file with a header and records: %q", id, size, b)
			}
			for _, l := range lines[1:] {
				if strings.Count(l, ",") != 3 || !strings.Contains(l, id) {
					t.Fatalf("%s, %d bytes: bad record %q", id, size, l)
				}
			}
			if seen[string(b)] {
				t.Fatalf("%s, %d bytes: same content as another file", id, size)
			}
			seen[string(b)] = true
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {95, 95}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%g = %d, want %d", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("one value: %d", got)
	}
}

func TestProcParsing(t *testing.T) {
	t.Parallel()
	// A command name may hold spaces and parentheses.
	stat := []byte("4242 (list drop) (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 7 0 100 0 0\n")
	got, err := parseStatCPU(stat)
	if err != nil || got != 168 {
		t.Fatalf("parseStatCPU = %d, %v; want 168", got, err)
	}
	f := statusFields([]byte("Name:\tlistdrop\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"))
	if f["VmRSS"] != 10240 || f["VmHWM"] != 20480 || f["voluntary_ctxt_switches"] != 12 || f["nonvoluntary_ctxt_switches"] != 3 {
		t.Fatalf("statusFields = %v", f)
	}
	if ns := schedRuntime([]byte("listdrop (1, #threads: 7)\n----\nse.exec_start   :   1.5\nse.sum_exec_runtime  :   12.345678\n")); ns != 12345678 {
		t.Fatalf("schedRuntime = %d", ns)
	}
}

// TestSmokeRun runs every part of the benchmark at its smoke size against
// the real binary and checks the report it writes, cell by cell.
func TestSmokeRun(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds listdrop and runs it")
	}
	dir := t.TempDir()
	o, err := parseFlags([]string{"-smoke", "-dir", dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	if err := run(ctx, o, &out, &progress); err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	report := out.String()
	if strings.Contains(report, dir) {
		t.Errorf("the report names a path of this machine (%s)", dir)
	}
	checkReport(t, report, o)
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

// mdTable is a table read back from the report.
type mdTable struct {
	head []string
	rows [][]string
}

// readTables returns the first table after each "## " heading.
func readTables(md string) (map[string]*mdTable, error) {
	out := map[string]*mdTable{}
	var section string
	var cur *mdTable
	for _, line := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			section, cur = strings.TrimPrefix(line, "## "), nil
			if out[section] != nil {
				return nil, fmt.Errorf("section %q twice", section)
			}
			out[section] = &mdTable{}
		case strings.HasPrefix(line, "|") && section != "":
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			t := out[section]
			switch {
			case cur == nil && t.head == nil:
				cur, t.head = t, cells
			case cur == nil:
				continue // a later table in the section
			case len(t.rows) == 0 && strings.HasPrefix(cells[0], "---"):
				t.rows = [][]string{} // the separator
			case t.rows == nil:
				return nil, fmt.Errorf("section %q: no separator under the head", section)
			default:
				if len(cells) != len(t.head) {
					return nil, fmt.Errorf("section %q: row %q has %d cells, head %d", section, line, len(cells), len(t.head))
				}
				t.rows = append(t.rows, cells)
			}
		default:
			cur = nil
		}
	}
	return out, nil
}

// num reads the number at the start of a cell ("12.5 ms" is 12.5).
func num(t *testing.T, cell string) float64 {
	t.Helper()
	f := strings.Fields(cell)
	if len(f) == 0 {
		t.Fatalf("empty cell")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		t.Fatalf("cell %q is not a number", cell)
	}
	return v
}

func unit(t *testing.T, cell, want string) float64 {
	t.Helper()
	if !strings.HasSuffix(cell, " "+want) {
		t.Fatalf("cell %q: want the unit %q", cell, want)
	}
	return num(t, cell)
}

func checkReport(t *testing.T, md string, o options) {
	t.Helper()
	tables, err := readTables(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Machine", "Targets", "1. Throughput", "2. Latency", "3. Idle", "4. State scale", "5. Start-up backlog", "6. Start-up backlog of refused files", "7. Validation-paced uploads", "8. Split files", "How it is measured"} {
		if tables[s] == nil {
			t.Fatalf("no section %q", s)
		}
	}
	if !strings.Contains(md, "```sh\n"+o.command+"\n```") {
		t.Errorf("the command to reproduce is missing")
	}
	table := func(section string, head []string, rows int) [][]string {
		t.Helper()
		tb := tables[section]
		if !slices.Equal(tb.head, head) {
			t.Fatalf("%s: head %q, want %q", section, tb.head, head)
		}
		if len(tb.rows) != rows {
			t.Fatalf("%s: %d rows, want %d", section, len(tb.rows), rows)
		}
		return tb.rows
	}
	positive := func(what string, v float64) {
		t.Helper()
		if v <= 0 {
			t.Errorf("%s = %g, want > 0", what, v)
		}
	}
	rss := func(what, cell string) {
		t.Helper()
		if v := unit(t, cell, "MB"); v < 1 || v > 1024 {
			t.Errorf("%s = %s: not a daemon's memory", what, cell)
		}
	}

	for i, r := range table("1. Throughput", throughputHead, len(o.throughput)) {
		b := o.throughput[i]
		if r[0] != fmt.Sprint(b.files) || r[1] != fmt.Sprint(b.size) || r[2] != fmt.Sprint(b.lists) ||
			r[3] != fmt.Sprint(b.workers()) || unit(t, r[4], "ms") != float64(b.latency.Milliseconds()) || r[5] != onOff(b.verify) {
			t.Errorf("throughput row %d %q does not describe %s", i, r, b)
		}
		ld, raw, ratio := num(t, r[6]), num(t, r[7]), num(t, r[8])
		positive("listdrop files/s", ld)
		positive("raw files/s", raw)
		if math.Abs(ratio-ld/raw) > 0.01+0.001*ld/raw {
			t.Errorf("throughput row %d: ratio %s is not %s / %s", i, r[8], r[6], r[7])
		}
		durable, dratio := num(t, r[9]), num(t, r[10])
		positive("durable raw files/s", durable)
		if math.Abs(dratio-ld/durable) > 0.01+0.001*ld/durable {
			t.Errorf("throughput row %d: ratio %s is not %s / %s", i, r[10], r[6], r[9])
		}
		positive("CPU per file", unit(t, r[11], "ms"))
		rss("peak RSS", r[12])
	}

	for _, r := range table("2. Latency", latencyHead, len(o.trickleLatencies)) {
		if num(t, r[1]) != float64(o.trickleFiles) || num(t, r[3]) != float64(o.trickleLists) || unit(t, r[4], "ms") != float64(o.settle.Milliseconds()) {
			t.Errorf("latency row %q does not describe the trickle", r)
		}
		p50, p95, p99, mx := unit(t, r[5], "ms"), unit(t, r[6], "ms"), unit(t, r[7], "ms"), unit(t, r[8], "ms")
		if p50 > p95 || p95 > p99 || p99 > mx || p50 < -float64(o.settle.Milliseconds()) {
			t.Errorf("latency percentiles out of order: %q", r)
		}
		if raw50, raw99 := unit(t, r[9], "ms"), unit(t, r[10], "ms"); raw50 <= 0 || raw50 > raw99 {
			t.Errorf("raw client latencies: %q", r)
		}
	}

	idle := table("3. Idle", idleHead, 1)[0]
	if idle[0] != fmt.Sprint(o.idleFolders) || unit(t, idle[1], "s") < o.idle.Seconds()-0.05 {
		t.Errorf("idle row %q does not describe the idle run", idle)
	}
	if unit(t, idle[2], "s") < 0 || unit(t, idle[3], "%") < 0 || num(t, idle[4]) < 0 || num(t, idle[5]) < 0 || num(t, idle[7]) < 1 {
		t.Errorf("idle row %q", idle)
	}
	rss("idle RSS", idle[8])
	if !strings.Contains(md, "RSS at the peak of a burst: ") {
		t.Errorf("no peak RSS line under the idle table")
	}

	st := table("4. State scale", stateHead, 1)[0]
	if st[0] != fmt.Sprint(o.stateRecords) {
		t.Errorf("state row %q: want %d records", st, o.stateRecords)
	}
	positive("state file size", unit(t, st[1], "MB"))
	positive("start-up", unit(t, st[2], "ms"))
	positive("start-up, new state", unit(t, st[3], "ms"))
	rss("RSS after start-up", st[4])
	if mean, p99 := unit(t, st[5], "µs"), unit(t, st[6], "µs"); mean <= 0 || p99 <= 0 {
		t.Errorf("duplicate check times %q", st)
	}
	positive("check of new content", unit(t, st[7], "µs"))

	for i, r := range table("5. Start-up backlog", backlogHead, len(o.backlog)) {
		b := o.backlog[i]
		if r[0] != fmt.Sprint(b.files) || r[1] != fmt.Sprint(b.size) || r[2] != fmt.Sprint(b.lists) || r[5] != onOff(b.verify) {
			t.Errorf("backlog row %d %q does not describe %s", i, r, b)
		}
		watching, all := unit(t, r[6], "ms"), unit(t, r[7], "s")
		positive("time to watching", watching)
		if all*1000 < watching-1 {
			t.Errorf("backlog row %q: all files done before the daemon was watching", r)
		}
		positive("backlog files/s", num(t, r[8]))
		positive("backlog raw files/s", num(t, r[9]))
		positive("backlog CPU per file", unit(t, r[11], "ms"))
		rss("backlog peak RSS", r[12])
	}

	refused := table("6. Start-up backlog of refused files", refusedHead, 2)
	for i, r := range refused {
		n, content, moved, commits := o.refusedEmpty, "empty", "`failed/`", 0
		if i == 1 {
			n, content, moved, commits = o.refusedGood, fmt.Sprintf("%d bytes", refusedGoodSize), "`done/`", o.refusedGood
		}
		if r[0] != fmt.Sprint(n) || r[1] != content || r[2] != "1" || r[4] != moved {
			t.Errorf("refused row %d %q does not describe %d files, %s, to %s", i, r, n, content, moved)
		}
		// Checked by the run itself, and shown: no commit for an empty
		// file, one for each good one.
		if r[9] != fmt.Sprint(commits) {
			t.Errorf("refused row %d: %s commits, want %d", i, r[9], commits)
		}
		watching, all, per, rate := unit(t, r[5], "ms"), unit(t, r[6], "s"), unit(t, r[7], "ms"), num(t, r[8])
		positive("time to watching", watching)
		if all*1000 < watching-50 {
			t.Errorf("refused row %q: all files moved before the daemon was watching", r)
		}
		// The cells are rounded: 0.1 s for the total, 1 µs per file.
		if math.Abs(per*float64(n)/1000-all) > 0.06+0.0005*float64(n)/1000 {
			t.Errorf("refused row %d: per file %s is not %s / %d", i, r[7], r[6], n)
		}
		if math.Abs(rate-1000/per) > 0.05+0.01*rate {
			t.Errorf("refused row %d: %s files/s is not 1 / %s", i, r[8], r[7])
		}
		positive("refused CPU per file", unit(t, r[10], "ms"))
		rss("refused peak RSS", r[11])
	}

	rows := table("7. Validation-paced uploads", validationHead, 2*len(o.validations)*len(o.paced))
	for i, r := range rows {
		c := o.paced[i/2%len(o.paced)]
		v := o.validations[i/2/len(o.paced)]
		if unit(t, r[0], "s") != math.Round(v.Seconds()*10)/10 || r[1] != fmt.Sprint(c.lists) || r[2] != fmt.Sprint(c.perList) ||
			r[3] != fmt.Sprint(c.workers) || r[4] != onOff(i%2 == 0) {
			t.Errorf("validation row %d %q does not describe %s at %s", i, r, c, v)
		}
		ideal, span, rawSpan := unit(t, r[5], "s"), unit(t, r[6], "s"), unit(t, r[10], "s")
		if want := float64(c.perList-1) * v.Seconds(); math.Abs(ideal-want) > 0.001 {
			t.Errorf("validation row %d: ideal %s, want %.3f s", i, r[5], want)
		}
		// The fake refuses a PATCH while the list validates: no span can
		// be shorter than the ideal.
		if span < ideal || rawSpan < ideal {
			t.Errorf("validation row %d: a span shorter than the ideal: %q", i, r)
		}
		if math.Abs(num(t, r[7])-ideal/span) > 0.005 || math.Abs(num(t, r[11])-ideal/rawSpan) > 0.005 { // spans are rounded to the ms
			t.Errorf("validation row %d: ratios are not ideal / span: %q", i, r)
		}
		if num(t, r[8]) < 0 || num(t, r[9]) < 0 || num(t, r[12]) <= 0 {
			t.Errorf("validation row %d: looks per file %q", i, r)
		}
		if r[4] == "off" && num(t, r[8]) != 0 {
			t.Errorf("validation row %d: verify off, yet listdrop read the list", i)
		}
	}

	splitRows := table("8. Split files", splitHead, len(o.splitValidations)*len(o.splitSizes))
	for i, r := range splitRows {
		size, v := o.splitSizes[i%len(o.splitSizes)], o.splitValidations[i/len(o.splitSizes)]
		if r[0] != sizeName(size) || unit(t, r[2], "s") != math.Round(v.Seconds()*10)/10 {
			t.Errorf("split row %d %q does not describe %s at %s", i, r, sizeName(size), v)
		}
		// Checked by the run itself: every record in one of the parts.
		records, parts := num(t, r[1]), num(t, r[3])
		if records < 1 || parts < float64(size/partLimit) || parts > records {
			t.Errorf("split row %d: %s records in %s parts for %d bytes", i, r[1], r[3], size)
		}
		ideal, elapsed, ratio := unit(t, r[4], "s"), unit(t, r[5], "s"), num(t, r[6])
		if want := parts * v.Seconds(); math.Abs(ideal-want) > 0.001 {
			t.Errorf("split row %d: ideal %s, want %.3f s", i, r[4], want)
		}
		// The fake validates each part for the whole time and a part's
		// PATCH is refused meanwhile: no import beats the ideal.
		if elapsed < ideal {
			t.Errorf("split row %d: drop to done shorter than the ideal: %q", i, r)
		}
		if math.Abs(ratio-ideal/elapsed) > 0.005 {
			t.Errorf("split row %d: ratio %s is not %s / %s", i, r[6], r[4], r[5])
		}
		overhead := unit(t, r[7], "ms")
		if math.Abs(overhead-(elapsed-ideal)*1000/parts) > 0.01+0.001*1000/parts {
			t.Errorf("split row %d: overhead per part %s is not (%s − %s) / %s", i, r[7], r[5], r[4], r[3])
		}
		first, mean, mx, tail := unit(t, r[8], "ms"), unit(t, r[9], "ms"), unit(t, r[10], "ms"), unit(t, r[11], "ms")
		positive("drop to first PATCH", first)
		if mean < 0 || mean > mx || tail < 0 {
			t.Errorf("split row %d: gaps between validations %q", i, r)
		}
		// Drop to done is made of the time to the first PATCH, the
		// validations, the gaps between them and the tail (cells rounded
		// to 10 µs and 1 ms).
		if sum := first/1000 + ideal + mean*(parts-1)/1000 + tail/1000; math.Abs(sum-elapsed) > 0.002+0.00001*parts {
			t.Errorf("split row %d: first PATCH + validations + gaps + tail = %.3f s, not %s", i, sum, r[5])
		}
		positive("CPU per part", unit(t, r[12], "ms"))
		rss("split peak RSS", r[13])
	}

	targets := table("Targets", targetHead, 13)
	want := fmt.Sprintf("%s vs %s", refused[0][7], refused[1][7])
	if !slices.ContainsFunc(targets, func(r []string) bool {
		return strings.Contains(r[0], "empty (refused)") && r[1] == want && r[2] != ""
	}) {
		t.Errorf("no target row for the refused part measuring %q", want)
	}
	if !slices.ContainsFunc(targets, func(r []string) bool { return strings.HasPrefix(r[0], "split file, ") }) {
		t.Errorf("no target row for the split part")
	}
	for _, r := range targets {
		if !slices.Contains([]string{"met", "missed", ""}, r[2]) {
			t.Errorf("target %q: result %q", r[0], r[2])
		}
	}
}

func TestParseSizes(t *testing.T) {
	t.Parallel()
	got, err := parseSizes("1MB, 5 MB,100kB,20001,2.5MB")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1_000_000, 5_000_000, 100_000, 20001, 2_500_000}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "20000", "1GB", "11MB", "x", "-1MB", "5 MiB"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestContactsCSV(t *testing.T) {
	t.Parallel()
	for _, size := range []int{20001, 100_000, 1_000_000} {
		data, n := contactsCSV(size)
		if len(data) > size || len(data) < size-60 {
			t.Fatalf("%d bytes: got %d", size, len(data))
		}
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if strings.Join(rows[0], ",")+"\n" != splitHeader || len(rows)-1 != n {
			t.Fatalf("%d bytes: header %q, %d records, want %d", size, rows[0], len(rows)-1, n)
		}
		seen := map[string]bool{}
		quoted := 0
		for _, r := range rows[1:] {
			if len(r) != 3 || r[0] == "" || r[1] == "" || !strings.HasPrefix(r[2], "+") || len(r[2]) > 16 {
				t.Fatalf("%d bytes: record %q is not a contact", size, r)
			}
			if seen[r[2]] {
				t.Fatalf("%d bytes: the number %s twice", size, r[2])
			}
			seen[r[2]] = true
			if strings.Contains(r[1], ",") {
				quoted++
			}
		}
		if quoted == 0 {
			t.Errorf("%d bytes: no quoted last name", size)
		}
	}
}

// TestSplitTarget judges the split part's target on the rows at 1 s or
// more only.
func TestSplitTarget(t *testing.T) {
	t.Parallel()
	row := func(v time.Duration, parts int, elapsed time.Duration) splitResult {
		return splitResult{size: 1_000_000, validation: v, parts: parts, elapsed: elapsed}
	}
	for _, c := range []struct {
		rows []splitResult
		want []string
	}{
		{nil, []string{"not measured", ""}},
		{[]splitResult{row(100*time.Millisecond, 6, time.Second)}, []string{"not measured", ""}},
		{[]splitResult{row(time.Second, 50, 51*time.Second), row(time.Second, 250, 260*time.Second)}, []string{"0.962 to 0.980 (2 rows)", "met"}},
		{[]splitResult{row(time.Second, 50, 51*time.Second), row(time.Second, 250, 270*time.Second), row(100*time.Millisecond, 6, time.Second)}, []string{"0.926 to 0.980 (2 rows)", "missed"}},
	} {
		r := &report{split: c.rows}
		var got []string
		for _, x := range r.targets().rows {
			if strings.HasPrefix(x[0], "split file, validation ≥ 1s: ideal / drop to done ≥ 0.95") {
				got = x[1:]
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%d rows: target %q, want %q", len(c.rows), got, c.want)
		}
	}
}
