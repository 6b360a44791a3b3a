package pipeline

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// call runs one request to Talkdesk in one of the `workers` slots, timing
// it for the metrics and noting whether Talkdesk could be reached, for the
// health check.
func (p *Pipeline) call(step string, f func() error) error {
	select {
	case p.sem <- struct{}{}:
	case <-p.work.Done():
		return fmt.Errorf("%s: listdrop is stopping: %w", step, p.work.Err())
	}
	defer func() { <-p.sem }()
	start := time.Now()
	err := f()
	p.metrics.Step(step, time.Since(start))
	contactOK := err == nil
	if err != nil {
		switch talkdesk.Classify(err) {
		case talkdesk.Permanent, talkdesk.Conflict, talkdesk.Renew:
			contactOK = true // Talkdesk answered; the answer was about the file
		}
	}
	p.mu.Lock()
	p.contactAt = time.Now()
	p.contactErr = ""
	if !contactOK {
		p.contactErr = err.Error()
	}
	p.mu.Unlock()
	return err
}

// Status is a snapshot of what the pipeline is doing, for /status and the
// status command.
type Status struct {
	Healthy  bool           `json:"healthy"`
	Problems []string       `json:"problems,omitempty"`
	Folders  []FolderStatus `json:"folders"`
	// LastContact is when Talkdesk was last reached, and LastError what
	// went wrong then ("" when it worked).
	LastContact time.Time `json:"last_contact,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// FolderStatus is one folder's part of a Status.
type FolderStatus struct {
	Path      string        `json:"path"`
	ListID    string        `json:"list"`
	ListName  string        `json:"list_name,omitempty"` // filled by the daemon once Talkdesk told it
	Available bool          `json:"available"`
	Waiting   int           `json:"waiting"` // seen, waiting for their turn
	Held      []HeldFile    `json:"held"`    // claimed: in flight or waiting to be retried
	Recent    []state.Entry `json:"recent"`  // the last results, newest first
	// Notes are the files that wait for a reason listdrop knows.
	Notes []FileNote `json:"notes,omitempty"`
	// Validating is the upload Talkdesk is validating for this folder's
	// list, whose end the list's next PATCH waits for; nil when none.
	Validating *Validating `json:"validating,omitempty"`
}

// Validating is an upload in Talkdesk's validation.
type Validating struct {
	UploadID string    `json:"upload_id"`
	Since    time.Time `json:"since"`
}

// HeldFile is a claimed file and how far it has come.
type HeldFile struct {
	File      string    `json:"file"`
	Phase     string    `json:"phase"`
	UploadID  string    `json:"upload_id,omitempty"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}

// recentResults is how many results per folder a Status shows.
const recentResults = 10

// Status reports what every folder is doing and whether listdrop is
// healthy: every folder available, the state readable, and the last
// contact with Talkdesk successful (or none needed yet).
func (p *Pipeline) Status() Status {
	var st Status
	p.mu.Lock()
	st.LastContact, st.LastError = p.contactAt, p.contactErr
	waiting := map[string]int{}
	for _, l := range p.lanes {
		for _, it := range l.queue {
			waiting[it.f.cfg.Path]++
		}
	}
	validating := map[string]*Validating{}
	for list, l := range p.lanes {
		if l.free != nil {
			validating[list] = &Validating{UploadID: l.freeFor, Since: l.patched}
		}
	}
	p.mu.Unlock()

	active, err := p.store.Active()
	if err != nil {
		st.Problems = append(st.Problems, "cannot read the state: "+err.Error())
	}
	for _, fc := range p.cfg.Folders {
		fs := FolderStatus{Path: fc.Path, ListID: fc.RecordListID, Waiting: waiting[fc.Path], Held: []HeldFile{}, Recent: []state.Entry{},
			Validating: validating[fc.RecordListID]}
		if problem, down := p.unavailable(fc.Path); down {
			st.Problems = append(st.Problems, problem)
		} else {
			fs.Available = true
		}
		var unhealthy []string
		fs.Notes, unhealthy = p.folderNotes(fc.Path)
		st.Problems = append(st.Problems, unhealthy...)
		for _, r := range active {
			if r.Folder == fc.Path && stuck(r) {
				st.Problems = append(st.Problems, "file "+filepath.Base(r.Source)+" in folder "+fc.Path+" cannot be moved out of the claim folder: "+r.LastError)
			}
			if r.Folder == fc.Path {
				fs.Held = append(fs.Held, HeldFile{File: filepath.Base(r.Source), Phase: string(r.Phase), UploadID: r.UploadID,
					Attempts: r.Attempts, LastError: r.LastError, Since: r.Claimed})
			}
		}
		sort.Slice(fs.Held, func(i, j int) bool { return fs.Held[i].Since.Before(fs.Held[j].Since) })
		fs.Recent = p.recentOf(fc.Path)
		st.Folders = append(st.Folders, fs)
	}
	if st.LastError != "" {
		st.Problems = append(st.Problems, "the last contact with Talkdesk failed: "+st.LastError)
	}
	st.Healthy = len(st.Problems) == 0
	return st
}

// updateGauges refreshes the queue metrics; p.mu must be held. It costs a
// step per list and folder, not per queued file: it runs at every enqueue
// and dequeue.
func (p *Pipeline) updateGauges() {
	if p.metrics == nil {
		return
	}
	per := map[string]int{}
	total := 0
	for _, l := range p.lanes {
		for path, n := range l.waiting {
			per[path] += n
		}
		total += len(l.queue)
	}
	p.metrics.Queue(total)
	for path := range p.folders {
		p.metrics.Waiting(path, per[path])
	}
}

// verify follows Talkdesk's validation of a committed file until the list
// leaves VALIDATION_STARTED/UPLOADED, or verify_timeout passes, and records
// the outcome. It runs beside the list's lane: the next file is prepared
// meanwhile, and only its PATCH waits for the end this sees, since the
// list refuses a PATCH while it validates.
func (p *Pipeline) verify(f *folder, rec state.Record, written <-chan []byte) {
	log := f.fileLog(&rec)
	start := rec.Committed // the PATCH's answer: when the validation began
	if start.IsZero() {
		start = time.Now()
	}
	deadline := time.Now().Add(p.cfg.VerifyTimeout)
	est := p.paceOf(rec.ListID).estimate
	outcome := "unknown"
	seen := start // the last answer that the list was validating
	took := time.Duration(0)
	for errs := 0; ; {
		var l *talkdesk.RecordList
		err := p.call("verify", func() (err error) {
			l, err = p.api.GetRecordList(p.work, rec.ListID)
			return err
		})
		now := time.Now()
		if err == nil && !l.Validating() {
			outcome = l.Status
			// It ended between the last two answers.
			took = max(seen.Add(now.Sub(seen)/2).Sub(start), time.Millisecond)
			break
		}
		var d time.Duration
		if err != nil {
			log.Debug("cannot read the record list's status", "error", err)
			errs++
			d = p.backoff(errs, talkdesk.RetryAfter(err))
		} else {
			seen = now
			d = pollDelay(now.Sub(start), est)
		}
		d = min(d, time.Until(deadline))
		if d <= 0 || !p.wait(d) {
			break
		}
	}
	p.validationEnded(rec.ListID, rec.UploadID, took)
	if outcome == "unknown" && p.stop.Err() != nil {
		return // stopping: the outcome stays unrecorded rather than wrong
	}
	// A nil key: the entry could not be written, which is in the log.
	if histKey := <-written; histKey != nil {
		if err := p.store.SetOutcome(histKey, outcome); err != nil {
			log.Error("cannot write state", "error", err)
		} else {
			crashpoint.At("verdict.recorded")
		}
		p.recentOutcome(rec.Folder, rec.UploadID, outcome)
	}
	p.metrics.Validation(outcome)
	switch outcome {
	case "ACCEPTED":
		log.Info("Talkdesk accepted the file", "outcome", outcome)
	case "REJECTED", "CORRUPTED":
		log.Warn("Talkdesk did not accept the file", "outcome", outcome)
		p.writeResult(f, rec, outcome)
	case "unknown":
		log.Warn("Talkdesk's validation did not end in time; outcome unknown", "outcome", outcome, "waited", p.cfg.VerifyTimeout)
	default:
		log.Warn("Talkdesk validated the file with problems", "outcome", outcome)
	}
}

// writeResult puts <name>.result.txt beside a done file that Talkdesk
// rejected, in plain words.
func (p *Pipeline) writeResult(f *folder, rec state.Record, outcome string) {
	var b strings.Builder
	switch outcome {
	case "REJECTED":
		fmt.Fprintf(&b, "Talkdesk rejected this file after checking its content: none of its records were imported into record list %s.\n", rec.ListID)
	default:
		fmt.Fprintf(&b, "Talkdesk found this file corrupted and could not read it: none of its records were imported into record list %s.\n", rec.ListID)
	}
	fmt.Fprintf(&b, "\nFile:            %s\nRecord list:     %s\nUpload request:  %s\nList status:     %s\nChecked at:      %s\n",
		filepath.Base(rec.Source), rec.ListID, rec.UploadID, outcome, display.Time(time.Now()))
	b.WriteString("\nCheck the file against the record-list template in Talkdesk (first name, last name, a phone number in E.164 form), fix it, and drop it again.\n")
	if err := writeFileNew(rec.Dest+".result.txt", []byte(b.String())); err != nil {
		f.fileLog(&rec).Error("cannot write the result note", "error", err)
	}
}

// checkCSV returns, in plain words, what makes data unfit to import, or "".
func checkCSV(data []byte, required []string) string {
	if problem := dialectProblem(data); problem != "" {
		return problem
	}
	body := bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if !utf8.Valid(body) {
		line := 1 + bytes.Count(body[:firstInvalid(body)], []byte("\n"))
		return fmt.Sprintf("This file is not UTF-8 text (line %d has bytes that are not UTF-8); save it as \"CSV UTF-8\".", line)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = 0 // the header sets it
	header, err := r.Read()
	if err == io.EOF {
		return "This file has no header line and no records."
	}
	if err != nil {
		return csvProblem(err)
	}
	records := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return csvProblem(err)
		}
		records++
	}
	if records == 0 {
		return "This file has a header line but no records."
	}
	have := map[string]bool{}
	for _, h := range header {
		have[strings.ToLower(strings.TrimSpace(h))] = true
	}
	var missing []string
	for _, c := range required {
		if !have[strings.ToLower(strings.TrimSpace(c))] {
			missing = append(missing, strings.TrimSpace(c))
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("The header line lacks the required column%s %s.", plural(len(missing)), strings.Join(missing, ", "))
	}
	return ""
}

func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrFieldCount):
			return fmt.Sprintf("Line %d does not have as many fields as the header line.", pe.Line)
		case errors.Is(pe.Err, csv.ErrQuote), errors.Is(pe.Err, csv.ErrBareQuote):
			return fmt.Sprintf("Line %d has a misplaced quote (\") at column %d.", pe.Line, pe.Column)
		}
		return fmt.Sprintf("Line %d cannot be read as CSV: %v.", pe.Line, pe.Err)
	}
	return "This file cannot be read as CSV: " + err.Error() + "."
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
