//go:build windows

package admin

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// privateSDDL gives the file to SYSTEM, Administrators and its owner (the
// service's account), and inherits nothing: ProgramData's default would
// let every user read it.
const privateSDDL = "D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;OW)"

// createPrivate creates a new file with privateSDDL, set by CreateFile
// itself so that the file is never readable by others, even for a moment.
func createPrivate(path string) (*os.File, error) {
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
