package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxNameBytes is the longest file name most file systems accept.
const maxNameBytes = 255

// FreeName returns a path in dir for name that nothing uses yet, adding
// "-1", "-2"… before the extension. Each of the extra suffixes (a note's
// ".error.txt") must be free too, and the paths in taken are passed over:
// names a no-replace move found taken though this process's view of the
// folder shows them free (another spelling of the same name). Names are
// shortened where needed so that the name with its longest suffix still
// fits in 255 bytes.
func FreeName(dir, name string, taken map[string]bool, extra ...string) string {
	room := maxNameBytes
	for _, x := range extra {
		room = min(room, maxNameBytes-len(x))
	}
	ext := filepath.Ext(name)
	if len(ext) > 16 {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	for i := 0; ; i++ {
		suffix := ""
		if i > 0 {
			suffix = "-" + strconv.Itoa(i)
		}
		if i >= 1000 {
			// The folder is unreadable or absurdly full: a unique name now;
			// the move itself will report what is wrong.
			suffix = "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		}
		cand := name
		if suffix != "" || len(name) > room {
			cand = cutUTF8(stem, room-len(suffix)-len(ext)) + suffix + ext
		}
		p := filepath.Join(dir, cand)
		free := !taken[p] && !exists(p)
		for _, x := range extra {
			free = free && !exists(p+x)
		}
		if free || i >= 1000 {
			return p
		}
	}
}

// exists reports whether anything is at path; a path that cannot be
// looked at counts as taken.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// cutUTF8 returns the longest prefix of s of at most n bytes that ends
// between two characters.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
