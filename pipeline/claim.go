package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/listdrop/listdrop/state"
	"github.com/listdrop/listdrop/watcher"
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
type marker struct {
	Name     string    `json:"name"`
	ListID   string    `json:"list"`
	MD5      string    `json:"md5"`
	UploadID string    `json:"upload_id"`
	At       time.Time `json:"at"`
}

// markerPath names the marker of a claimed file. The name is a hash so it
// stays short whatever the length of the file's name.
func markerPath(claimPath string) string {
	h := sha256.Sum256([]byte(filepath.Base(claimPath)))
	return filepath.Join(filepath.Dir(claimPath), "."+hex.EncodeToString(h[:12])+markerSuffix)
}

func writeMarker(rec state.Record) error {
	m := marker{Name: filepath.Base(rec.Key), ListID: rec.ListID, MD5: rec.MD5, UploadID: rec.UploadID, At: time.Now()}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(markerPath(rec.Key), data)
}

func readMarker(claimPath string) (marker, bool) {
	var m marker
	data, err := os.ReadFile(markerPath(claimPath))
	if err != nil || json.Unmarshal(data, &m) != nil || m.Name != filepath.Base(claimPath) {
		return marker{}, false
	}
	return m, true
}

// removeMarker drops a file's marker. Failing to is harmless: a stale
// marker only names an upload request, and it goes with its claim folder.
func removeMarker(claimPath string) { os.Remove(markerPath(claimPath)) }

// heartbeat tells other processes sharing the folders that this one is
// alive and still owns its claims.
func (p *Pipeline) heartbeat() {
	now := time.Now()
	for _, f := range p.folders {
		hb := filepath.Join(f.claimDir, heartbeatName)
		if err := os.Chtimes(hb, now, now); err != nil {
			if err := os.MkdirAll(f.claimDir, 0o755); err == nil {
				if fh, err := os.OpenFile(hb, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					fh.Close()
				}
			}
		}
	}
}

// adopt takes over the claims of processes whose heartbeat is older than
// staleAfter, in every folder.
func (p *Pipeline) adopt() {
	for _, fc := range p.cfg.Folders {
		f := p.folders[fc.Path]
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

func (p *Pipeline) adoptDir(f *folder, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	left := 0
	for _, e := range ents {
		name := e.Name()
		if isTempName(name) {
			// A marker half-written when that process stopped.
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if !e.Type().IsRegular() || !watcher.Eligible(name) {
			continue
		}
		from := filepath.Join(dir, name)
		to := filepath.Join(f.claimDir, name)
		p.awaitFinish(to)
		if exists(to) {
			left++
			continue
		}
		m, hasMarker := readMarker(from)
		if err := os.Rename(from, to); err != nil {
			left++ // another process adopted it first, or it is locked
			continue
		}
		removeMarker(from)
		log := f.log.With("file", name, "from", filepath.Base(dir))
		if !hasMarker {
			log.Warn("took over a file claimed by a listdrop process that stopped")
			p.submit(item{f: f, path: to, claimed: true})
			continue
		}
		// That process may have committed the file: resume at the PATCH,
		// whose 409 then means "already applied".
		data, err := os.ReadFile(to)
		if err != nil {
			log.Error("cannot read an adopted file", "error", err)
			continue
		}
		rec := state.Record{Key: to, Folder: f.cfg.Path, Source: filepath.Join(f.cfg.Path, name), ListID: m.ListID,
			Size: int64(len(data)), MD5: m.MD5, Phase: state.Patching, UploadID: m.UploadID, PatchUnknown: true, Claimed: time.Now()}
		if fi, err := os.Stat(to); err == nil {
			rec.ModTime = fi.ModTime()
		}
		if err := p.store.Put(rec); err != nil {
			log.Error("cannot write state", "error", err)
			continue
		}
		if err := writeMarker(rec); err != nil {
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
