package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/listdrop/listdrop/internal/crashpoint"
	"github.com/listdrop/listdrop/internal/fsutil"
)

// A name in done/ or failed/ is never overwritten, by construction: every
// move there (and every note beside a file there) is a rename that the file
// system refuses when the name is taken, in any spelling it considers the
// same (a case-insensitive share takes "a.csv" for "A.csv"). Refused, the
// next free name is tried.

// notAtomicDirs remembers the folders whose file system had no atomic
// no-replace rename, so that it is said once per folder.
var notAtomicDirs sync.Map

// noteAtomic remembers dst's folder when the move or write that put
// something at dst could only check then rename.
func noteAtomic(dst string, atomic bool) {
	if !atomic {
		notAtomicDirs.LoadOrStore(filepath.Dir(dst), false)
	}
}

// renameNoReplace is fsutil.MoveNoReplace, noting the folders where it is
// not atomic.
func renameNoReplace(src, dst string) error {
	atomic, err := fsutil.MoveNoReplace(src, dst)
	noteAtomic(dst, atomic)
	return err
}

// moveFile is fsutil.Move, noting the folders where it is not atomic.
func moveFile(src, dst string) error {
	atomic, err := fsutil.Move(src, dst)
	noteAtomic(dst, atomic)
	return err
}

// writeFileNew is fsutil.WriteFileNew, noting the folders where it is not
// atomic: a note never replaces anything.
func writeFileNew(path string, data []byte) error {
	atomic, err := fsutil.WriteFileNew(path, data)
	noteAtomic(path, atomic)
	return err
}

// sayNotAtomic logs, once per folder, that moves into dir are not atomic.
func (f *folder) sayNotAtomic(dir string) {
	if said, ok := notAtomicDirs.Load(dir); ok && !said.(bool) {
		if notAtomicDirs.CompareAndSwap(dir, false, true) {
			f.log.Warn("this folder's file system has no atomic rename that refuses a taken name; listdrop checks the name (in any case) then renames, which is safe unless another program takes the same name at the same moment", "dir", dir)
		}
	}
}

// maxNameTries bounds the names tried for one failed file: each refusal
// means a name this process saw as free was taken.
const maxNameTries = 100

// moveToFree moves src into dir under name, or the next free variant of
// it, and returns where it went.
func (f *folder) moveToFree(src, dir, name string) (string, error) {
	defer f.sayNotAtomic(dir)
	dst, atomic, err := fsutil.MoveToFree(src, dir, name)
	noteAtomic(filepath.Join(dir, name), atomic)
	return dst, err
}

// failToFree writes a failed file's explanation then moves the file beside
// it, both under the next name free for both.
func (f *folder) failToFree(src, dir, name string, note []byte) (string, error) {
	skip := map[string]bool{}
	defer f.sayNotAtomic(dir)
	for range maxNameTries {
		dst := fsutil.FreeName(dir, name, skip, sidecarSuffix)
		err := writeFileNew(dst+sidecarSuffix, note)
		if errors.Is(err, fs.ErrExist) {
			skip[dst] = true
			continue
		}
		if err != nil {
			return dst, fmt.Errorf("write explanation: %w", err)
		}
		crashpoint.At("failed.explained")
		err = moveFile(src, dst)
		if errors.Is(err, fs.ErrExist) {
			os.Remove(dst + sidecarSuffix) // written just now, by this process
			skip[dst] = true
			continue
		}
		if err != nil {
			os.Remove(dst + sidecarSuffix)
		}
		return dst, err
	}
	return "", fmt.Errorf("move %s into %s: %d names in a row were taken", name, dir, maxNameTries)
}
