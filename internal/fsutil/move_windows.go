package fsutil

import (
	"os"

	"golang.org/x/sys/windows"
)

// moveNoReplace is MoveFileEx without MOVEFILE_REPLACE_EXISTING: the file
// system itself refuses a taken name, in any spelling it considers equal.
func moveNoReplace(src, dst string) (bool, error) {
	from, err := windows.UTF16PtrFromString(src)
	if err != nil {
		return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	to, err := windows.UTF16PtrFromString(dst)
	if err != nil {
		return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	if err := windows.MoveFileEx(from, to, 0); err != nil {
		if err == windows.ERROR_ALREADY_EXISTS || err == windows.ERROR_FILE_EXISTS {
			return true, existErr(src, dst, "MoveFileEx")
		}
		return true, &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
	}
	return true, nil
}
