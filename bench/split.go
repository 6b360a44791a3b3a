//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/listdrop/listdrop/faketalkdesk"
)

// partLimit is Talkdesk's limit for one upload, which a part of a split
// file must keep to, header included.
const partLimit = 20000

// splitHeader is the header of the split part's contacts files.
const splitHeader = "first_name,last_name,mobile_phone\n"

// splitResult is one row of the split table: one file of size bytes in a
// folder with `split: true`, the fake validating each upload for
// validation.
type splitResult struct {
	size, records int
	validation    time.Duration
	parts         int
	// elapsed is the time from the rename into the folder to the file's
	// arrival in done/.
	elapsed time.Duration
	// firstPatch is the time from the rename to the first part's PATCH
	// (its validation's start); tail, from the last validation's end to
	// the arrival in done/.
	firstPatch, tail time.Duration
	// gapMean and gapMax are over the times from the end of one part's
	// validation to the next part's PATCH: what listdrop adds per part.
	gapMean, gapMax time.Duration
	cpuPerPart      time.Duration
	peakRSSKB       int64
}

// ideal is the import's time when every part's PATCH comes the moment the
// previous validation ends and nothing else takes any time.
func (r splitResult) ideal() time.Duration { return time.Duration(r.parts) * r.validation }

// overhead is listdrop's time per part beyond the validations.
func (r splitResult) overhead() time.Duration {
	return (r.elapsed - r.ideal()) / time.Duration(max(r.parts, 1))
}

// parseSizes reads "1MB,5MB,100kB,20001": bytes, or a number with kB or MB
// (powers of 1000, as listdrop's configuration reads them).
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		num, mult := part, 1
		lower := strings.ToLower(part)
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"kb", 1000}, {"mb", 1000_000}, {"b", 1}} {
			if strings.HasSuffix(lower, u.suffix) {
				num, mult = strings.TrimSpace(part[:len(part)-len(u.suffix)]), u.mult
				break
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a size (bytes, or a number with kB or MB)", part)
		}
		n := int(v * float64(mult))
		if n <= partLimit || n > maxSplitSize {
			return nil, fmt.Errorf("%q: a size must be over %d bytes (smaller files are not split) and at most %d (listdrop's default split_max_size)", part, partLimit, maxSplitSize)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no size given")
	}
	return out, nil
}

// maxSplitSize is listdrop's default split_max_size: a bigger file is
// refused, not split.
const maxSplitSize = 10_000_000

func sizeName(n int) string {
	switch {
	case n%1000_000 == 0:
		return fmt.Sprintf("%d MB", n/1000_000)
	case n%1000 == 0:
		return fmt.Sprintf("%d kB", n/1000)
	}
	return fmt.Sprintf("%d bytes", n)
}

var (
	firstNames = []string{"Maria", "João", "Ana", "José", "Francisco", "Beatriz", "Emma", "Liam", "Olivia", "Noah",
		"Sophie", "Lucas", "Chloé", "Hugo", "Mia", "Leon", "Zoë", "Mateo", "Aisha", "Omar",
		"Priya", "Arjun", "Mei", "Hiroshi", "Sean", "Siobhán", "Björn", "Ingrid", "Anne-Marie", "Jean-Luc"}
	lastNames = []string{"Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Smith", "Johnson", "Williams", "Brown",
		"Müller", "Schmidt", "García", "Fernández", "Martin", "Bernard", "Rossi", "Russo", "O'Brien", "Murphy",
		"Nguyen", "Kim", "Patel", "Khan", "Van der Berg", "Kowalski", "Nowak", "Dubois", "Lefèvre", "Andersson"}
	// E.164 country codes with the length of the national number.
	phonePlans = []struct {
		code   string
		digits int
	}{{"+1", 10}, {"+44", 10}, {"+351", 9}, {"+34", 9}, {"+49", 11}, {"+33", 9}, {"+55", 11}}
)

// contactsCSV is a contacts export of at most size bytes (as close to it as
// whole records allow): the header, then one record per contact, every one
// different. Some last names carry a suffix after a comma, quoted as CSV
// wants, so that records are not all alike for the cut into parts.
func contactsCSV(size int) (data []byte, records int) {
	b := make([]byte, 0, size)
	b = append(b, splitHeader...)
	for i := 0; ; i++ {
		first := firstNames[i%len(firstNames)]
		last := lastNames[(i/len(firstNames)+i*7)%len(lastNames)]
		switch i % 97 {
		case 13:
			last = `"` + last + `, Jr."`
		case 59:
			last = `"` + last + `, PhD"`
		}
		plan := phonePlans[i%len(phonePlans)]
		// The index makes the number, so no two records are the same.
		national := fmt.Sprintf("%d%0*d", 2+i%7, plan.digits-1, i)
		row := fmt.Appendf(nil, "%s,%s,%s%s\n", first, last, plan.code, national)
		if len(b)+len(row) > size {
			return b, i
		}
		b = append(b, row...)
	}
}

func (b *bench) split(ctx context.Context) error {
	for _, v := range b.o.splitValidations {
		for _, size := range b.o.splitSizes {
			res, err := b.listdropSplit(ctx, size, v)
			if err != nil {
				return fmt.Errorf("%s at %s: %w", sizeName(size), v, err)
			}
			b.logf("split      %-8s validation %-5s %d parts  drop to done %s (ideal %s, ratio %.3f)  overhead/part %s  gap mean %s max %s  first PATCH %s  tail %s",
				sizeName(size), v, res.parts, secs3(res.elapsed), secs3(res.ideal()), ratioOf(res.ideal(), res.elapsed),
				ms(res.overhead()), ms(res.gapMean), ms(res.gapMax), ms(res.firstPatch), ms(res.tail))
			b.rep.split = append(b.rep.split, res)
		}
	}
	return nil
}

// listdropSplit starts a daemon with one folder that splits, against a fake
// that validates each upload for v, renames a contacts file of size bytes
// into it and times it to its arrival in done/; then checks that the file
// was imported whole, each part once.
func (b *bench) listdropSplit(ctx context.Context, size int, v time.Duration) (splitResult, error) {
	res := splitResult{size: size, validation: v}
	var data []byte
	data, res.records = contactsCSV(size)
	name := fmt.Sprintf("contacts-%d.csv", size)
	var staged, target string
	r, err := b.setup("split", 1, 0, daemonConf{settle: b.o.settle, verify: true, split: true},
		func(r *daemonRun) error {
			r.fake.SetValidation("", v)
			stage := filepath.Join(r.dir, "stage")
			if err := os.MkdirAll(stage, 0o755); err != nil {
				return err
			}
			staged, target = filepath.Join(stage, name), filepath.Join(r.drops[0], name)
			if err := os.WriteFile(staged, data, 0o644); err != nil {
				return err
			}
			syscall.Sync()
			return nil
		})
	if err != nil {
		return res, err
	}
	defer r.close(b)
	if _, err := r.d.waitWatching(ctx, time.Minute); err != nil {
		return res, err
	}
	if _, err := r.nameLookups(ctx, 1); err != nil {
		return res, err
	}
	before, err := sampleProc(r.d.pid())
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	if err := os.Rename(staged, target); err != nil {
		return res, err
	}
	// Nothing reaches done/ before the last part is in: allow for every
	// part's validation, twice over, on top of the usual stall.
	limit := stall + 2*time.Duration(size/(partLimit/2)+1)*v
	done, err := r.arr.wait(ctx, 1, limit)
	if err != nil {
		return res, fmt.Errorf("%w; %s", err, r.d.problems())
	}
	after, err := sampleProc(r.d.pid())
	if err != nil {
		return res, err
	}
	res.elapsed = done.Sub(t0)
	if err := r.d.stop(); err != nil {
		r.d = nil
		return res, err
	}
	r.d = nil
	if err := checkSplit(r, data, name); err != nil {
		return res, err
	}
	vals := r.fake.Validations()
	res.parts = len(vals)
	res.firstPatch = vals[0].Start.Sub(t0)
	res.tail = done.Sub(vals[len(vals)-1].End)
	var sum time.Duration
	for i := 1; i < len(vals); i++ {
		gap := vals[i].Start.Sub(vals[i-1].End)
		sum += gap
		res.gapMax = max(res.gapMax, gap)
	}
	if len(vals) > 1 {
		res.gapMean = sum / time.Duration(len(vals)-1)
	}
	res.cpuPerPart = time.Duration(cpuSeconds(before, after) / float64(res.parts) * 1e9)
	res.peakRSSKB = after.hwmKB
	return res, nil
}

// checkSplit makes sure a split file was imported exactly once: no rule
// broken at the fake; every upload request committed, once, in order, each
// part named as its number and count, at most partLimit bytes and starting
// with the header; one validation per part; the parts'
// records, end to end, exactly the file's; the file in done/, nothing in
// failed/.
func checkSplit(r *daemonRun, data []byte, name string) error {
	fake := r.fake
	if v := fake.Violations(); len(v) > 0 {
		return fmt.Errorf("the fake Talkdesk saw %d rule violations, the first: %s", len(v), v[0])
	}
	commits := fake.Commits()
	n := len(commits)
	if n < 2 {
		return fmt.Errorf("%d parts committed: the file was not split", n)
	}
	uploads := fake.UploadRequests()
	if len(uploads) != n {
		return fmt.Errorf("%d upload requests for %d commits: each part should have one", len(uploads), n)
	}
	seen := map[string]bool{}
	var records bytes.Buffer
	width := len(strconv.Itoa(n))
	for k, c := range commits {
		if seen[c.UploadID] {
			return fmt.Errorf("upload request %s was committed twice", c.UploadID)
		}
		seen[c.UploadID] = true
		if c.UploadID != uploads[k].ID || uploads[k].Status != faketalkdesk.StatusUploaded {
			return fmt.Errorf("part %d: committed out of order, or its upload request is %s", k+1, uploads[k].Status)
		}
		if want := fmt.Sprintf("-part%0*dof%d.csv", width, k+1, n); !strings.HasSuffix(c.Filename, want) {
			return fmt.Errorf("part %d is named %q, want a name ending %q", k+1, c.Filename, want)
		}
		if len(c.Body) > partLimit {
			return fmt.Errorf("part %d is %d bytes, over %d", k+1, len(c.Body), partLimit)
		}
		rest, ok := bytes.CutPrefix(c.Body, []byte(splitHeader))
		if !ok || len(rest) == 0 {
			return fmt.Errorf("part %d does not start with the header and hold records", k+1)
		}
		records.Write(rest)
	}
	if !bytes.Equal(records.Bytes(), data[len(splitHeader):]) {
		return fmt.Errorf("the parts' records (%d bytes) are not the file's (%d bytes)", records.Len(), len(data)-len(splitHeader))
	}
	if vals := fake.Validations(); len(vals) != n {
		return fmt.Errorf("%d validations for %d parts", len(vals), n)
	}
	if _, err := os.Stat(filepath.Join(r.dones[0], name)); err != nil {
		return fmt.Errorf("the file is not in done/: %w", err)
	}
	if k := countFiles(filepath.Join(r.drops[0], "failed")); k != 0 {
		return fmt.Errorf("%d files in failed/", k)
	}
	return nil
}
