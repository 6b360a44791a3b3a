package pipeline

import (
	"fmt"
	"path/filepath"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
)

// The helpers below let the one-shot commands (upload, retry) apply the
// pipeline's own checks and words to a file outside the pipeline.

// SidecarSuffix ends the name of the explanation written beside a failed
// file.
const SidecarSuffix = sidecarSuffix

// CheckFile returns, in plain words, why data cannot be uploaded to the
// folder's record list, or "": the size Talkdesk accepts and, when the
// folder has it on, the CSV check with its required columns.
func CheckFile(data []byte, folder config.Folder) string {
	if problem := sizeProblem(int64(len(data))); problem != "" {
		return problem
	}
	if folder.CheckCSV() {
		return checkCSV(data, folder.RequiredColumns)
	}
	return ""
}

// sizeProblem says why a file of n bytes cannot be uploaded, or "".
func sizeProblem(n int64) string {
	switch {
	case n == 0:
		return "This file is empty (0 bytes), so there is nothing to import."
	case n > MaxSize:
		return fmt.Sprintf("This file is %d bytes, larger than the %d bytes Talkdesk accepts in one upload; split it into smaller files.", n, MaxSize)
	}
	return ""
}

// DuplicateReason says that a file repeats an earlier commit, as the
// failed folder's explanation does.
func DuplicateReason(c state.Commit) string {
	earlier := "a file"
	if c.File != "" {
		earlier = filepath.Base(c.File)
	}
	return fmt.Sprintf("This file has the same content as %s, which was already imported into record list %s on %s (upload request %s), so it was not imported again.",
		earlier, c.ListID, display.Time(c.At), c.UploadID)
}
