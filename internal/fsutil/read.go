// Package fsutil holds the file-system steps listdrop must get exactly
// right in more than one place.
package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Reasons a dropped file is not read. A dropped file is read by a service
// that often runs as root or LocalSystem, in a folder other users write to:
// it must read the file that was dropped, not whatever a link points at.
var (
	// ErrLink: the name is a symbolic link, a junction or another reparse
	// point.
	ErrLink = errors.New("the file is a link")
	// ErrHardLinked: the file has other names elsewhere (more than one hard
	// link), so its content may belong to another file.
	ErrHardLinked = errors.New("the file has more than one hard link")
	// ErrNotRegular: a directory, a device, a pipe.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooBig: more bytes than the limit, whether seen before reading or
	// because the file grew while it was read.
	ErrTooBig = errors.New("the file is larger than the limit")
)

// Info is what was read of the opened file, not of its name.
type Info struct {
	Size    int64
	ModTime time.Time
	// Grew is set with ErrTooBig when the file was within the limit when
	// opened and passed it while it was read: a writer is still at work.
	Grew bool
}

// ReadDropped reads the file at path the way a dropped file must be read:
// opened once without following a link, the opened handle checked (a
// regular file with one link), and at most limit bytes read from that
// handle. A file over the limit returns ErrTooBig with its size in Info and
// no data, whether it was that big when opened or grew while it was read.
func ReadDropped(path string, limit int64) ([]byte, Info, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{Size: fi.Size(), ModTime: fi.ModTime()}
	if err := checkHandle(f, fi); err != nil {
		return nil, info, err
	}
	if fi.Size() > limit {
		return nil, info, fmt.Errorf("%w (%d bytes)", ErrTooBig, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, info, err
	}
	if int64(len(data)) > limit {
		info.Grew = true
		return nil, info, fmt.Errorf("%w (it grew while it was read)", ErrTooBig)
	}
	return data, info, nil
}

// Check opens path the way ReadDropped does and checks the handle, without
// reading: what a file is, before it is claimed.
func Check(path string) (Info, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	return Info{Size: fi.Size(), ModTime: fi.ModTime()}, checkHandle(f, fi)
}

func checkHandle(f *os.File, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return ErrNotRegular
	}
	n, err := links(f, fi)
	if err != nil {
		return err
	}
	if n > 1 {
		return ErrHardLinked
	}
	return nil
}

// ReadLimited reads a regular file of at most limit bytes: a configuration
// file, a secret, a key, a CA bundle. A FIFO or a device would block or
// never end, so they are refused before opening.
func ReadLimited(path string, limit int64) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
