//go:build !linux

package watcher

import "errors"

// writeWatch is not available here: settle (and, on Windows, the check of
// openForWriting) decides when a file is complete.
type writeWatch struct{}

func newWriteWatch() (*writeWatch, error) {
	return nil, errors.New("close-after-write events are not available on this system")
}

func (*writeWatch) add(string) error          { return nil }
func (*writeWatch) remove(string)             {}
func (*writeWatch) Events() <-chan writeEvent { return nil }
func (*writeWatch) close() error              { return nil }
