package pipeline

import (
	"time"

	"github.com/listdrop/listdrop/state"
)

// The results a status shows (the last few of each folder) are kept in
// memory as files finish, so that /healthz and /status cost no read of the
// history however long it is: they are asked every few seconds by
// monitors. They are read from the state once, at start-up.

// seedRecent reads each folder's last results of the past week.
func (p *Pipeline) seedRecent() {
	need := len(p.folders)
	got := map[string][]state.Entry{}
	err := p.store.Newest(time.Now().Add(-7*24*time.Hour), func(e state.Entry) bool {
		if p.folders[e.Folder] != nil && len(got[e.Folder]) < recentResults {
			got[e.Folder] = append(got[e.Folder], e)
			if len(got[e.Folder]) == recentResults {
				need--
			}
		}
		return need > 0
	})
	if err != nil {
		p.log.Error("cannot read the last results from the state; status shows those from now on", "error", err)
	}
	p.mu.Lock()
	p.recent = got
	p.mu.Unlock()
}

// addRecent notes a file's end, newest first.
func (p *Pipeline) addRecent(e state.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := append([]state.Entry{e}, p.recent[e.Folder]...)
	p.recent[e.Folder] = r[:min(len(r), recentResults)]
}

// recentOutcome records Talkdesk's verdict on a result still shown.
func (p *Pipeline) recentOutcome(folder, uploadID, outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.recent[folder] {
		if e := &p.recent[folder][i]; e.UploadID == uploadID && uploadID != "" {
			e.Outcome = outcome
			return
		}
	}
}

// recentOf is a copy of a folder's last results, newest first.
func (p *Pipeline) recentOf(folder string) []state.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]state.Entry{}, p.recent[folder]...)
}
