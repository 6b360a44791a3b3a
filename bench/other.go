//go:build !linux

// Command bench measures listdrop; it reads the daemon's figures from /proc,
// so it runs on Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "bench: the benchmark reads /proc and runs on Linux only")
	os.Exit(1)
}
