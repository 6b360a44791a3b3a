//go:build !crashpoints

package crashpoint

import "context"

// Enabled reports whether this build has crash points.
const Enabled = false

// At is a crash point; in this build it does nothing.
func At(string) {}

// Trace returns ctx; in a tagged build, ctx naming a point for OnAnswer.
func Trace(ctx context.Context, _ string) context.Context { return ctx }

// OnAnswer returns ctx; in a tagged build, ctx set to crash at the point
// Trace named when the first byte of the request's answer arrives.
func OnAnswer(ctx context.Context) context.Context { return ctx }
