package main

import (
	"fmt"
	"io"

	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/pipeline"
)

// printNotes lists the files in the drop folders that wait, or are left
// alone, for a reason listdrop knows.
func printNotes(w io.Writer, folders []pipeline.FolderStatus) {
	first := true
	for _, f := range folders {
		for _, n := range f.Notes {
			if first {
				fmt.Fprintln(w)
				fmt.Fprintln(w, "Files waiting or left alone in the drop folders:")
				first = false
			}
			fmt.Fprintf(w, "  %s in %s: %s (since %s)\n", display.Name(n.File), display.Name(f.Path), display.Name(n.Reason), display.Time(n.Since))
		}
	}
}
