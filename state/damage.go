package state

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is matched (errors.Is) by every error that says the state
// file is damaged.
var ErrDamaged = errors.New("the state file is damaged")

// DamagedError says what is wrong with a damaged state file and what to
// do, in the sentence the service logs and the commands print.
type DamagedError struct {
	Path  string
	Cause string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the state file %s is damaged (%s): stop listdrop, move the file aside (for example to %s.damaged) and start again. "+
		"listdrop then starts with an empty state: its duplicate check forgets what was imported before, so a file dropped again is imported again, "+
		"and files it held are taken as new (the files in done/ and failed/ are not touched)", e.Path, e.Cause, e.Path)
}

func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// damage is how a Store learns, once, that its file is damaged.
type damage struct {
	once sync.Once
	ch   chan struct{}
	err  error
}

// Damaged is closed when a transaction found the file damaged; Err then
// says how. A service stops on it instead of retrying writes that cannot
// succeed.
func (s *Store) Damaged() <-chan struct{} { return s.damage.ch }

// DamageErr is the damage found, or nil.
func (s *Store) DamageErr() error {
	select {
	case <-s.damage.ch:
		return s.damage.err
	default:
		return nil
	}
}

func (s *Store) noteDamage(err error) error {
	var d *DamagedError
	if errors.As(err, &d) {
		s.damage.once.Do(func() {
			s.damage.err = err
			close(s.damage.ch)
		})
	}
	return err
}

// view and update run a transaction; bbolt panics on some damage it meets
// in a page (and a page pointing outside the file is a memory fault):
// either becomes a DamagedError instead of ending the process.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return s.noteDamage(guard(s.path, func() error { return s.db.View(fn) }))
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	return s.noteDamage(guard(s.path, func() error { return s.db.Update(fn) }))
}

func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Path: path, Cause: fmt.Sprint(r)}
		}
	}()
	return fn()
}

// openBolt opens the file, telling damage (an error or a panic while bbolt
// reads its first pages) from the other reasons it may not open. Once
// bbolt holds the file's lock, so that no other listdrop writes it
// meanwhile, its whole page tree is verified (verifyPages), so damage is
// found at start-up, before any file is taken, and not by a write in the
// middle of one. (bbolt's own tx.Check is not used: it runs on a goroutine
// of its own, where a fault ends the process, and loops on a damaged
// overflow count.) On a state file of a million files this takes about
// 0.3 s; on a typical one, milliseconds.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	var d *DamagedError
	if err != nil {
		if errors.As(err, &d) || !looksDamaged(path, err) {
			return nil, err
		}
		return nil, &DamagedError{Path: path, Cause: err.Error()}
	}
	if err := verifyPages(path); err != nil && !errors.Is(err, os.ErrPermission) {
		db.Close()
		return nil, &DamagedError{Path: path, Cause: err.Error()}
	}
	return db, nil
}

// looksDamaged: bbolt refused a file that exists and that listdrop may
// read, for another reason than the lock: its content is wrong.
func looksDamaged(path string, err error) bool {
	if errors.Is(err, bolterrors.ErrTimeout) || errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
		return false
	}
	fi, serr := os.Stat(path)
	return serr == nil && fi.Mode().IsRegular()
}
