//go:build race

package pipeline

// raceEnabled: the race detector slows this package's heaviest tests about
// fivefold, so they run smaller under it (and whole in a run without it).
const raceEnabled = true
