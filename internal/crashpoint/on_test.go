//go:build crashpoints

package crashpoint

import "testing"

func TestParse(t *testing.T) {
	t.Parallel()
	got, err := parse(" claim.renamed, patch.sent:2 ,")
	if err != nil || len(got) != 2 || got["claim.renamed"] != 1 || got["patch.sent"] != 2 {
		t.Fatalf("parse = %v, %v", got, err)
	}
	for _, bad := range []string{"a:0", "a:x", "a:-1"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted it", bad)
		}
	}
}
