package fsutil

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// tempSeq tells apart temporary names made within one tick of the clock,
// which on Windows can be as coarse as a millisecond.
var tempSeq atomic.Uint64

// TempName is a hidden, short temporary name beside path: hidden so that
// no watcher takes a half-written file, short because a name built on
// path's own could pass the 255-byte limit.
func TempName(path string) string {
	unique := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatUint(tempSeq.Add(1), 36)
	return filepath.Join(filepath.Dir(path), ".listdrop-"+unique+".tmp")
}

// IsTempName reports whether a file name is one TempName makes: what a
// process killed in the middle of a write leaves behind.
func IsTempName(name string) bool {
	return strings.HasPrefix(name, ".listdrop-") && strings.HasSuffix(name, ".tmp")
}

// WriteFileAtomic writes data to path through a temporary file and a
// rename, replacing what was there, so a reader never sees half a file.
func WriteFileAtomic(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// WriteFileNew writes data to path through a temporary file and a
// MoveNoReplace, so it never replaces anything: when path is taken the
// error matches fs.ErrExist. atomic is as MoveNoReplace says.
func WriteFileNew(path string, data []byte) (atomic bool, err error) {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return true, err
	}
	atomic, err = MoveNoReplace(tmp, path)
	if err != nil {
		os.Remove(tmp)
	}
	return atomic, err
}

// writeTemp writes data, synced, to a new temporary file beside path.
func writeTemp(path string, data []byte) (string, error) {
	tmp := TempName(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}
