//go:build !packaging

package packaging

import "testing"

// TestPackages builds, installs and purges the packages; it changes the
// machine, so it runs only with -tags packaging, as root.
func TestPackages(t *testing.T) {
	t.Skip("builds and installs the packages: go test -tags packaging ./packaging/ (as root)")
}
