package state

import "time"

// NewEntry is the history entry that ends rec's life now, with result and
// reason: what the daemon, the one-shot upload and the tools write, built
// in one place so that none forgets a field.
func NewEntry(rec Record, result Result, reason string) Entry {
	return Entry{
		At: time.Now(), Folder: rec.Folder, Source: rec.Source, Dest: rec.Dest, ListID: rec.ListID,
		Size: rec.Size, MD5: rec.MD5, Result: result, Reason: reason, UploadID: rec.UploadID, Attempts: rec.Attempts,
		Parts: rec.Parts, PartsIn: rec.PartsIn, Remaining: rec.Remaining, Outcome: rec.Outcome,
	}
}
