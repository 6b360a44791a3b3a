package talkdesk

import "time"

// After an upload's PATCH, Talkdesk validates it for a while: the list
// says VALIDATION_STARTED, refuses another PATCH with 409, and its status
// when it stops is the verdict on the upload (step 6 of the API notes).
// Following a validation is the same for the daemon and for `listdrop
// upload`: a Follower, whose looks are spaced by PollDelay.

// minPoll is the shortest time between two looks at a list whose
// validation time is not known yet; finePoll, once it is, near its end.
const (
	minPoll  = 30 * time.Millisecond
	finePoll = 10 * time.Millisecond
)

// PollDelay is how long to wait before looking again whether a validation
// that began `since` ago has ended, given how long the list's last
// validation took (est, 0 when unknown). Without an estimate the looks are
// spaced by 1/30 of the time already waited (at least minPoll), so the end
// is noticed at most about 3 % of the validation late, with a number of
// looks that grows with the logarithm of its length (about 35 for 1 s, 80
// for 5 s). With one, the looks are at half and at 95 % of it, then every
// 1/100 of it: the end is noticed at most about 1 % late, with about eight
// looks.
func PollDelay(since, est time.Duration) time.Duration {
	var next time.Duration
	switch {
	case est > 0 && since < est/2:
		next = est/2 - since
	case est > 0 && since < est*19/20:
		next = est*19/20 - since
	case est > 0 && since < est*3/2:
		next = est / 100
	default:
		next = max(since/30, minPoll)
	}
	return max(next, finePoll)
}

// A Follower follows one validation of a list, from the PATCH's answer to
// its verdict. What differs between its users is in its fields: how the
// list is read (through the caller's retries and metrics), how a wait is
// cut short, and what an error costs.
type Follower struct {
	// Get reads the list.
	Get func() (*RecordList, error)
	// Wait waits d; false means the caller is stopping.
	Wait func(d time.Duration) bool
	// Backoff is how long to wait after the n-th failed read in a row, or
	// false to give up with that error.
	Backoff func(err error, n int) (time.Duration, bool)
	// Estimate is how long the list's last validation took, 0 when it is
	// not known: the looks are spaced around it (PollDelay).
	Estimate time.Duration
	// Deadline is when to stop looking, the verdict unknown.
	Deadline time.Time
}

// Follow looks at the list until it is not validating, and returns its
// status then (the verdict) and how long the validation took since start,
// which is when the PATCH was answered. The verdict is "" when the
// deadline passed or Wait said stop first, and err the read error Backoff
// gave up on.
func (f Follower) Follow(start time.Time) (verdict string, took time.Duration, err error) {
	seen := start // the last answer that the list was validating
	for errs := 0; ; {
		l, err := f.Get()
		now := time.Now()
		if err == nil && !l.Validating() {
			// It ended between the last two answers.
			return l.Status, max(seen.Add(now.Sub(seen)/2).Sub(start), time.Millisecond), nil
		}
		var d time.Duration
		if err != nil {
			errs++
			var again bool
			if d, again = f.Backoff(err, errs); !again {
				return "", 0, err
			}
		} else {
			seen = now
			d = PollDelay(now.Sub(start), f.Estimate)
		}
		d = min(d, time.Until(f.Deadline))
		if d <= 0 || !f.Wait(d) {
			return "", 0, nil
		}
	}
}
