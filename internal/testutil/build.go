package testutil

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// GoTool is the go command on PATH, or "go", whose failure to run then
// says that there is none.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// BuildListdrop builds the listdrop program of the module rooted at root
// into out, with the build tags given; the error carries the compiler's
// output.
func BuildListdrop(root, out string, tags ...string) error {
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(GoTool(), append(args, "-o", out, ".")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build listdrop %v: %v\n%s", tags, err, b)
	}
	return nil
}

// LockedBuffer is a bytes.Buffer that a running program's output and a
// test reading it may use at once.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// UnusedAddr is a loopback address whose port nothing listened on a moment
// ago, for a program that must be told its port before it starts. Another
// program may take the port meanwhile: where the program can listen on
// port 0 and say which port it got, that is better.
func UnusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
