package watcher

import "strings"

// EligibleWorkbook is Eligible for Excel workbooks (*.xlsx), taken by
// folders that convert them: the same rules, with Excel's own lock file
// ("~$x.xlsx") left alone.
func EligibleWorkbook(name string) bool {
	lower := strings.ToLower(name)
	if !strings.HasSuffix(lower, ".xlsx") {
		return false
	}
	return Eligible(name[:len(name)-len(".xlsx")] + ".csv")
}

// eligible is the watcher's test of a name in folder f.
func (w *Watcher) eligible(f *folder, name string) bool {
	if w.accept != nil {
		return w.accept(f.name, name)
	}
	return Eligible(name)
}
