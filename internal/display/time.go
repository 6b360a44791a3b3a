package display

import "time"

// Time is how listdrop writes a time for people: local, to the second,
// with the zone.
func Time(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") }
