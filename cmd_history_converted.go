package main

import "github.com/listdrop/listdrop/state"

// historyReason is an entry's last column: why it failed, and what was
// converted before its upload.
func historyReason(e state.Entry) string {
	switch {
	case e.Converted == "":
		return e.Reason
	case e.Reason == "":
		return "converted: " + e.Converted
	}
	return e.Reason + " (converted: " + e.Converted + ")"
}
