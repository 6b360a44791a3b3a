package pipeline

import (
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/listdrop/listdrop/config"
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
	File      string `json:"file"`
	Phase     string `json:"phase"`
	UploadID  string `json:"upload_id,omitempty"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	// Since is when the file was taken; for a split file past its first
	// part, when the part being imported was begun.
	Since time.Time `json:"since"`
	// Part of Parts is the part of a split file being imported; the ones
	// before it are in.
	Part  int `json:"part,omitempty"`
	Parts int `json:"parts,omitempty"`
}

// FolderStatusOf is a folder's status as the state tells it: its held
// files, oldest first, and its last results (recent, newest first, at most
// ten kept). The daemon's Status and the status read from the state while
// it is stopped are both built on it; the daemon adds what only it knows.
func FolderStatusOf(fc config.Folder, active []state.Record, recent []state.Entry) FolderStatus {
	fs := FolderStatus{Path: fc.Path, ListID: fc.RecordListID, Held: []HeldFile{}, Recent: []state.Entry{}}
	for _, r := range active {
		if r.Folder == fc.Path {
			fs.Held = append(fs.Held, HeldFileOf(r))
		}
	}
	sort.Slice(fs.Held, func(i, j int) bool { return fs.Held[i].Since.Before(fs.Held[j].Since) })
	fs.Recent = append(fs.Recent, recent[:min(len(recent), recentResults)]...)
	return fs
}

// HeldFileOf is how a held file's record reads in a status, the daemon's
// or the one read from the state while it is stopped.
func HeldFileOf(r state.Record) HeldFile {
	h := HeldFile{File: filepath.Base(r.Source), Phase: string(r.Phase), UploadID: r.UploadID,
		Attempts: r.Attempts, LastError: r.LastError, Since: r.Claimed, Part: r.Part, Parts: r.Parts}
	if !r.PartSince.IsZero() {
		h.Since = r.PartSince // the part's, not the file's
	}
	return h
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
		fs := FolderStatusOf(fc, active, p.recentOf(fc.Path))
		fs.Waiting, fs.Validating = waiting[fc.Path], validating[fc.RecordListID]
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
		}
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
