package state

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// The history is most of a state file, so its entries are written in a
// compact binary form rather than JSON: a million finished files must fit
// in a few hundred megabytes. An entry is a format byte, then its fields in
// a fixed order. Paths are stored relative to the drop folder, and the
// identifiers Talkdesk hands out (UUIDs) and MD5 digests as their 16 bytes.
// Entries written before this form (JSON, starting with '{') are still
// read.
const entryFormat = 2

// Token tags: how one string field is stored.
const (
	tagEmpty  = 0 // ""
	tagUUID   = 1 // a canonical lower-case UUID, as 16 bytes
	tagHex16  = 2 // 32 lower-case hex digits (an MD5), as 16 bytes
	tagString = 3 // anything else: uvarint length, then the bytes
)

// Where an entry's file went, relative to its drop folder.
const (
	destNone     = 0 // no destination
	destDone     = 1 // FOLDER/done/NAME, NAME being the dropped file's name
	destRelative = 2 // FOLDER/REST: REST follows
	destAbsolute = 3 // anywhere else: the path follows
)

func appendToken(b []byte, s string) []byte {
	switch {
	case s == "":
		return append(b, tagEmpty)
	case len(s) == 36 && isUUID(s):
		b = append(b, tagUUID)
		var raw [16]byte
		hex.Decode(raw[0:4], []byte(s[0:8]))
		hex.Decode(raw[4:6], []byte(s[9:13]))
		hex.Decode(raw[6:8], []byte(s[14:18]))
		hex.Decode(raw[8:10], []byte(s[19:23]))
		hex.Decode(raw[10:16], []byte(s[24:36]))
		return append(b, raw[:]...)
	case len(s) == 32 && isLowerHex(s):
		b = append(b, tagHex16)
		raw, _ := hex.DecodeString(s)
		return append(b, raw...)
	}
	b = append(b, tagString)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// isUUID reports whether s is a UUID in the canonical lower-case form that
// decoding gives back exactly.
func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isLowerHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLowerHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHexDigit(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// reader reads an encoded entry; the first error sticks.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("entry ends early")

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail(errShort)
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad number"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) token() string {
	switch tag := r.byte(); tag {
	case tagEmpty:
		return ""
	case tagUUID:
		raw := r.bytes(16)
		if raw == nil {
			return ""
		}
		h := hex.EncodeToString(raw)
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	case tagHex16:
		return hex.EncodeToString(r.bytes(16))
	case tagString:
		if r.err != nil {
			return ""
		}
		n, k := binary.Uvarint(r.b)
		if k <= 0 || n > uint64(len(r.b)-k) {
			r.fail(errShort)
			return ""
		}
		r.b = r.b[k:]
		return string(r.bytes(int(n)))
	default:
		r.fail(fmt.Errorf("unknown field tag %d", tag))
		return ""
	}
}

// encodeEntry gives the stored form of e. Its time is not in it: it is the
// first half of the entry's key.
func encodeEntry(e Entry) []byte {
	b := make([]byte, 0, 128)
	b = append(b, entryFormat)
	b = appendToken(b, e.Folder)
	name := e.Source
	if e.Folder != "" && filepath.Dir(e.Source) == e.Folder {
		name = filepath.Base(e.Source)
	}
	b = appendToken(b, name)
	switch rel, under := within(e.Folder, e.Dest); {
	case e.Dest == "":
		b = append(b, destNone)
	case e.Folder != "" && e.Dest == filepath.Join(e.Folder, "done", filepath.Base(e.Source)):
		b = append(b, destDone)
	case under:
		b = appendToken(append(b, destRelative), rel)
	default:
		b = appendToken(append(b, destAbsolute), e.Dest)
	}
	b = appendToken(b, e.ListID)
	b = binary.AppendVarint(b, e.Size)
	b = appendToken(b, e.MD5)
	b = appendToken(b, string(e.Result))
	b = appendToken(b, e.Reason)
	b = appendToken(b, e.UploadID)
	b = binary.AppendVarint(b, int64(e.Attempts))
	b = appendToken(b, e.Outcome)
	if e.Parts == 0 {
		return b
	}
	// A split file's parts follow; an entry of one upload ends here.
	b = binary.AppendVarint(b, int64(e.Parts))
	b = binary.AppendVarint(b, int64(len(e.PartsIn)))
	for _, p := range e.PartsIn {
		b = appendToken(b, p.UploadID)
		b = binary.AppendVarint(b, int64(p.First))
		b = binary.AppendVarint(b, int64(p.Last))
		b = appendToken(b, p.Outcome)
	}
	return appendToken(b, e.Remaining)
}

// within gives path relative to folder when it is inside it, in a form that
// filepath.Join(folder, rel) turns back into path exactly.
func within(folder, path string) (string, bool) {
	if folder == "" || path == "" {
		return "", false
	}
	rel, err := filepath.Rel(folder, path)
	if err != nil || !filepath.IsLocal(rel) || filepath.Join(folder, rel) != path {
		return "", false
	}
	return rel, true
}

// decodeEntry reads an entry stored under key, in either form.
func decodeEntry(key, v []byte) (Entry, error) {
	var e Entry
	if len(v) > 0 && v[0] == '{' {
		if err := json.Unmarshal(v, &e); err != nil {
			return Entry{}, err
		}
		e.Key = append([]byte(nil), key...)
		return e, nil
	}
	if len(v) == 0 || v[0] != entryFormat {
		return Entry{}, fmt.Errorf("history entry %x: unknown format", key)
	}
	r := &reader{b: v[1:]}
	e.Folder = r.token()
	e.Source = r.token()
	if e.Folder != "" && e.Source != "" && filepath.Base(e.Source) == e.Source {
		e.Source = filepath.Join(e.Folder, e.Source)
	}
	switch kind := r.byte(); kind {
	case destNone:
	case destDone:
		e.Dest = filepath.Join(e.Folder, "done", filepath.Base(e.Source))
	case destRelative:
		e.Dest = filepath.Join(e.Folder, r.token())
	case destAbsolute:
		e.Dest = r.token()
	default:
		r.fail(fmt.Errorf("unknown destination kind %d", kind))
	}
	e.ListID = r.token()
	e.Size = r.varint()
	e.MD5 = r.token()
	e.Result = Result(r.token())
	e.Reason = r.token()
	e.UploadID = r.token()
	e.Attempts = int(r.varint())
	e.Outcome = r.token()
	if r.err == nil && len(r.b) != 0 {
		e.Parts = int(r.varint())
		n := r.varint()
		if r.err == nil && (e.Parts <= 0 || n < 0 || n > int64(e.Parts) || n > int64(len(r.b))) {
			r.fail(fmt.Errorf("%d parts in of %d", n, e.Parts))
		}
		for i := int64(0); r.err == nil && i < n; i++ {
			e.PartsIn = append(e.PartsIn, PartUpload{UploadID: r.token(), First: int(r.varint()), Last: int(r.varint()), Outcome: r.token()})
		}
		e.Remaining = r.token()
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(errors.New("trailing bytes"))
	}
	if r.err != nil {
		return Entry{}, fmt.Errorf("history entry %x: %w", key, r.err)
	}
	e.At = keyTime(key)
	e.Key = append([]byte(nil), key...)
	return e, nil
}

// historyKey is a history entry's key: the time, then a sequence number,
// so keys sort by time and never collide.
func historyKey(at time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(max(at.UnixNano(), 0)))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func keyTime(key []byte) time.Time {
	if len(key) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(key))).UTC()
}

// digestKey is the ledger's key for an MD5: its 16 bytes.
func digestKey(md5 string) []byte {
	if raw, err := hex.DecodeString(md5); err == nil && len(raw) == 16 {
		return raw
	}
	return []byte(md5) // not a digest listdrop computed; kept as it is
}
