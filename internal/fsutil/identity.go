package fsutil

// FileID names a file or folder for as long as it exists, whatever its
// path: the device and inode on Unix, the volume serial number and file
// index on Windows. A folder whose path now leads to another FileID was
// replaced, renamed away, or had another file system mounted over it (or
// its share unmounted from under it).
type FileID struct {
	Volume uint64
	Index  uint64
}

// Identify returns the FileID of what is at path, following a link.
func Identify(path string) (FileID, error) { return identify(path) }
