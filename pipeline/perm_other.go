//go:build !windows

package pipeline

import (
	"fmt"
	"os"
	"syscall"
)

// othersCanWrite says how users other than the service's may write in a
// folder listdrop keeps its claims in, or "". (Windows folders are guarded
// by their ACLs, which the installer sets on ProgramData; drop folders
// there are checked by the people who share them.)
func othersCanWrite(dir string) string {
	fi, err := os.Lstat(dir)
	if err != nil {
		return ""
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return "it is a symbolic link"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("it is owned by user id %d, not by the account listdrop runs as", st.Uid)
	}
	switch perm := fi.Mode().Perm(); {
	case perm&0o002 != 0:
		return fmt.Sprintf("every user may write in it (mode %04o)", perm)
	case perm&0o020 != 0:
		return fmt.Sprintf("its group may write in it (mode %04o)", perm)
	}
	return ""
}
