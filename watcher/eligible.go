package watcher

import "strings"

// tempSuffixes are the endings browsers, copy tools and editors give a file
// while it is still being written.
var tempSuffixes = []string{".tmp", ".part", ".crdownload"}

// Eligible reports whether a file with this base name (no directory) may be
// picked up: a *.csv name in any case that is neither hidden nor one of the
// temporary names writers use before renaming a finished file into place.
// It looks at the name only; Run also requires a regular file (not a
// directory, symlink, FIFO, device or socket).
func Eligible(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") {
		return false
	}
	// "~$x.csv" is an Office lock file; "x.csv~" an editor backup.
	if strings.HasPrefix(name, "~$") || strings.HasSuffix(name, "~") {
		return false
	}
	lower := strings.ToLower(name)
	for _, s := range tempSuffixes {
		if strings.HasSuffix(lower, s) {
			return false
		}
	}
	return strings.HasSuffix(lower, ".csv")
}
