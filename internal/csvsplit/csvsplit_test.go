package csvsplit

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
)

// records reads every record of a CSV, header first.
func records(t *testing.T, b []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, BOM)))
	r.FieldsPerRecord = -1
	all, err := r.ReadAll()
	if err != nil {
		t.Fatalf("part is not CSV: %v\n%s", err, b)
	}
	return all
}

// checkParts checks what splitting must keep: each part at most limit bytes,
// starting with the header, whole records only, and together every record
// of the file once, in order.
func checkParts(t *testing.T, data []byte, s *File, limit int) {
	t.Helper()
	want := records(t, data)
	var got [][]string
	for k := range s.Parts {
		b := s.Bytes(k)
		if len(b) > limit {
			t.Errorf("part %d is %d bytes, over %d", k+1, len(b), limit)
		}
		if bytes.HasPrefix(b, BOM) {
			t.Errorf("part %d starts with a byte order mark", k+1)
		}
		recs := records(t, b)
		if fmt.Sprint(recs[0]) != fmt.Sprint(records(t, s.Header)[0]) {
			t.Errorf("part %d does not start with the header: %q", k+1, recs[0])
		}
		if len(recs)-1 != s.Parts[k].Records {
			t.Errorf("part %d holds %d records, says %d", k+1, len(recs)-1, s.Parts[k].Records)
		}
		got = append(got, recs[1:]...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want[1:]) {
		t.Errorf("the parts' records are not the file's, in order:\n got %d records\nwant %d", len(got), len(want)-1)
	}
}

func contactList(n int, eol string) []byte {
	var b strings.Builder
	b.WriteString("first_name,last_name,phone" + eol)
	for i := range n {
		fmt.Fprintf(&b, "Ann%d,Lee,+3519100%05d%s", i, i, eol)
	}
	return []byte(b.String())
}

func TestSplitKeepsRecordsWholeAndInOrder(t *testing.T) {
	t.Parallel()
	quoted := []byte("name,note\r\n" +
		"\"Ann\",\"line one\r\nline two, with a comma\"\r\n" +
		"Bob,plain\r\n" +
		"\"Cy \"\"the\"\" third\",\"a\nb\nc\"\r\n" +
		"Dee,last")
	tests := []struct {
		name  string
		data  []byte
		limit int
		parts int
	}{
		{"LF lines", contactList(3000, "\n"), maxSize, 0},
		{"CRLF lines", contactList(3000, "\r\n"), maxSize, 0},
		{"with a byte order mark", append(append([]byte{}, BOM...), contactList(3000, "\r\n")...), maxSize, 0},
		{"quoted line breaks and commas", quoted, 60, 0},
		{"no line ending at the end", []byte("a,b\n1,2\n3,4"), 9, 2},
		{"blank lines between records", []byte("a,b\n1,2\n\n\n3,4\n"), 10, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, problem := Cut(tt.data, tt.limit)
			if problem != "" {
				t.Fatal(problem)
			}
			if len(s.Parts) < 2 {
				t.Fatalf("%d part(s): nothing was split", len(s.Parts))
			}
			if tt.parts != 0 && len(s.Parts) != tt.parts {
				t.Errorf("%d parts, want %d", len(s.Parts), tt.parts)
			}
			checkParts(t, tt.data, s, tt.limit)
		})
	}
}

func TestSplitFillsEachPart(t *testing.T) {
	t.Parallel()
	data := contactList(3000, "\r\n")
	s, problem := Cut(data, maxSize)
	if problem != "" {
		t.Fatal(problem)
	}
	for k := range s.Parts[:len(s.Parts)-1] {
		// The next record did not fit: a part is as full as it can be.
		next := s.Parts[k+1]
		firstNext := bytes.IndexByte(s.Body[next.Start:], '\n') + 1
		if len(s.Bytes(k))+firstNext <= maxSize {
			t.Errorf("part %d (%d bytes) had room for the next record", k+1, len(s.Bytes(k)))
		}
	}
}

func TestSplitAtExactBoundaries(t *testing.T) {
	t.Parallel()
	header := "h\n"
	rec := strings.Repeat("x", 97) + "\n" // 98 bytes
	// A part of exactly the limit: the header and two records.
	limit := len(header) + 2*len(rec)
	data := []byte(header + rec + rec + rec + rec + rec)
	s, problem := Cut(data, limit)
	if problem != "" {
		t.Fatal(problem)
	}
	if len(s.Parts) != 3 || len(s.Bytes(0)) != limit || len(s.Bytes(1)) != limit || s.Parts[2].Records != 1 {
		t.Errorf("parts %+v, want two of exactly %d bytes and one of one record", s.Parts, limit)
	}
	// One byte less: one record per part.
	s, problem = Cut(data, limit-1)
	if problem != "" || len(s.Parts) != 5 {
		t.Errorf("limit-1: %d parts (%q), want 5", len(s.Parts), problem)
	}
	checkParts(t, data, s, limit-1)
}

func TestSplitLineNumbers(t *testing.T) {
	t.Parallel()
	data := []byte("name,note\n" + // 1
		"a,\"x\ny\"\n" + // 2-3
		"b,z\n" + // 4
		"c,\"1\n2\n3\"\n" + // 5-7
		"d,w") // 8
	s, problem := Cut(data, 20)
	if problem != "" {
		t.Fatal(problem)
	}
	var got []string
	for _, p := range s.Parts {
		got = append(got, fmt.Sprintf("%d-%d", p.First, p.Last))
	}
	if want := "[2-3 4-4 5-7 8-8]"; fmt.Sprint(got) != want {
		t.Errorf("lines %v, want %s", got, want)
	}
	if rest := string(s.Remaining(2)); rest != "name,note\nc,\"1\n2\n3\"\nd,w" {
		t.Errorf("remaining from part 3 = %q", rest)
	}
}

func TestSplitRefusals(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("y", 200)
	tests := []struct {
		name, data, want string
	}{
		{"header only", "a,b,c\n", "This file has a header line but no records."},
		{"header without line ending", "a,b,c", "This file has a header line but no records."},
		{"empty", "", "This file has no header line and no records."},
		{"header too big", strings.Repeat("h", 100) + "\n1\n", "The header line alone is 101 bytes; a part of 100 bytes"},
		{"record too big", "a,b\n1,2\n3," + big + "\n5,6\n", "The record on line 3 is too big to import: with the header line it is 207 bytes, over the 100 bytes"},
		{"record over lines too big", "a,b\n1,2\n3,\"" + big + "\n" + big + "\"\n", "The record on lines 3–4 is too big to import"},
		{"bad quote", "a,b\n1,2\n3,x\"y\n", "This file cannot be cut into parts: line 3 has a misplaced quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problem := Cut([]byte(tt.data), 100)
			if !strings.HasPrefix(problem, tt.want) {
				t.Errorf("problem %q, want it to start with %q", problem, tt.want)
			}
		})
	}
}

func FuzzCut(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n3,\"4\n5\"\n6,7"), 12)
	f.Add(contactList(50, "\r\n"), 200)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = 8 + limit%4096
		if limit < 8 {
			limit = -limit
		}
		s, problem := Cut(data, limit)
		if problem != "" {
			return
		}
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, BOM)))
		r.FieldsPerRecord = -1
		want, err := r.ReadAll()
		if err != nil {
			t.Fatalf("split a file that is not CSV: %v", err)
		}
		var got [][]string
		for k := range s.Parts {
			b := s.Bytes(k)
			if len(b) > limit {
				t.Fatalf("part %d is %d bytes, over %d", k+1, len(b), limit)
			}
			pr := csv.NewReader(bytes.NewReader(b))
			pr.FieldsPerRecord = -1
			recs, err := pr.ReadAll()
			if err != nil {
				t.Fatalf("part %d is not CSV: %v", k+1, err)
			}
			got = append(got, recs[1:]...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[1:]) {
			t.Fatalf("records differ")
		}
	})
}

// maxSize is Talkdesk's limit for one upload.
const maxSize = 20000
