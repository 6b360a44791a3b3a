// Package state is listdrop's durable memory: the progress of every file it
// holds, the ledger of what each record list has committed (the duplicate
// check), and the history of finished files. It is the only package that
// imports bbolt.
package state

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Phase is how far a file has come. Each phase is written before the step
// it leads to, so after a crash the record says what may have happened.
type Phase string

const (
	// Hashed: claimed, size and MD5 known; nothing Talkdesk acts on has
	// been sent. Resuming starts with a new upload request.
	Hashed Phase = "hashed"
	// Patching: the bytes are in storage and the PATCH that commits the file
	// is being sent; whether an earlier PATCH was applied may be unknown.
	Patching Phase = "patching"
	// Committed: Talkdesk has the file; only the move to done/ is left.
	Committed Phase = "committed"
	// Failing: the file is being moved to failed/ with its explanation.
	Failing Phase = "failing"
)

// Record is the progress of one file listdrop holds. Key is the path of the
// claimed file; it is unique while the file is held.
type Record struct {
	Key          string    `json:"key"`
	Folder       string    `json:"folder"`
	Source       string    `json:"source"` // where the file was dropped
	ListID       string    `json:"list"`
	Size         int64     `json:"size"`
	ModTime      time.Time `json:"mtime,omitzero"` // when it was read: a later change means a writer is still at it
	MD5          string    `json:"md5"`
	Phase        Phase     `json:"phase"`
	UploadID     string    `json:"upload_id,omitempty"`
	PatchUnknown bool      `json:"patch_unknown,omitempty"` // a PATCH was sent and no answer was read
	Attempts     int       `json:"attempts"`
	Claimed      time.Time `json:"claimed"`
	FirstFailure time.Time `json:"first_failure,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	Committed    time.Time `json:"committed,omitzero"`
	Dest         string    `json:"dest,omitempty"`   // the path in done/ or failed/ chosen for it
	Reason       string    `json:"reason,omitempty"` // why it failed, for the sidecar
	Detail       string    `json:"detail,omitempty"` // the rest of the sidecar
	Duplicate    bool      `json:"duplicate,omitempty"`
	Converted    string    `json:"converted,omitempty"` // what was converted before the upload, in words
	// Parts is how many parts a file over one upload's size is imported
	// in (0: one upload). Part (from 1) is the part UploadID, Phase and
	// PatchUnknown are about; the parts before it are in, as PartsIn says.
	Parts   int          `json:"parts,omitempty"`
	Part    int          `json:"part,omitempty"`
	PartsIn []PartUpload `json:"parts_in,omitempty"`
	// PartSince is when the part Part was begun (after the one before it
	// was in): what status shows, so a stuck part is told from a long
	// file. Zero for the first part, begun when the file was claimed.
	PartSince time.Time `json:"part_since,omitzero"`
	// LastLine is the line of a split file's last record.
	LastLine int `json:"last_line,omitempty"`
	// Remaining is where the records not imported of a split file that
	// failed part-way are written, beside it in failed/.
	Remaining string `json:"remaining,omitempty"`
	// Outcome is the verdict of Talkdesk's validation that failed a split
	// file (REJECTED or CORRUPTED for one of its parts), for its history.
	Outcome string `json:"outcome,omitempty"`
}

// PartUpload is one part of a split file that Talkdesk took: its upload
// request, its lines in the file, and the verdict of its validation.
type PartUpload struct {
	UploadID string `json:"upload_id"`
	First    int    `json:"first_line"`
	Last     int    `json:"last_line"`
	Outcome  string `json:"outcome,omitempty"`
}

// Commit is one file committed to a record list: the duplicate check.
type Commit struct {
	ListID   string
	MD5      string
	File     string // the committed file's name, without its folder
	UploadID string
	At       time.Time
	// PartsIn of Parts: a split file of which only the first parts were
	// imported (PartsIn < Parts) before it failed, and where the rest was
	// written.
	PartsIn, Parts int
	Remaining      string
}

// commitV1 is a commit as format 1 stored it, read only to upgrade it.
type commitV1 struct {
	File     string    `json:"file"`
	UploadID string    `json:"upload_id"`
	At       time.Time `json:"at"`
}

// Result is how a file's life ended.
type Result string

const (
	Done   Result = "done"
	Failed Result = "failed"
)

// Entry is one finished file in the history.
type Entry struct {
	At       time.Time `json:"at"`
	Folder   string    `json:"folder"`
	Source   string    `json:"source"`
	Dest     string    `json:"dest"`
	ListID   string    `json:"list"`
	Size     int64     `json:"size"`
	MD5      string    `json:"md5,omitempty"`
	Result   Result    `json:"result"`
	Reason   string    `json:"reason,omitempty"`
	UploadID string    `json:"upload_id,omitempty"`
	Attempts int       `json:"attempts"`
	// Outcome is Talkdesk's verdict after validation (ACCEPTED, INCOMPLETE,
	// REJECTED, CORRUPTED, or "unknown" when it did not come in time);
	// empty while it is awaited or when it is not followed up.
	Outcome string `json:"outcome,omitempty"`
	// Parts is how many parts a split file was cut into, and PartsIn the
	// ones Talkdesk took, in order (fewer when the file failed part-way).
	Parts   int          `json:"parts,omitempty"`
	PartsIn []PartUpload `json:"parts_in,omitempty"`
	// Remaining is where the records not imported of a split file that
	// failed part-way were written.
	Remaining string `json:"remaining,omitempty"`
	Key       []byte `json:"-"`
}

// Partial reports whether the entry is a split file of which some parts,
// not all, were imported.
func (e Entry) Partial() bool { return len(e.PartsIn) > 0 && len(e.PartsIn) < e.Parts }

// The state file's buckets. The ledger holds one bucket per record list,
// keyed by the 16 bytes of each committed MD5; a value is the key of the
// commit's history entry, which says the rest (file, upload request, time).
// Commit allocates that key; Finish writes the entry under it.
var (
	bucketActive    = []byte("active")
	bucketLedger    = []byte("ledger")
	bucketHistory   = []byte("history")
	bucketMeta      = []byte("meta")
	bucketForce     = []byte("force")   // contents allowed through the duplicate check once
	bucketCommitsV1 = []byte("commits") // format 1's ledger, upgraded on open
)

// schemaVersion is the state file's format. Format 1 (JSON history, one
// ledger keyed by list and hex digest) is upgraded in place on open.
const schemaVersion = "2"

// ErrLocked means another process has the state file open.
var ErrLocked = errors.New("state file is in use by another process (is another listdrop running with the same state_file?)")

// Store is an open state file.
type Store struct {
	db       *bolt.DB
	path     string
	instance string

	// Group commit: writes that arrive while a transaction is being
	// written wait for it, then go together in the next one. A lone write
	// goes at once; bbolt's Batch would make it wait for company.
	mu      sync.Mutex
	pending []pendingWrite
	writing bool

	damage damage
}

type pendingWrite struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// write runs fn in a read-write transaction shared with the writes made
// meanwhile, and returns once that transaction is on disk. fn may run
// twice (alone, when a write it was grouped with failed), so it must only
// set values.
func (s *Store) write(fn func(*bolt.Tx) error) error { return <-s.writeAsync(fn) }

// writeAsync queues fn like write and returns at once; the channel gets
// the result when the transaction is on disk.
func (s *Store) writeAsync(fn func(*bolt.Tx) error) <-chan error {
	w := pendingWrite{fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	s.pending = append(s.pending, w)
	if !s.writing {
		s.writing = true
		go s.flush()
	}
	s.mu.Unlock()
	return w.done
}

// flush writes pending writes, a group per transaction, until none is left.
func (s *Store) flush() {
	for {
		s.mu.Lock()
		group := s.pending
		s.pending = nil
		if len(group) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		err := s.update(func(tx *bolt.Tx) error {
			for _, w := range group {
				if err := w.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		for _, w := range group {
			if err != nil && len(group) > 1 {
				// One write failed the group: each goes alone, so only
				// that one fails.
				w.done <- s.update(w.fn)
				continue
			}
			w.done <- err
		}
	}
}

// Instance is a random name given to this state file when it was created.
// It names the folder where this listdrop keeps the files it has claimed,
// so that several listdrop processes can share a drop folder.
func (s *Store) Instance() string { return s.instance }

// Open opens or creates the state file (mode 0600) and its folder. It gives
// up after timeout when another process holds the file, instead of hanging.
func Open(path string, timeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open state %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	var instance string
	err = guard(path, func() error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketActive, bucketLedger, bucketHistory, bucketMeta, bucketForce} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			meta := tx.Bucket(bucketMeta)
			switch v := meta.Get([]byte("schema")); {
			case v == nil, string(v) == schemaVersion:
			case string(v) == "1":
				if err := upgradeV1(tx); err != nil {
					return fmt.Errorf("upgrade the state from format 1: %w", err)
				}
			default:
				return fmt.Errorf("state format %q is not %q: written by a newer listdrop; run that version, or move the file aside (files already committed may then be uploaded again)", v, schemaVersion)
			}
			if err := meta.Put([]byte("schema"), []byte(schemaVersion)); err != nil {
				return err
			}
			if v := meta.Get([]byte("instance")); v != nil {
				instance = string(v)
				return nil
			}
			b := make([]byte, 8)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			instance = hex.EncodeToString(b)
			return meta.Put([]byte("instance"), []byte(instance))
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return newStore(db, path, instance), nil
}

// OpenReadOnly opens an existing state file for reading, beside no
// daemon: a running daemon holds the file's lock, and then this fails with
// ErrLocked after timeout.
func OpenReadOnly(path string, timeout time.Duration) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db, err := openBolt(path, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open state %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	s := newStore(db, path, "")
	s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			s.instance = string(b.Get([]byte("instance")))
		}
		return nil
	})
	return s, nil
}

func newStore(db *bolt.DB, path, instance string) *Store {
	return &Store{db: db, path: path, instance: instance, damage: damage{ch: make(chan struct{})}}
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Put writes a record, durably, before the step it announces.
//
// The writes of a file's life go through write: the writes that files of
// several lists make at the same moment share one transaction and one
// fsync, and each caller still returns only once its write is on disk.
func (s *Store) Put(r Record) error {
	return s.write(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucketActive), []byte(r.Key), r) })
}

// Get returns the record for a claimed file.
func (s *Store) Get(key string) (Record, bool, error) {
	var r Record
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketActive).Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &r)
	})
	return r, ok, err
}

// Active returns every record of a file still held.
func (s *Store) Active() ([]Record, error) {
	var out []Record
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketActive).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// commitKey names content in the force bucket.
func commitKey(listID, md5 string) []byte { return []byte(listID + "\x00" + md5) }

// Commit records, in one transaction, that Talkdesk has the file: the record
// moves to Committed and the list's ledger gains its content, pointing at
// the history entry that Finish will write. A split file that fails after
// some of its parts were imported is committed too, as Failing: the same
// file dropped again is then refused, since those parts are in.
func (s *Store) Commit(r Record) error {
	partial := r.Phase == Failing && len(r.PartsIn) > 0
	if (r.Phase != Committed && !partial) || r.Committed.IsZero() {
		return fmt.Errorf("commit %s: record is not marked committed", r.Key)
	}
	return s.write(func(tx *bolt.Tx) error {
		l, err := tx.Bucket(bucketLedger).CreateBucketIfNotExists([]byte(r.ListID))
		if err != nil {
			return err
		}
		seq, err := tx.Bucket(bucketHistory).NextSequence()
		if err != nil {
			return err
		}
		if err := l.Put(digestKey(r.MD5), historyKey(r.Committed, seq)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketActive), []byte(r.Key), r)
	})
}

// LookupCommit finds an earlier commit of the same content to the same list.
func (s *Store) LookupCommit(listID, md5 string) (Commit, bool, error) {
	var c Commit
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ledger := tx.Bucket(bucketLedger)
		if ledger == nil {
			return nil // a format-1 file opened read-only
		}
		l := ledger.Bucket([]byte(listID))
		if l == nil {
			return nil
		}
		hk := l.Get(digestKey(md5))
		if hk == nil {
			return nil
		}
		ok = true
		var err error
		c, err = resolveCommit(tx, listID, md5, hk)
		return err
	})
	return c, ok, err
}

// resolveCommit fills in a ledger entry from its history entry or, while
// the file is committed but not yet finished, from its record.
func resolveCommit(tx *bolt.Tx, listID, md5 string, hk []byte) (Commit, error) {
	c := Commit{ListID: listID, MD5: md5, At: keyTime(hk)}
	if v := tx.Bucket(bucketHistory).Get(hk); v != nil {
		e, err := decodeEntry(hk, v)
		if err != nil {
			return c, err
		}
		c.File, c.UploadID = filepath.Base(e.Source), e.UploadID
		c.PartsIn, c.Parts, c.Remaining = len(e.PartsIn), e.Parts, e.Remaining
		return c, nil
	}
	err := tx.Bucket(bucketActive).ForEach(func(_, v []byte) error {
		var r Record
		if json.Unmarshal(v, &r) == nil && (r.Phase == Committed || len(r.PartsIn) > 0) && r.ListID == listID && r.MD5 == md5 {
			c.File, c.UploadID, c.At = filepath.Base(r.Source), r.UploadID, r.Committed
			c.PartsIn, c.Parts, c.Remaining = len(r.PartsIn), r.Parts, r.Remaining
			if r.Phase == Committed {
				c.PartsIn = r.Parts
			}
		}
		return nil
	})
	return c, err
}

// Finish ends a file's life: its record leaves the active set and an entry
// joins the history, in one transaction. A committed file's entry goes
// under the key its commit allocated, so its time is the commit's. It
// returns the entry's key, for SetOutcome.
func (s *Store) Finish(key string, e Entry) ([]byte, error) {
	r := <-s.FinishAsync(key, e)
	return r.Key, r.Err
}

// Finished is the result of FinishAsync.
type Finished struct {
	Key []byte // the history entry's key
	Err error
}

// FinishAsync is Finish without waiting for the disk: the write joins the
// next shared transaction, and the channel gets its result once that is on
// disk. The caller must not need the entry to be durable before going on:
// a committed file whose entry is lost in a crash is finished again at the
// next start.
func (s *Store) FinishAsync(key string, e Entry) <-chan Finished {
	var k []byte
	out := make(chan Finished, 1)
	done := s.writeAsync(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketActive).Delete([]byte(key)); err != nil {
			return err
		}
		h := tx.Bucket(bucketHistory)
		// Keys only ever grow: full pages, not the half-full ones that
		// random inserts need, halve the history's size.
		h.FillPercent = 0.95
		k = nil
		if (e.Result == Done || len(e.PartsIn) > 0) && e.MD5 != "" {
			if l := tx.Bucket(bucketLedger).Bucket([]byte(e.ListID)); l != nil {
				if hk := l.Get(digestKey(e.MD5)); hk != nil && h.Get(hk) == nil {
					k = append([]byte(nil), hk...)
				}
			}
		}
		if k == nil {
			seq, err := h.NextSequence()
			if err != nil {
				return err
			}
			k = historyKey(e.At, seq)
		}
		return h.Put(k, encodeEntry(e))
	})
	go func() {
		err := <-done
		if err != nil {
			k = nil
		}
		out <- Finished{Key: k, Err: err}
	}()
	return out
}

// SetOutcome records Talkdesk's validation outcome on a history entry.
func (s *Store) SetOutcome(key []byte, outcome string) error {
	return s.write(func(tx *bolt.Tx) error {
		h := tx.Bucket(bucketHistory)
		v := h.Get(key)
		if v == nil {
			return fmt.Errorf("history entry %x not found", key)
		}
		e, err := decodeEntry(key, v)
		if err != nil {
			return err
		}
		e.Outcome = outcome
		if n := len(e.PartsIn); n > 0 {
			// The verdict followed is the last part's; the file's is the
			// worst of its parts'.
			if e.PartsIn[n-1].Outcome == "" {
				e.PartsIn[n-1].Outcome = outcome
			}
			e.Outcome = WorstOutcome(e.PartsIn)
		}
		return h.Put(key, encodeEntry(e))
	})
}

// WorstOutcome is a split file's verdict: the worst of its parts' (a part
// not followed counts as unknown).
func WorstOutcome(parts []PartUpload) string {
	rank := func(o string) int {
		switch o {
		case "ACCEPTED":
			return 0
		case "REJECTED", "CORRUPTED":
			return 3
		case "INCOMPLETE":
			return 2
		}
		return 1
	}
	worst := ""
	for i, p := range parts {
		o := p.Outcome
		if o == "" {
			o = "unknown"
		}
		if i == 0 || rank(o) > rank(worst) {
			worst = o
		}
	}
	return worst
}

// AllowOnce lets one more file with this content through the duplicate
// check of this list (retry --force).
func (s *Store) AllowOnce(listID, md5 string) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketForce).Put(commitKey(listID, md5), []byte(time.Now().UTC().Format(time.RFC3339)))
	})
}

// TakeAllowance consumes an AllowOnce for this content, if there is one.
func (s *Store) TakeAllowance(listID, md5 string) (bool, error) {
	var ok bool
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketForce)
		k := commitKey(listID, md5)
		if b.Get(k) == nil {
			return nil
		}
		ok = true
		return b.Delete(k)
	})
	return ok, err
}

// Prune forgets history entries older than before and the commits they
// recorded: after that a file with the same content is no longer a
// duplicate. It reads only what it removes (history keys sort by time), so
// it costs nothing at start-up however large the state. It returns how many
// entries and commits were removed.
func (s *Store) Prune(before time.Time) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		ledger := tx.Bucket(bucketLedger)
		hist := tx.Bucket(bucketHistory)
		limit := uint64(max(before.UnixNano(), 0))
		// Keys first, deletions after: deleting under a moving cursor can
		// skip entries.
		type ledgerKey struct{ list, digest []byte }
		var old [][]byte
		var stale []ledgerKey
		c := hist.Cursor()
		for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) < limit; k, v = c.Next() {
			old = append(old, append([]byte(nil), k...))
			e, err := decodeEntry(k, v)
			if err != nil || e.MD5 == "" {
				continue
			}
			// The ledger entry goes with its history entry, unless a later
			// commit of the same content replaced it.
			if l := ledger.Bucket([]byte(e.ListID)); l != nil && bytes.Equal(l.Get(digestKey(e.MD5)), k) {
				stale = append(stale, ledgerKey{[]byte(e.ListID), digestKey(e.MD5)})
			}
		}
		for _, k := range old {
			if err := hist.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range stale {
			if err := ledger.Bucket(k.list).Delete(k.digest); err != nil {
				return err
			}
		}
		n = len(old) + len(stale)
		return nil
	})
	return n, err
}

// Size is the state file's size in bytes, and the part of it that holds
// data (the rest is free pages that compaction would give back).
func (s *Store) Size() (total, used int64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		total = tx.Size()
		st := s.db.Stats()
		used = total - int64(st.FreePageN+st.PendingPageN)*int64(s.db.Info().PageSize)
		return nil
	})
	return total, used, err
}

// Compact rewrites the state file without its free pages. The store must
// not be in use by anything else while it runs; it is reopened in place.
func (s *Store) Compact(timeout time.Duration) error {
	tmp := s.path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return fmt.Errorf("compact state: %w", err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact state: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("compact state: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("compact state: %w", err)
	}
	// The rename replaces the file in one step: a crash leaves the old
	// file or the new one, both whole.
	if err := os.Rename(tmp, s.path); err != nil {
		os.Remove(tmp)
	}
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return fmt.Errorf("reopen state after compaction: %w", err)
	}
	s.db = db
	return nil
}

// History returns finished files since the given time, oldest first.
func (s *Store) History(since time.Time) ([]Entry, error) {
	var out []Entry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		start := make([]byte, 8)
		if !since.IsZero() && since.UnixNano() > 0 {
			binary.BigEndian.PutUint64(start, uint64(since.UnixNano()))
		}
		for k, v := c.Seek(start); k != nil; k, v = c.Next() {
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Newest calls keep with the history's entries from the newest back to
// since, until keep returns false: what a status needs of a long history
// without reading all of it.
func (s *Store) Newest(since time.Time, keep func(Entry) bool) error {
	start := make([]byte, 8)
	if !since.IsZero() && since.UnixNano() > 0 {
		binary.BigEndian.PutUint64(start, uint64(since.UnixNano()))
	}
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Last(); k != nil && bytes.Compare(k, start) >= 0; k, v = c.Prev() {
			e, err := decodeEntry(k, v)
			if err != nil {
				return err
			}
			if !keep(e) {
				return nil
			}
		}
		return nil
	})
}

// Commits returns every commit in the ledger.
func (s *Store) Commits() ([]Commit, error) {
	var out []Commit
	err := s.view(func(tx *bolt.Tx) error {
		ledger := tx.Bucket(bucketLedger)
		if ledger == nil {
			return nil
		}
		return ledger.ForEachBucket(func(list []byte) error {
			return ledger.Bucket(list).ForEach(func(d, hk []byte) error {
				md5 := string(d)
				if len(d) == 16 {
					md5 = hex.EncodeToString(d)
				}
				c, err := resolveCommit(tx, string(list), md5, hk)
				if err != nil {
					return err
				}
				out = append(out, c)
				return nil
			})
		})
	})
	return out, err
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}
