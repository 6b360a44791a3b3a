//go:build crashpoints

package crashpoint

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Enabled reports whether this build has crash points.
const Enabled = true

var (
	mu      sync.Mutex
	parsed  bool
	remain  map[string]int // hits left before the crash, by point
	badSpec error
)

// At ends the process if the point called name is selected and this is
// the hit it was selected for.
func At(name string) {
	mu.Lock()
	if !parsed {
		remain, badSpec = parse(os.Getenv(Env))
		parsed = true
		if badSpec != nil {
			fmt.Fprintf(os.Stderr, "crashpoint: %s: %v\n", Env, badSpec)
		}
	}
	n, ok := remain[name]
	if !ok {
		mu.Unlock()
		return
	}
	if n > 1 {
		remain[name] = n - 1
		mu.Unlock()
		return
	}
	// The lock stays held: nothing else may reach a point, or do anything
	// that a point is meant to cut short, once the crash has begun.
	fmt.Fprintf(os.Stderr, "crashpoint: crashing at %s\n", name)
	kill()
}

type traceKey struct{}

// Trace names the point at which the request OnAnswer prepares crashes.
// Only that request: a token fetched on the way shares ctx but not the
// point.
func Trace(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, traceKey{}, name)
}

// OnAnswer returns ctx set to crash, when the first byte of the answer
// arrives, at the point Trace named: the server has acted on the request,
// and its answer is never read.
func OnAnswer(ctx context.Context) context.Context {
	name, ok := ctx.Value(traceKey{}).(string)
	if !ok {
		return ctx
	}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: func() { At(name) }})
}

// parse reads name[:n][,name[:n]...].
func parse(spec string) (map[string]int, error) {
	out := map[string]int{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, count, hasCount := strings.Cut(part, ":")
		n := 1
		if hasCount {
			var err error
			if n, err = strconv.Atoi(count); err != nil || n < 1 {
				return nil, fmt.Errorf("%q: the count after the colon must be a whole number of at least 1", part)
			}
		}
		out[name] = n
	}
	return out, nil
}
