package watcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeWatch follows, with an inotify instance of its own, which files in the
// watched folders a process has written to and not yet closed: IN_MODIFY
// marks a file as being written, IN_CLOSE_WRITE (the last close of a
// descriptor opened for writing) clears it. fsnotify does not expose
// close-after-write events, hence the second instance. It sees only writers
// on this machine: on a network share the events of other machines never
// come, and settle alone decides there.
type writeWatch struct {
	file   *os.File
	fd     int
	events chan writeEvent
	quit   chan struct{} // closed by close: the loop no longer reads events
	done   chan struct{}

	mu   sync.Mutex
	dirs map[int]string // watch descriptor → folder
	wds  map[string]int
}

func newWriteWatch() (*writeWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	w := &writeWatch{
		// Non-blocking, so reads go through the runtime poller and Close
		// ends a pending read.
		file:   os.NewFile(uintptr(fd), "inotify-writes"),
		fd:     fd,
		events: make(chan writeEvent, 64),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		dirs:   map[int]string{},
		wds:    map[string]int{},
	}
	go w.read()
	return w, nil
}

const writeMask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_ONLYDIR

func (w *writeWatch) add(dir string) error {
	wd, err := unix.InotifyAddWatch(w.fd, dir, writeMask)
	if err != nil {
		return fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	w.mu.Lock()
	w.dirs[wd], w.wds[dir] = dir, wd
	w.mu.Unlock()
	return nil
}

func (w *writeWatch) remove(dir string) {
	w.mu.Lock()
	wd, ok := w.wds[dir]
	delete(w.wds, dir)
	delete(w.dirs, wd)
	w.mu.Unlock()
	if ok {
		// Fails when the kernel dropped the watch already: expected.
		_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
	}
}

func (w *writeWatch) Events() <-chan writeEvent { return w.events }

func (w *writeWatch) close() error {
	close(w.quit)
	err := w.file.Close()
	<-w.done
	return err
}

func (w *writeWatch) read() {
	defer close(w.done)
	defer close(w.events)
	var buf [64 * (unix.SizeofInotifyEvent + unix.PathMax + 1)]byte
	for {
		n, err := w.file.Read(buf[:])
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				// Nothing more will be known: settle alone decides.
				w.send(writeEvent{op: writeOverflow})
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameLen := int(ev.Len)
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen]
			off += unix.SizeofInotifyEvent + nameLen
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				w.send(writeEvent{op: writeOverflow})
				continue
			}
			w.mu.Lock()
			dir, ok := w.dirs[int(ev.Wd)]
			if ev.Mask&unix.IN_IGNORED != 0 {
				delete(w.dirs, int(ev.Wd))
				if w.wds[dir] == int(ev.Wd) {
					delete(w.wds, dir)
				}
			}
			w.mu.Unlock()
			if !ok || nameLen == 0 {
				continue
			}
			// The name is padded with NULs to the event's length.
			if i := indexNUL(name); i >= 0 {
				name = name[:i]
			}
			path := filepath.Join(dir, string(name))
			switch {
			case ev.Mask&unix.IN_CLOSE_WRITE != 0:
				w.send(writeEvent{path: path, op: writeClosed})
			case ev.Mask&unix.IN_MODIFY != 0:
				w.send(writeEvent{path: path, op: writeStarted})
			case ev.Mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
				w.send(writeEvent{path: path, op: writeGone})
			}
		}
	}
}

func (w *writeWatch) send(ev writeEvent) {
	// Blocks while the loop is busy: events must not be dropped, or a
	// close would be missed. The loop drains the channel until Close.
	select {
	case w.events <- ev:
	case <-w.quit:
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
