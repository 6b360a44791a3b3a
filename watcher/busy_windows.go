package watcher

import (
	"errors"

	"golang.org/x/sys/windows"
)

// openForWriting reports whether another process holds path open for
// writing (or deleting): opening it while sharing reading only then fails
// with a sharing violation. Any other failure is left to the pipeline.
func openForWriting(path string) bool {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return false
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ, nil,
		windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return errors.Is(err, windows.ERROR_SHARING_VIOLATION)
	}
	windows.CloseHandle(h)
	return false
}
