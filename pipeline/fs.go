package pipeline

import (
	"errors"
	"io/fs"
	"os"

	"github.com/listdrop/listdrop/internal/fsutil"
)

// claimDirName is the hidden folder, inside each drop folder, that holds the
// files listdrop has taken. Moving a file there is one atomic rename on the
// same volume, so a file is either waiting or taken, never both; and it
// keeps writers that reuse the name from touching a file being uploaded.
const claimDirName = ".listdrop"

// exists reports whether anything is at path.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// freeName is fsutil.FreeName with nothing to pass over.
func freeName(dir, name string, extra ...string) string {
	return fsutil.FreeName(dir, name, nil, extra...)
}
