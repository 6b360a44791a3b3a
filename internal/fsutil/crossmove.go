package fsutil

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Move moves src to dst, which must not exist, never replacing a file.
// Across volumes (done/ on another disk, a failed file put back) it copies
// to a temporary name beside dst, syncs, moves that into place with
// MoveNoReplace, then removes src: a crash leaves at worst a second copy,
// never no copy. atomic is as MoveNoReplace says of the rename that put
// the file at dst.
func Move(src, dst string) (atomic bool, err error) { return move(src, dst, MoveNoReplace) }

// move is Move with its first rename given, so that tests can play a
// second volume or a file system that refuses a name this process sees
// free.
func move(src, dst string, rename func(src, dst string) (bool, error)) (bool, error) {
	if exists(dst) {
		return true, fmt.Errorf("move %s: %s already exists: %w", filepath.Base(src), dst, fs.ErrExist)
	}
	atomic, err := rename(src, dst)
	if err == nil || !crossDevice(err) {
		return atomic, err
	}
	tmp := TempName(dst)
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return true, fmt.Errorf("copy %s to %s: %w", filepath.Base(src), filepath.Dir(dst), err)
	}
	if atomic, err = MoveNoReplace(tmp, dst); err != nil {
		os.Remove(tmp)
		return atomic, err
	}
	return atomic, os.Remove(src)
}

// maxNameTries bounds the names tried for one move: each refusal means a
// name this process saw as free was taken.
const maxNameTries = 100

// MoveToFree moves src into dir under name or, when that is taken, the
// next free name FreeName gives, and returns where it went. A name the
// move itself refuses (taken in another spelling, or by another process
// meanwhile) is passed over for the next. atomic is false when any move
// tried could only check then rename.
func MoveToFree(src, dir, name string) (dst string, atomic bool, err error) {
	return moveToFree(src, dir, name, MoveNoReplace)
}

func moveToFree(src, dir, name string, rename func(src, dst string) (bool, error)) (string, bool, error) {
	taken := map[string]bool{}
	atomic := true
	for range maxNameTries {
		dst := FreeName(dir, name, taken)
		a, err := move(src, dst, rename)
		atomic = atomic && a
		if !errors.Is(err, fs.ErrExist) {
			return dst, atomic, err
		}
		taken[dst] = true
	}
	return "", atomic, fmt.Errorf("move %s into %s: %d names in a row were taken", name, dir, maxNameTries)
}

// copyFile copies src to dst, a new file, and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
