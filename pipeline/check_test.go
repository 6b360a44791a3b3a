package pipeline

import (
	"strings"
	"testing"

	"github.com/listdrop/listdrop/config"
)

func TestCheckFile(t *testing.T) {
	t.Parallel()
	on, off := true, false
	checked := config.Folder{RecordListID: "L", CSVCheck: &on, RequiredColumns: []string{"phone"}}
	unchecked := config.Folder{RecordListID: "L", CSVCheck: &off, RequiredColumns: []string{"phone"}}
	splits := config.Folder{RecordListID: "L", CSVCheck: &on, Split: &on, SplitMaxSize: 30000}
	big := "name,phone\n" + strings.Repeat("x,1\n", MaxSize/4)
	for _, c := range []struct {
		name   string
		data   string
		folder config.Folder
		want   string // "" = fine; else the start of the problem
	}{
		{"good", "name,phone\nAda,+1\n", checked, ""},
		{"empty", "", checked, "This file is empty (0 bytes)"},
		{"empty, check off", "", unchecked, "This file is empty (0 bytes)"},
		{"too large", big, unchecked, "This file is 20011 bytes, larger than the 20000 bytes Talkdesk accepts in one upload; split it into smaller files, or set split: true for this folder"},
		{"too large, split", big, splits, ""},
		{"too large to split", big + big, splits, "This file is 40022 bytes, larger than split_max_size (30kB), the largest file this folder imports in parts"},
		{"too large, split, ragged", big + "y\n", splits, "Line 5002 does not have as many fields"},
		{"at the limit", "a,phone\n" + strings.Repeat("x", MaxSize-11) + ",1\n", checked, ""},
		{"ragged", "name,phone\nAda\n", checked, "Line 2 does not have as many fields"},
		{"ragged, check off", "name,phone\nAda\n", unchecked, ""},
		{"missing column", "name\nAda\n", checked, "The header line lacks the required column phone."},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CheckFile([]byte(c.data), c.folder)
			if (c.want == "") != (got == "") || !strings.HasPrefix(got, c.want) {
				t.Fatalf("CheckFile = %q, want %q", got, c.want)
			}
		})
	}
}
