package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes, written in the configuration as a whole
// number of bytes or with a unit: 500kB, 10MB, 1GB (powers of 1000) or
// 512KiB, 10MiB (powers of 1024).
type ByteSize int64

// Units of ByteSize.
const (
	KB ByteSize = 1000
	MB ByteSize = 1000 * KB
	GB ByteSize = 1000 * MB
)

var sizeUnits = []struct {
	suffix string
	n      ByteSize
}{
	// Longer suffixes first: "MiB" must not be read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", KB}, {"mb", MB}, {"gb", GB}, {"b", 1},
}

// parseByteSize reads "20000", "500kB", "10 MB" or "2MiB".
func parseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := ByteSize(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > int64(1<<50/mult) {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return ByteSize(n) * mult, nil
}

// String writes the size the way a person would: 10MB, 20000 bytes.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		n    ByteSize
	}{{"GB", GB}, {"MB", MB}, {"kB", KB}} {
		if b >= u.n && b%u.n == 0 {
			return fmt.Sprintf("%d%s", b/u.n, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", int64(b))
}
