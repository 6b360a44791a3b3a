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

func TestPartName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		k, n int
		want string
	}{
		{"contacts.csv", 7, 40, "contacts-part07of40.csv"},
		{"contacts.csv", 3, 9, "contacts-part3of9.csv"},
		{"a-very-long-export-name-from-the-crm.csv", 12, 120, "a-very-long-export-part012of120.csv"},
		{"Łódź kontakty wszystkie 2026 listopad.csv", 1, 2, "Łódź kontakty wszystki-part1of2.csv"},
	}
	for _, tt := range tests {
		got := PartName(tt.name, tt.k, tt.n)
		if got != tt.want {
			t.Errorf("PartName(%q, %d, %d) = %q, want %q", tt.name, tt.k, tt.n, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); n > 35 {
			t.Errorf("PartName(%q) is %d characters", tt.name, n)
		}
	}
}
