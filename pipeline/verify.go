package pipeline

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/talkdesk"
)

// verify follows Talkdesk's validation of a committed file until the list
// leaves VALIDATION_STARTED/UPLOADED, or verify_timeout passes, and records
// the outcome. It runs beside the list's lane: the next file is prepared
// meanwhile, and only its PATCH waits for the end this sees, since the
// list refuses a PATCH while it validates.
func (p *Pipeline) verify(f *folder, rec state.Record, written <-chan []byte) {
	log := f.fileLog(&rec)
	outcome := p.followValidation(f, rec, rec.Committed)
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

// followValidation looks at rec's list until the validation that the PATCH
// of rec's upload began at start has ended, at most verify_timeout, and
// tells the list's pacing when it ended. It returns Talkdesk's verdict,
// or "unknown" when the validation did not end in time or listdrop is
// stopping.
func (p *Pipeline) followValidation(f *folder, rec state.Record, start time.Time) string {
	log := f.fileLog(&rec)
	if start.IsZero() {
		start = time.Now()
	}
	verdict, took, _ := talkdesk.Follower{
		Get: func() (l *talkdesk.RecordList, err error) {
			err = p.call("verify", func() (err error) {
				l, err = p.api.GetRecordList(p.work, rec.ListID)
				return err
			})
			return l, err
		},
		Wait: p.wait,
		Backoff: func(err error, n int) (time.Duration, bool) {
			log.Debug("cannot read the record list's status", "error", err)
			return p.backoff(n, talkdesk.RetryAfter(err)), true
		},
		Estimate: p.paceOf(rec.ListID).estimate,
		Deadline: time.Now().Add(p.cfg.VerifyTimeout),
	}.Follow(start)
	outcome := cmp.Or(verdict, "unknown")
	p.validationEnded(rec.ListID, rec.UploadID, took)
	if outcome != "unknown" || p.stop.Err() == nil {
		p.metrics.Validation(outcome)
	}
	return outcome
}

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
