package main

import (
	"testing"

	"github.com/listdrop/listdrop/internal/testutil"
)

// refusingAddr is a loopback address nothing listens on. Windows answers a
// closed loopback port with a timeout rather than a refusal, so the tests
// that need a refusal skip there; those that only need nothing to answer
// get a port nothing listened on a moment ago.
func refusingAddr(t *testing.T) string { return testutil.UnusedAddr(t) }
