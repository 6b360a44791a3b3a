package state

import (
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// upgradeV1 rewrites a format-1 state in format 2, inside the transaction
// that opens it, so a crash leaves the old format or the new one, whole.
// History entries keep their keys and move to the binary form; every
// commit of the old ledger gets a ledger entry pointing at its history
// entry. A commit whose history entry is gone (or not yet written, for a
// file committed but not moved) points at a new key: an entry written
// there from the commit, or, for a file still held, the one its Finish
// will write.
func upgradeV1(tx *bolt.Tx) error {
	hist := tx.Bucket(bucketHistory)
	ledger := tx.Bucket(bucketLedger)

	// The history: re-encode each entry, and note where each committed
	// content's latest entry is.
	type entryRef struct {
		key      []byte
		uploadID string
	}
	latest := map[string]entryRef{}
	var keys, values [][]byte
	err := hist.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(k, v)
		if err != nil {
			return err
		}
		k = append([]byte(nil), k...)
		keys, values = append(keys, k), append(values, encodeEntry(e))
		if e.Result == Done && e.MD5 != "" {
			latest[e.ListID+"\x00"+e.MD5] = entryRef{k, e.UploadID}
		}
		return nil
	})
	if err != nil {
		return err
	}
	hist.FillPercent = 0.95
	for i, k := range keys {
		if err := hist.Put(k, values[i]); err != nil {
			return err
		}
	}

	// Files committed and still held: their entries are yet to come.
	held := map[string]bool{}
	err = tx.Bucket(bucketActive).ForEach(func(_, v []byte) error {
		var r Record
		if json.Unmarshal(v, &r) == nil && r.Phase == Committed {
			held[r.ListID+"\x00"+r.MD5] = true
		}
		return nil
	})
	if err != nil {
		return err
	}

	if old := tx.Bucket(bucketCommitsV1); old != nil {
		err := old.ForEach(func(k, v []byte) error {
			var c commitV1
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("commit %q: %w", k, err)
			}
			list, md5, _ := strings.Cut(string(k), "\x00")
			l, err := ledger.CreateBucketIfNotExists([]byte(list))
			if err != nil {
				return err
			}
			if ref, ok := latest[string(k)]; ok && ref.uploadID == c.UploadID {
				return l.Put(digestKey(md5), ref.key)
			}
			seq, err := hist.NextSequence()
			if err != nil {
				return err
			}
			hk := historyKey(c.At, seq)
			if !held[string(k)] {
				e := Entry{Source: c.File, ListID: list, MD5: md5, Result: Done, UploadID: c.UploadID}
				if err := hist.Put(hk, encodeEntry(e)); err != nil {
					return err
				}
			}
			return l.Put(digestKey(md5), hk)
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketCommitsV1); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(schemaVersion))
}
