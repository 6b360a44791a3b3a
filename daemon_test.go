package main

import (
	"net"
	"testing"
)

// An admin.listen with port 0 is served on the port the system picked,
// and says so; any other is left as configured.
func TestBoundListen(t *testing.T) {
	t.Parallel()
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40123}
	for _, tt := range []struct{ listen, want string }{
		{"127.0.0.1:0", "127.0.0.1:40123"},
		{"localhost:0", "localhost:40123"},
		{"127.0.0.1:9464", "127.0.0.1:9464"},
		{"[::1]:0", "[::1]:40123"},
	} {
		if got := boundListen(tt.listen, bound); got != tt.want {
			t.Errorf("boundListen(%q) = %q, want %q", tt.listen, got, tt.want)
		}
	}
}
