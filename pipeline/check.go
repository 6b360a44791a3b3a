package pipeline

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/listdrop/listdrop/config"
	"github.com/listdrop/listdrop/internal/csvsplit"
	"github.com/listdrop/listdrop/internal/display"
	"github.com/listdrop/listdrop/state"
)

// The helpers below let the one-shot commands (upload, retry) apply the
// pipeline's own checks and words to a file outside the pipeline.

// SidecarSuffix ends the name of the explanation written beside a failed
// file.
const SidecarSuffix = sidecarSuffix

// CheckFile returns, in plain words, why data cannot be uploaded to the
// folder's record list, or "": the size Talkdesk accepts (in parts, when
// the folder splits) and, when the folder has it on, the CSV check with
// its required columns.
func CheckFile(data []byte, folder config.Folder) string {
	if problem := sizeProblem(int64(len(data)), folder); problem != "" {
		return problem
	}
	if folder.CheckCSV() {
		return checkCSV(data, folder.RequiredColumns)
	}
	return ""
}

// sizeProblem says why a file of n bytes cannot be uploaded to the
// folder's list, or "".
func sizeProblem(n int64, folder config.Folder) string {
	switch {
	case n == 0:
		return "This file is empty (0 bytes), so there is nothing to import."
	case n > MaxSize && !folder.Splits():
		return fmt.Sprintf("This file is %d bytes, larger than the %d bytes Talkdesk accepts in one upload; split it into smaller files, or set split: true for this folder and listdrop imports it in parts.", n, MaxSize)
	case n > int64(folder.SplitLimit()):
		return fmt.Sprintf("This file is %d bytes, larger than split_max_size (%s), the largest file this folder imports in parts; split it into smaller files, or raise split_max_size.", n, folder.SplitLimit())
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
	if c.PartsIn > 0 && c.PartsIn < c.Parts && c.Remaining != "" && !exists(c.Remaining) {
		// Put back, and most likely imported since: say so, rather than
		// point at a file that is not there.
		return fmt.Sprintf("This file has the same content as %s, whose first %d of %d parts were imported into record list %s on %s before it failed, so it was not imported again: the records not imported were written to %s then, which is no longer there; if it was imported, every record of this file is in the list. To import the whole file again anyway: listdrop retry --force.",
			earlier, c.PartsIn, c.Parts, c.ListID, display.Time(c.At), c.Remaining)
	}
	if c.PartsIn > 0 && c.PartsIn < c.Parts && c.Remaining != "" {
		return fmt.Sprintf("This file has the same content as %s, whose first %d of %d parts were imported into record list %s on %s before it failed, so it was not imported again: the records not imported were written to %s then; import the rest from that file. To import the whole file again anyway: listdrop retry --force.",
			earlier, c.PartsIn, c.Parts, c.ListID, display.Time(c.At), c.Remaining)
	}
	if c.PartsIn > 0 && c.PartsIn < c.Parts {
		return fmt.Sprintf("This file has the same content as %s, whose first %d of %d parts were imported into record list %s on %s before it failed, so it was not imported again: import the rest from the .remaining.csv written beside it then (in the failed folder, or beside the file given to listdrop upload). To import the whole file again anyway: listdrop retry --force.",
			earlier, c.PartsIn, c.Parts, c.ListID, display.Time(c.At))
	}
	return fmt.Sprintf("This file has the same content as %s, which was already imported into record list %s on %s (upload request %s), so it was not imported again.",
		earlier, c.ListID, display.Time(c.At), c.UploadID)
}

// checkCSV returns, in plain words, what makes data unfit to import, or "".
func checkCSV(data []byte, required []string) string {
	if problem := dialectProblem(data); problem != "" {
		return problem
	}
	body := bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	if !utf8.Valid(body) {
		line := 1 + bytes.Count(body[:firstInvalid(body)], []byte("\n"))
		return fmt.Sprintf("This file is not UTF-8 text (line %d has bytes that are not UTF-8); save it as \"CSV UTF-8\".", line)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = 0 // the header sets it
	header, err := r.Read()
	if err == io.EOF {
		return "This file has no header line and no records."
	}
	if err != nil {
		return csvsplit.Problem(err)
	}
	records := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return csvsplit.Problem(err)
		}
		records++
	}
	if records == 0 {
		return "This file has a header line but no records."
	}
	have := map[string]bool{}
	for _, h := range header {
		have[strings.ToLower(strings.TrimSpace(h))] = true
	}
	var missing []string
	for _, c := range required {
		if !have[strings.ToLower(strings.TrimSpace(c))] {
			missing = append(missing, strings.TrimSpace(c))
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("The header line lacks the required column%s %s.", plural(len(missing)), strings.Join(missing, ", "))
	}
	return ""
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
