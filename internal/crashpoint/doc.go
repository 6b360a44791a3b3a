// Package crashpoint ends the process, the way kill -9 does, at a named
// point of a file's life, so that tests can show what a restart does after
// a crash at each one.
//
// The points exist only in a binary built with the crashpoints tag; in any
// other build At and Trace do nothing and LISTDROP_CRASH_AT is not read. In
// a tagged build, LISTDROP_CRASH_AT=name[:n][,name[:n]...] ends the process
// the n-th time (default: the first) the point called name is reached.
//
// Every call names its point with a string literal: a test reads the
// sources for them and checks that each one is exercised.
package crashpoint

// Env is the environment variable that selects where a tagged build
// crashes.
const Env = "LISTDROP_CRASH_AT"
