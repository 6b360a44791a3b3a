package talkdesk

import (
	"math"
	"testing"
	"time"
)

// The poll schedule notices the end of a validation a small part of it
// late, with few looks: simulated, for validations of several lengths.
func TestPollScheduleIsPromptAndCheap(t *testing.T) {
	t.Parallel()
	for _, v := range []time.Duration{300 * time.Millisecond, time.Second, 5 * time.Second, time.Minute, 10 * time.Minute} {
		for _, known := range []bool{false, true} {
			est := time.Duration(0)
			// minPoll apart until 30 minPoll, then 1/30 further each time.
			t0 := 30 * minPoll
			lagLimit, looksLimit := v/30+minPoll, 32+int(math.Log(max(float64(v)/float64(t0), 1))/math.Log(1+1.0/30))
			if known {
				est, lagLimit, looksLimit = v, v/100+finePoll, 9
			}
			at, looks := time.Duration(0), 0
			for at < v {
				at += PollDelay(at, est)
				looks++
			}
			if lag := at - v; lag > lagLimit || looks > looksLimit {
				t.Errorf("validation %s, estimate %s: noticed %s late after %d looks; want at most %s and %d",
					v, est, lag, looks, lagLimit, looksLimit)
			}
		}
	}
	// A validation far shorter than the last one is still noticed within
	// half of that one.
	if d := PollDelay(0, 10*time.Second); d != 5*time.Second {
		t.Errorf("first look %s after the PATCH, want half the estimate", d)
	}
}

// answers is a list read that says, in turn, each of its statuses ("" for
// a failed read).
func answers(t *testing.T, statuses ...string) func() (*RecordList, error) {
	return func() (*RecordList, error) {
		if len(statuses) == 0 {
			t.Fatal("the list was read after its last answer")
		}
		s := statuses[0]
		statuses = statuses[1:]
		if s == "" {
			return nil, &APIError{Status: 503}
		}
		return &RecordList{Status: s}, nil
	}
}

func TestFollowerReturnsTheVerdictAfterTheValidation(t *testing.T) {
	t.Parallel()
	var waits []time.Duration
	var backoffs []int
	start := time.Now()
	verdict, took, err := Follower{
		Get:  answers(t, "VALIDATION_STARTED", "", "", "VALIDATION_STARTED", "REJECTED"),
		Wait: func(d time.Duration) bool { waits = append(waits, d); return true },
		Backoff: func(_ error, n int) (time.Duration, bool) {
			backoffs = append(backoffs, n)
			return time.Duration(n) * time.Hour, true
		},
		Estimate: 2 * time.Second,
		Deadline: start.Add(24 * time.Hour),
	}.Follow(start)
	if verdict != "REJECTED" || err != nil || took <= 0 {
		t.Fatalf("Follow = %q, %s, %v; want REJECTED after a while", verdict, took, err)
	}
	// The first look is paced by the estimate (half of it), the failed
	// reads by the backoff, counted in a row.
	if len(waits) != 4 || waits[0] > time.Second || waits[0] < 900*time.Millisecond || waits[1] != time.Hour || waits[2] != 2*time.Hour {
		t.Errorf("waits %v", waits)
	}
	if len(backoffs) != 2 || backoffs[0] != 1 || backoffs[1] != 2 {
		t.Errorf("backoff asked for reads %v", backoffs)
	}
}

func TestFollowerStops(t *testing.T) {
	t.Parallel()
	never := time.Now().Add(24 * time.Hour)
	always := func(time.Duration) bool { return true }
	retry := func(error, int) (time.Duration, bool) { return time.Millisecond, true }
	for _, c := range []struct {
		name    string
		f       Follower
		wantErr bool
	}{
		{"the caller stops", Follower{Get: answers(t, "VALIDATION_STARTED"), Wait: func(time.Duration) bool { return false }, Backoff: retry, Deadline: never}, false},
		{"the deadline passes", Follower{Get: answers(t, "VALIDATION_STARTED"), Wait: always, Backoff: retry, Deadline: time.Now()}, false},
		{"the backoff gives up", Follower{Get: answers(t, "", ""), Wait: always, Backoff: func(_ error, n int) (time.Duration, bool) { return time.Millisecond, n < 2 }, Deadline: never}, true},
	} {
		verdict, took, err := c.f.Follow(time.Now())
		if verdict != "" || took != 0 || (err != nil) != c.wantErr {
			t.Errorf("%s: Follow = %q, %s, %v", c.name, verdict, took, err)
		}
	}
}
