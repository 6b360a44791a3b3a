package display

import "testing"

func TestName(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"contacts.csv", "contacts.csv"},
		{"Straße – 東京 ✓.csv", "Straße – 東京 ✓.csv"},
		{"a\nb.csv", `a\nb.csv`},
		{"\x1b[2J\x1b]0;owned\x07.csv", `\x1b[2J\x1b]0;owned\x07.csv`},
		{"tab\there\r.csv", `tab\there\r.csv`},
		{"invoice\u202Evsc.exe", `invoice\u202evsc.exe`},
		{"\u2066x\u2069.csv", `\u2066x\u2069.csv`},
		{"c1\u0085.csv", `c1\u0085.csv`},
		{"bad\xff.csv", `bad\xff.csv`},
		{"real\uFFFD.csv", "real\uFFFD.csv"},
		{`C:\drop\back\slash.csv`, `C:\drop\back\slash.csv`},
		{"del\x7f.csv", `del\x7f.csv`},
	} {
		if got := Name(c.in); got != c.want {
			t.Errorf("Name(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"contacts.csv", "contacts.csv"},
		{"a\nb\t.csv", "a_b_.csv"},
		{"invoice\u202Evsc.csv", "invoice_vsc.csv"},
		{`back\slash.csv`, `back\slash.csv`},
		{"bad\xff.csv", "bad_.csv"},
		{"東京.csv", "東京.csv"},
	} {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
