package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/listdrop/listdrop/internal/testutil"
)

// region is what versitygw and the signer agree on.
const region = "us-east-1"

// gw is the versitygw process shared by the tests; nil when VERSITYGW is
// not set.
var gw *gateway

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer func() {
		if binary != "" {
			os.RemoveAll(filepath.Dir(binary))
		}
	}()
	bin := os.Getenv("VERSITYGW")
	if bin == "" {
		return m.Run() // every test skips, saying why
	}
	g, err := startGateway(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start versitygw:", err)
		return 1
	}
	defer g.stop()
	gw = g
	return m.Run()
}

// needGateway skips a test when versitygw is not available.
func needGateway(t *testing.T) *gateway {
	t.Helper()
	if gw == nil {
		t.Skip("VERSITYGW is not set: these tests need a real S3 server; integration/run.sh installs versitygw and sets it")
	}
	return gw
}

// gateway is a versitygw process serving a posix backend in a temporary
// folder, on loopback.
type gateway struct {
	URL            string // http://127.0.0.1:PORT
	access, secret string
	root           string
	cmd            *exec.Cmd
	exited         chan struct{}
	out            *testutil.LockedBuffer
	buckets        atomic.Int64
}

// startGateway starts versitygw on a free loopback port. A port found free
// can be taken by another process before versitygw binds it, so a start
// that fails is tried again, a few times.
func startGateway(bin string) (*gateway, error) {
	var errs []error
	for range 3 {
		g, err := tryGateway(bin)
		if err == nil {
			return g, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func tryGateway(bin string) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "listdrop-versitygw-")
	if err != nil {
		return nil, err
	}
	g := &gateway{
		URL:    "http://" + port,
		access: "LDIT" + randomHex(8),
		secret: randomHex(20),
		root:   root,
		exited: make(chan struct{}),
		out:    &testutil.LockedBuffer{},
	}
	// The keys go in the environment, not on the command line, where any
	// local user could read them.
	g.cmd = exec.Command(bin, "--port", port, "--region", region, "--quiet", "--health", "/health", "posix", root)
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+g.access, "ROOT_SECRET_ACCESS_KEY="+g.secret)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	dieWithTests(g.cmd)
	if err := g.cmd.Start(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	go func() {
		g.cmd.Wait()
		close(g.exited)
	}()
	if err := g.waitReady(30 * time.Second); err != nil {
		g.stop()
		return nil, fmt.Errorf("%w\nversitygw output:\n%s", err, g.out.String())
	}
	return g, nil
}

// waitReady polls the health endpoint until it answers, the process exits,
// or the deadline passes.
func (g *gateway) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-g.exited:
			return fmt.Errorf("versitygw exited at start: %v", g.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(g.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not answer on %s within %s (last: %v)", g.URL, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *gateway) stop() {
	if g.cmd.Process != nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(10 * time.Second):
			g.cmd.Process.Kill()
			<-g.exited
		}
	}
	os.RemoveAll(g.root)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// awsConfig is built by hand, not from the environment or ~/.aws, so that
// nothing on the machine can point the tests elsewhere.
func (g *gateway) awsConfig() aws.Config {
	return aws.Config{
		Region:                     region,
		Credentials:                credentials.NewStaticCredentialsProvider(g.access, g.secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
}

// client returns an S3 client for endpoint: the gateway itself, or the
// proxy in front of it. Buckets are addressed by path, as on a loopback
// address there are no bucket host names.
func (g *gateway) client(endpoint string) *s3.Client {
	return s3.NewFromConfig(g.awsConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

// newBucket creates a bucket of its own for one test.
func (g *gateway) newBucket(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("listdrop-it-%d", g.buckets.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.client(g.URL).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}
