package pipeline

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/internal/fsutil"
	"github.com/listdrop/listdrop/state"
)

// Several listdrop processes (two servers pointed at one SMB or NFS share,
// each with its own state file) may watch the same folder. A file is claimed
// by one atomic rename into .listdrop/<instance>/, which only one of them
// can win. Each process keeps its claims in its own folder and touches a
// heartbeat file there; the claims of a process whose heartbeat has gone
// stale are adopted by another. What the adopter must know to avoid a second
// import (the upload request whose PATCH may have been applied) is written
// beside the file in a marker before that PATCH is sent.

const (
	heartbeatName = ".alive"
	markerSuffix  = ".state"
)

// marker is what another process needs to finish a claimed file safely.
// It is signed: anyone who can write in a drop folder can write a file
// that looks like a marker, and an unsigned one could send a file to
// another record list or name another upload request.
type marker struct {
	Name     string    `json:"name"`
	ListID   string    `json:"list"`
	MD5      string    `json:"md5"`
	UploadID string    `json:"upload_id"`
	At       time.Time `json:"at"`
	// A split file's part being committed, and the parts before it.
	Parts   int                `json:"parts,omitempty"`
	Part    int                `json:"part,omitempty"`
	PartsIn []state.PartUpload `json:"parts_in,omitempty"`
	Sig     string             `json:"sig"`
}

// markerKeyOf is the key markers are signed with. Every process that may
// adopt another's claims uploads to the same record lists with the same
// Talkdesk client, so the key is derived from that client's credentials:
// a user who can write in the folder but does not hold them cannot sign.
func markerKeyOf(t config.Talkdesk) []byte {
	credential := []byte(t.ClientSecret)
	if k := t.PrivateKey.Signer(); k != nil {
		if der, err := x509.MarshalPKCS8PrivateKey(k); err == nil {
			credential = der
		}
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte("listdrop claim marker v1"), []byte(t.ClientID), credential} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// sign returns the marker's signature over every field but itself.
func (m marker) sign(key []byte) string {
	mac := hmac.New(sha256.New, key)
	fields := []string{m.Name, m.ListID, m.MD5, m.UploadID, m.At.UTC().Format(time.RFC3339Nano)}
	if m.Parts > 0 {
		// Signed only when there are parts, so a marker of one upload
		// reads as before.
		fields = append(fields, fmt.Sprintf("part %d of %d", m.Part, m.Parts))
		for _, p := range m.PartsIn {
			fields = append(fields, fmt.Sprintf("%s %d-%d %s", p.UploadID, p.First, p.Last, p.Outcome))
		}
	}
	for _, part := range fields {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

func (m marker) signedWith(key []byte) bool {
	return hmac.Equal([]byte(m.Sig), []byte(m.sign(key)))
}

// markerPath names the marker of a claimed file. The name is a hash so it
// stays short whatever the length of the file's name.
func markerPath(claimPath string) string {
	h := sha256.Sum256([]byte(filepath.Base(claimPath)))
	return filepath.Join(filepath.Dir(claimPath), "."+hex.EncodeToString(h[:12])+markerSuffix)
}

func writeMarker(rec state.Record, key []byte) error {
	m := marker{Name: filepath.Base(rec.Key), ListID: rec.ListID, MD5: rec.MD5, UploadID: rec.UploadID, At: time.Now().UTC(),
		Parts: rec.Parts, Part: rec.Part, PartsIn: rec.PartsIn}
	m.Sig = m.sign(key)
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(markerPath(rec.Key), data)
}

// readMarker reads a claimed file's marker: found reports whether there
// is one at all, so that a damaged or forged one is told from none.
func readMarker(claimPath string) (m marker, found bool, err error) {
	data, _, err := fsutil.ReadDropped(markerPath(claimPath), 4096)
	if errors.Is(err, fs.ErrNotExist) {
		return marker{}, false, nil
	}
	if err != nil {
		return marker{}, true, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return marker{}, true, fmt.Errorf("unreadable marker: %w", err)
	}
	if m.Name != filepath.Base(claimPath) {
		return marker{}, true, fmt.Errorf("the marker names another file (%s)", display.Name(m.Name))
	}
	return m, true, nil
}

// removeMarker drops a file's marker. Failing to is harmless: a stale
// marker only names an upload request, and it goes with its claim folder.
func removeMarker(claimPath string) { os.Remove(markerPath(claimPath)) }

// heartbeat tells other processes sharing the folders that this one is
// alive and still owns its claims.
func (p *Pipeline) heartbeat() {
	now := time.Now()
	p.eachUsable(func(f *folder) {
		hb := filepath.Join(f.claimDir, heartbeatName)
		if err := os.Chtimes(hb, now, now); err != nil {
			if err := os.MkdirAll(f.claimDir, 0o755); err == nil {
				if fh, err := os.OpenFile(hb, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					fh.Close()
				}
			}
		}
	})
}

// adopt takes over the claims of processes whose heartbeat is older than
// staleAfter, in every folder.
func (p *Pipeline) adopt() {
	for _, fc := range p.cfg.Folders {
		f := p.folders[fc.Path]
		if !p.isAvailable(f) {
			continue
		}
		ents, err := os.ReadDir(f.claimRoot)
		if err != nil {
			continue
		}
		for _, e := range ents {
			dir := filepath.Join(f.claimRoot, e.Name())
			if !e.IsDir() || dir == f.claimDir || !p.stale(dir) {
				continue
			}
			p.adoptDir(f, dir)
		}
	}
}

// stale reports whether the process owning a claim folder has stopped
// touching its heartbeat (or never wrote one) for staleAfter.
func (p *Pipeline) stale(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, heartbeatName))
	if err != nil {
		fi, err = os.Stat(dir)
		if err != nil {
			return false
		}
	}
	return time.Since(fi.ModTime()) > p.staleAfter
}

// trustMarker says why a marker found beside another process's claim must
// not be acted on, or nil: it must be signed by a process holding this
// configuration's Talkdesk credentials, and name this folder's list.
func (p *Pipeline) trustMarker(f *folder, m marker) error {
	if !m.signedWith(p.markerKey) {
		return errors.New("the marker is not signed by a listdrop process using this Talkdesk client")
	}
	if m.ListID != f.cfg.RecordListID {
		return fmt.Errorf("the marker names record list %s, but this folder's list is %s", display.Name(m.ListID), f.cfg.RecordListID)
	}
	return nil
}

func (p *Pipeline) adoptDir(f *folder, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	left := 0
	for _, e := range ents {
		name := e.Name()
		if fsutil.IsTempName(name) {
			// A marker half-written when that process stopped.
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if !e.Type().IsRegular() || !f.eligible(name) {
			continue
		}
		from := filepath.Join(dir, name)
		to := filepath.Join(f.claimDir, name)
		p.awaitFinish(to)
		if exists(to) {
			left++
			continue
		}
		m, hasMarker, err := readMarker(from)
		log := f.log.With("file", display.Name(name), "from", filepath.Base(dir))
		if err == nil && hasMarker {
			err = p.trustMarker(f, m)
		}
		if err != nil {
			// Left where it is, for a person to look at: taken over, it
			// could be committed to a list or upload request it never had.
			left++
			if p.noteTrouble(from) {
				log.Warn("claim marker refused; the file is left where it is: move it back into the drop folder to import it", "error", err)
			}
			continue
		}
		if err := renameNoReplace(from, to); err != nil {
			left++ // another process adopted it first, or it is locked
			continue
		}
		removeMarker(from)
		if !hasMarker {
			log.Warn("took over a file claimed by a listdrop process that stopped")
			p.submit(item{f: f, path: to, claimed: true})
			continue
		}
		// That process may have committed the file: resume at the PATCH,
		// whose 409 then means "already applied".
		data, _, err := p.readDropped(to, f.readLimit(name))
		if err != nil {
			log.Error("cannot read an adopted file", "error", err)
			continue
		}
		// The MD5 is the uploaded content's: after a conversion, not the
		// bytes on disk.
		upload, _, _ := p.prepare(f, name, data)
		if sum := md5.Sum(upload); hex.EncodeToString(sum[:]) != m.MD5 {
			// Not the bytes the upload request holds: a new file.
			log.Warn("took over a file claimed by a listdrop process that stopped; its content is not what that process sent, so it is taken as a new file")
			p.submit(item{f: f, path: to, claimed: true})
			continue
		}
		rec := state.Record{Key: to, Folder: f.cfg.Path, Source: filepath.Join(f.cfg.Path, name), ListID: m.ListID,
			Size: int64(len(data)), MD5: m.MD5, Phase: state.Patching, UploadID: m.UploadID, PatchUnknown: true, Claimed: time.Now(),
			Parts: m.Parts, Part: m.Part, PartsIn: m.PartsIn}
		if fi, err := os.Lstat(to); err == nil {
			rec.ModTime = fi.ModTime()
		}
		if err := p.store.Put(rec); err != nil {
			log.Error("cannot write state", "error", err)
			continue
		}
		if err := writeMarker(rec, p.markerKey); err != nil {
			log.Warn("cannot write the claim marker", "error", err)
		}
		log.Warn("took over a file a stopped listdrop process was committing", "upload_id", m.UploadID)
		p.submit(item{f: f, path: to, claimed: true, rec: &rec})
	}
	if left == 0 {
		os.Remove(filepath.Join(dir, heartbeatName))
		os.Remove(dir) // fails harmlessly if anything is left
	}
}
