package faketalkdesk

import (
	"strings"
	"testing"
)

// StartForTest starts a Server for the test t: closed when the test ends,
// and the test failed then if the server saw a request that breaks the
// documented rules. Its clean-up is registered first, so it runs after
// those the test registers later (a daemon or pipeline stopped first).
func StartForTest(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if v := s.Violations(); len(v) > 0 {
			t.Errorf("the fake Talkdesk saw rule violations:\n%s", strings.Join(v, "\n"))
		}
	})
	return s
}
