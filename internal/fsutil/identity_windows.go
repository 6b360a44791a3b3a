package fsutil

import (
	"os"

	"golang.org/x/sys/windows"
)

func identify(path string) (FileID, error) {
	p, err := windows.UTF16PtrFromString(longPath(path))
	if err != nil {
		return FileID{}, &os.PathError{Op: "identify", Path: path, Err: err}
	}
	// FILE_FLAG_BACKUP_SEMANTICS opens a folder; no access rights are
	// needed to read its identity, and any sharing lets others go on.
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return FileID{}, &os.PathError{Op: "identify", Path: path, Err: err}
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return FileID{}, &os.PathError{Op: "identify", Path: path, Err: err}
	}
	return FileID{Volume: uint64(info.VolumeSerialNumber), Index: uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow)}, nil
}
