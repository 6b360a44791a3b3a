package talkdesk

import (
	"fmt"
	"path/filepath"
	"unicode/utf8"

	"github.com/listdrop/listdrop/internal/display"
)

// MaxFilename is the longest filename the API accepts, in characters.
const MaxFilename = 35

// APIFilename returns name as the API accepts it: at most 35 characters,
// shortened before the extension so it keeps ".csv", cutting only between
// whole UTF-8 characters, with control and bidirectional formatting
// characters replaced by "_". The file on disk keeps its own name.
func APIFilename(name string) string {
	name = display.Clean(filepath.Base(name))
	if utf8.RuneCountInString(name) <= MaxFilename {
		return name
	}
	ext := filepath.Ext(name)
	if utf8.RuneCountInString(ext) > 8 {
		ext = ""
	}
	stem := []rune(name[:len(name)-len(ext)])
	keep := MaxFilename - utf8.RuneCountInString(ext)
	return string(stem[:keep]) + ext
}

// PartName is the name part k (from 1) of n gets at Talkdesk: the file's
// name with the part's number and the count, within Talkdesk's 35
// characters ("contacts-part07of40.csv"); the name is shortened, not the
// numbers.
func PartName(name string, k, n int) string {
	name = display.Clean(filepath.Base(name))
	ext := filepath.Ext(name)
	if utf8.RuneCountInString(ext) > 8 {
		ext = ""
	}
	width := len(fmt.Sprint(n))
	suffix := fmt.Sprintf("-part%0*dof%d", width, k, n) + ext
	stem := []rune(name[:len(name)-len(ext)])
	if keep := MaxFilename - utf8.RuneCountInString(suffix); len(stem) > keep {
		stem = stem[:max(keep, 0)]
	}
	return string(stem) + suffix
}
