//go:build !windows

package watcher

// openForWriting reports whether another process holds path open for
// writing, where the system can tell without events. Elsewhere than Windows
// it cannot: inotify's close-after-write events (Linux) or settle decide.
func openForWriting(string) bool { return false }
