package pipeline

import (
	"net/url"
	"strconv"
	"time"

	"github.com/listdrop/listdrop/talkdesk"
)

// Talkdesk validates each upload for a while after its PATCH (the list
// reports VALIDATION_STARTED) and refuses another PATCH to the list
// meanwhile with 409. So a list's uploads are paced by its validations: the
// next file of a list is claimed, checked, hashed, and has its upload
// request created and its bytes PUT while the list validates, and only its
// PATCH waits for the end of the validation, which is looked for on a
// schedule made for it (talkdesk.PollDelay), not with the error backoff. A list that
// waits holds no worker: `workers` bounds the requests in flight at once.

// laneOf is the lane of a record list, made when missing; p.mu must be
// held.
func (p *Pipeline) laneOf(list string) *lane {
	l := p.lanes[list]
	if l == nil {
		l = &lane{}
		p.lanes[list] = l
	}
	return l
}

// validationStarted notes that a PATCH to list was answered at `at`. With
// verify, the follow-up of that upload says when its validation ends, and
// the list's next PATCH waits for it.
func (p *Pipeline) validationStarted(list, uploadID string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.laneOf(list)
	l.patched = at
	if l.free != nil {
		close(l.free)
	}
	l.free, l.freeFor = nil, ""
	if p.cfg.Verify {
		l.free, l.freeFor = make(chan struct{}), uploadID
	}
}

// validationEnded ends the wait that the PATCH of uploadID began. took is
// how long the validation lasted (0: its end was not seen, so what runs
// on the list is no longer known).
func (p *Pipeline) validationEnded(list, uploadID string, took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.laneOf(list)
	if took > 0 {
		l.estimate, l.unsure = took, false
	} else {
		l.unsure = true
	}
	if l.free != nil && l.freeFor == uploadID {
		close(l.free)
		l.free, l.freeFor = nil, ""
	}
}

// pace is what a list's pacing says to a file about to be sent.
type pace struct {
	free     <-chan struct{} // closed when the list's running validation ends; nil: none followed
	patched  time.Time       // the list's last PATCH by this process
	estimate time.Duration
	unsure   bool
	// createWaits: the list refused an upload request while validating.
	createWaits bool
}

func (p *Pipeline) paceOf(list string) pace {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.laneOf(list)
	return pace{free: l.free, patched: l.patched, estimate: l.estimate, unsure: l.unsure, createWaits: l.createWaits}
}

// refusedWhileValidating notes that list answered 409 to a request that
// only a validation in progress explains: the list is not followed well
// enough to trust a later 409 after a lost answer, and, for an upload
// request, creating waits for the end of validation from now on.
func (p *Pipeline) refusedWhileValidating(list string, create bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.laneOf(list)
	l.unsure = true
	if create {
		l.createWaits = true
	}
}

// busyEnded notes that a PATCH to list went through after 409s: its
// validation ended between the last refusal and now.
func (p *Pipeline) busyEnded(list string, lastBusy, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.laneOf(list)
	if !l.patched.IsZero() && lastBusy.After(l.patched) {
		l.estimate = lastBusy.Add(now.Sub(lastBusy) / 2).Sub(l.patched)
	}
}

// awaitFree waits until the validation the list's last PATCH began has
// ended, as its follow-up saw. It reports whether it had to wait, and
// false for ok when listdrop is stopping.
func (p *Pipeline) awaitFree(list string) (waited, ok bool) {
	free := p.paceOf(list).free
	if free == nil {
		return false, true
	}
	select {
	case <-free:
		return true, true
	default:
	}
	select {
	case <-free:
		return true, true
	case <-p.stop.Done():
		return true, false
	}
}

// waitBusy waits before asking again a list that answered 409 because it
// validates, since `since` (the first refusal when the list's last PATCH is
// not this process's). It reports false when listdrop is stopping.
func (p *Pipeline) waitBusy(list string, since time.Time) bool {
	pc := p.paceOf(list)
	if pc.free != nil {
		_, ok := p.awaitFree(list)
		return ok
	}
	start := since
	if !pc.patched.IsZero() && pc.patched.Before(start) {
		start = pc.patched
	}
	return p.wait(talkdesk.PollDelay(time.Since(start), pc.estimate))
}

// awaitIdle looks at the list until it is not validating. It reports false
// when listdrop is stopping.
func (p *Pipeline) awaitIdle(list string) bool {
	start := time.Now()
	errs := 0
	for {
		var l *talkdesk.RecordList
		err := p.call("verify", func() (err error) {
			l, err = p.api.GetRecordList(p.work, list)
			return err
		})
		if err == nil && !l.Validating() {
			return true
		}
		d := talkdesk.PollDelay(time.Since(start), p.paceOf(list).estimate)
		if err != nil {
			errs++
			d = p.backoff(errs, talkdesk.RetryAfter(err))
		}
		if !p.wait(d) {
			return false
		}
	}
}

// defaultURLLife is how long a signed URL is taken to live when it does not
// say.
const defaultURLLife = 5 * time.Minute

// urlLife is how long a signed URL lives from when it was handed out: its
// X-Amz-Expires (seconds). The signer's X-Amz-Date is not compared with
// this machine's clock, which may be off by more than the life.
func urlLife(signed string) time.Duration {
	u, err := url.Parse(signed)
	if err != nil {
		return defaultURLLife
	}
	if s, err := strconv.Atoi(u.Query().Get("X-Amz-Expires")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return defaultURLLife
}

// urlExpiring reports whether a signed URL received at `got`, living `life`, is
// too near its end to be relied on: an upload request whose URL has
// expired is replaced by a fresh one rather than PATCHed.
func urlExpiring(got time.Time, life time.Duration) bool {
	margin := min(life/4, 30*time.Second)
	return time.Since(got) >= life-margin
}
