package pipeline

import (
	"math/rand/v2"
	"testing"

	"github.com/listdrop/listdrop/config"
)

// Finding: with 100,000 files in one folder, two thirds of the CPU went to
// recomputing the queue gauges over the whole queue at every enqueue and
// dequeue. A lane now keeps its counts as files come and go; this checks
// them against a recount through a random sequence of the lane's moves.
func TestLaneCountsFollowTheQueue(t *testing.T) {
	t.Parallel()
	folders := []*folder{{cfg: config.Folder{Path: "a"}}, {cfg: config.Folder{Path: "b"}}, {cfg: config.Folder{Path: "c"}}}
	l := &lane{}
	rng := rand.New(rand.NewPCG(3, 4))
	recount := func() map[string]int {
		want := map[string]int{}
		for _, it := range l.queue {
			want[it.f.cfg.Path]++
		}
		if l.current != nil {
			want[l.current.f.cfg.Path]++
		}
		return want
	}
	for step := range 20000 {
		switch n := rng.IntN(10); {
		case n < 5:
			l.push(item{f: folders[rng.IntN(len(folders))]})
		case n < 9 && len(l.queue) > 0:
			l.done()
			l.pop()
		case n == 9 && step%7 == 0:
			l.done()
			l.drain()
		}
		want := recount()
		for _, f := range folders {
			if got := l.waiting[f.cfg.Path]; got != want[f.cfg.Path] {
				t.Fatalf("step %d: lane counts %d files for %s, the queue holds %d", step, got, f.cfg.Path, want[f.cfg.Path])
			}
		}
	}
}
