package talkdesk

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAPIFilename(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"contacts.csv", "contacts.csv"},
		{strings.Repeat("a", 31) + ".csv", strings.Repeat("a", 31) + ".csv"}, // exactly 35
		{strings.Repeat("a", 40) + ".csv", strings.Repeat("a", 31) + ".csv"},
		{strings.Repeat("a", 40) + ".CSV", strings.Repeat("a", 31) + ".CSV"},
		// 40 two-byte characters: cut between characters, not bytes.
		{strings.Repeat("é", 40) + ".csv", strings.Repeat("é", 31) + ".csv"},
		{strings.Repeat("😀", 36) + ".csv", strings.Repeat("😀", 31) + ".csv"},
		{strings.Repeat("é", 35), strings.Repeat("é", 35)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := APIFilename(tt.in)
			if got != tt.want {
				t.Fatalf("APIFilename(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > MaxFilename || !utf8.ValidString(got) {
				t.Fatalf("result has %d characters (valid UTF-8: %v)", n, utf8.ValidString(got))
			}
		})
	}
}
