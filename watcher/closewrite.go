package watcher

// writeOp is what a writeWatch learnt about a file.
type writeOp int

const (
	writeStarted  writeOp = iota // a process wrote to the file
	writeClosed                  // a process closed a descriptor it wrote through
	writeGone                    // the file was removed or renamed away
	writeOverflow                // events were lost: what is open is unknown
)

// writeEvent is one thing a writeWatch learnt; path is "" for writeOverflow.
type writeEvent struct {
	path string
	op   writeOp
}

// writeWatcher is the platform's way of telling that a process has a file
// open for writing, where it has one that reports events.
type writeWatcher interface {
	add(dir string) error
	remove(dir string)
	Events() <-chan writeEvent
	close() error
}

var _ writeWatcher = (*writeWatch)(nil)
