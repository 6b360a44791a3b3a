//go:build !linux && !windows

package fsutil

func moveNoReplace(src, dst string) (bool, error) { return linkThenUnlink(src, dst) }
