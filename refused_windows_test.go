package main

import (
	"net"
	"testing"
)

// refusingAddr is a loopback address nothing listens on. Windows answers a
// closed loopback port with a timeout rather than a refusal, so the tests
// that need a refusal skip there; this is the port of a listener closed
// again, enough for those that only need nothing to answer.
func refusingAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
