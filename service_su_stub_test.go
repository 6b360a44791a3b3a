//go:build !servicetest

package main

import "testing"

// TestServiceUnderTheServiceManager installs and runs the service under the
// machine's service manager; it needs root and changes the machine, so it
// runs only with -tags servicetest.
func TestServiceUnderTheServiceManager(t *testing.T) {
	t.Skip("installs a real service: go test -tags servicetest -run TestServiceUnderTheServiceManager . (as root)")
}
