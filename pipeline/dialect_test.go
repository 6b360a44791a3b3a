package pipeline

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/listdrop/listdrop/config"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func utf16LE(s string, bom bool) string {
	policy := unicode.IgnoreBOM
	if bom {
		policy = unicode.UseBOM
	}
	b, err := unicode.UTF16(unicode.LittleEndian, policy).NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

func utf16BE(s string) string {
	b, err := unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

func cp1252(s string) string {
	b, err := charmap.Windows1252.NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return b
}

const (
	sentenceSemicolons = "This file uses semicolons between fields; Talkdesk needs commas: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
	sentenceTabs       = "This file uses tabs between fields; Talkdesk needs commas: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
	sentencePipes      = "This file uses vertical bars (|) between fields; Talkdesk needs commas: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
	sentenceCR         = "This file ends its lines with a carriage return alone (old Mac line endings, as Excel's \"CSV (Macintosh)\" writes); Talkdesk needs Windows (CRLF) or Unix (LF) line endings: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
	sentenceUTF16      = "This file is UTF-16 text (as Excel's \"Unicode Text\" writes); Talkdesk needs UTF-8: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
)

func sentence1252(line string) string {
	return "This file is not UTF-8: it appears to be Windows-1252 text (as Excel's \"CSV (Comma delimited)\" writes; line " + line + " has the first character that is not UTF-8), and its accented letters would reach Talkdesk garbled: in Excel, save as 'CSV UTF-8 (Comma delimited)'."
}

// TestCSVFlavours: each flavour spreadsheets export gets its own exact
// sentence, and (with convert on) becomes the comma-separated UTF-8 it
// stands for.
func TestCSVFlavours(t *testing.T) {
	t.Parallel()
	const table = "first_name,last_name,mobile_phone\r\nZoë,\"Smith, Jr\",+12025550100\r\nAda,Lovelace,+12025550101\r\n"
	for _, c := range []struct {
		name      string
		data      string
		want      string // the CSV check's sentence, "" for none
		converted string // "" when convert leaves the file alone
	}{
		{"comma, CRLF", "first_name,last_name,mobile_phone\r\nAda,Lovelace,+1\r\n", "", ""},
		{"comma, LF, BOM", "\xEF\xBB\xBFfirst_name,last_name\nAda,Lovelace\n", "", ""},
		{"comma with semicolons in values", "name,note\nAda,\"a;b;c\"\nBob,x;y\n", "", ""},
		{"one column", "mobile_phone\n+1\n", "", ""},
		{"semicolons", "first_name;last_name;mobile_phone\nZoë;\"Smith, Jr\";+12025550100\nAda;Lovelace;+12025550101\n", sentenceSemicolons, "semicolons between fields to commas"},
		{"semicolons, no comma anywhere", "a;b\n1;2\n", sentenceSemicolons, "semicolons between fields to commas"},
		{"tabs", "first_name\tlast_name\tmobile_phone\nZoë\tSmith, Jr\t+12025550100\nAda\tLovelace\t+12025550101\n", sentenceTabs, "tabs between fields to commas"},
		{"vertical bars", "a|b\n1|2\n", sentencePipes, ""},
		{"CR only", "first_name,last_name,mobile_phone\rZoë,\"Smith, Jr\",+12025550100\rAda,Lovelace,+12025550101\r", sentenceCR, "carriage-return line endings to CRLF"},
		{"UTF-16LE with BOM, tabs (Excel's Unicode Text)", utf16LE("first_name\tlast_name\tmobile_phone\r\nZoë\tSmith, Jr\t+12025550100\r\nAda\tLovelace\t+12025550101\r\n", true),
			sentenceUTF16 + " " + sentenceTabs, "UTF-16LE text to UTF-8, tabs between fields to commas"},
		{"UTF-16LE without BOM", utf16LE(table, false), sentenceUTF16, "UTF-16LE text to UTF-8"},
		{"UTF-16BE", utf16BE(table), sentenceUTF16, "UTF-16BE text to UTF-8"},
		{"Windows-1252", cp1252(table), sentence1252("2"), "Windows-1252 text to UTF-8"},
		{"Windows-1252, semicolons, CR only (CSV (Macintosh) in Europe)", cp1252("first_name;last_name;mobile_phone\rZoë;\"Smith, Jr\";+12025550100\rAda;Lovelace;+12025550101\r"),
			sentence1252("1") + " " + sentenceCR + " " + sentenceSemicolons, "Windows-1252 text to UTF-8, carriage-return line endings to CRLF, semicolons between fields to commas"},
		{"not text", "a,b\n\x81\x00\xFF,1\n", "This file is not UTF-8 text (line 2 has bytes that are not UTF-8); save it as \"CSV UTF-8\".", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			folder := config.Folder{RecordListID: "L"}
			if got := CheckFile([]byte(c.data), folder); got != c.want {
				t.Errorf("CheckFile =\n%q\nwant\n%q", got, c.want)
			}
			out, done := convertCSV([]byte(c.data))
			if done != c.converted {
				t.Fatalf("convertCSV did %q, want %q", done, c.converted)
			}
			if out == nil {
				return
			}
			if got := CheckFile(out, folder); got != "" {
				t.Errorf("the converted file is refused: %s\n%q", got, out)
			}
			if !bytes.Contains(out, []byte("\r\n")) && bytes.Contains(out, []byte("\r")) {
				t.Errorf("converted file still ends lines with CR alone: %q", out)
			}
			recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("converted file is not CSV: %v\n%q", err, out)
			}
			if !slices.Contains(recs[1], "Zoë") && !slices.Contains(recs[1], "1") {
				t.Errorf("converted records lost their text: %q", recs)
			}
			for _, r := range recs {
				if slices.Contains(r, "Smith, Jr") && len(r) != 3 {
					t.Errorf("a value with a comma was split: %q", r)
				}
			}
		})
	}
}

// TestConvertIsExact: the converted bytes, to the quote and line ending.
func TestConvertIsExact(t *testing.T) {
	t.Parallel()
	in := cp1252("first_name;last_name;note\rZoë;\"Smith; Jr\";\"say \"\"hi\"\", ok\"\r")
	out, _ := convertCSV([]byte(in))
	want := "first_name,last_name,note\r\nZoë,Smith; Jr,\"say \"\"hi\"\", ok\"\r\n"
	if string(out) != want {
		t.Errorf("convertCSV =\n%q\nwant\n%q", out, want)
	}
}
