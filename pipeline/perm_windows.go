//go:build windows

package pipeline

// othersCanWrite: on Windows, who may write in a folder is its ACL's
// business; listdrop does not second-guess it.
func othersCanWrite(string) string { return "" }
