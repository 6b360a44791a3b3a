//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// arrivals notes when each file lands in a set of folders (the done/
// folders), from inotify: the moment the daemon's rename happens, without
// polling folders that hold thousands of files.
type arrivals struct {
	f    *os.File
	done chan struct{}

	mu       sync.Mutex
	at       map[string]time.Time // by file name
	last     time.Time
	overflow bool
	changed  chan struct{} // capacity 1: wakes a waiter
	readErr  error
}

func watchArrivals(dirs []string) (*arrivals, error) {
	// Non-blocking, so that the runtime's poller serves reads and Close
	// ends a read in progress.
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	for _, d := range dirs {
		if _, err := syscall.InotifyAddWatch(fd, d, syscall.IN_MOVED_TO); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("inotify watch %s: %w", d, err)
		}
	}
	a := &arrivals{
		f:       os.NewFile(uintptr(fd), "inotify"),
		done:    make(chan struct{}),
		at:      map[string]time.Time{},
		changed: make(chan struct{}, 1),
	}
	go a.read()
	return a, nil
}

func (a *arrivals) read() {
	defer close(a.done)
	buf := make([]byte, 256<<10)
	for {
		n, err := a.f.Read(buf)
		now := time.Now()
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				a.mu.Lock()
				a.readErr = err
				a.mu.Unlock()
			}
			a.wake()
			return
		}
		a.mu.Lock()
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+nameLen]), "\x00")
			off += syscall.SizeofInotifyEvent + nameLen
			if mask&syscall.IN_Q_OVERFLOW != 0 {
				a.overflow = true
				continue
			}
			// Only the files themselves: not the temporary name of a copy
			// across disks.
			if !strings.HasSuffix(name, ".csv") || strings.HasPrefix(name, ".") {
				continue
			}
			if _, ok := a.at[name]; !ok {
				a.at[name] = now
				a.last = now
			}
		}
		a.mu.Unlock()
		a.wake()
	}
}

func (a *arrivals) wake() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// wait returns when n files have arrived, with the time of the last one.
// It gives up when nothing arrives for stall, so that a stuck daemon ends
// the run instead of hanging it.
func (a *arrivals) wait(ctx context.Context, n int, stall time.Duration) (time.Time, error) {
	progress, lastCount := time.Now(), -1
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		a.mu.Lock()
		count, last, overflow, rerr := len(a.at), a.last, a.overflow, a.readErr
		a.mu.Unlock()
		switch {
		case overflow:
			return time.Time{}, errors.New("inotify queue overflowed: arrival times were lost (raise fs.inotify.max_queued_events)")
		case rerr != nil:
			return time.Time{}, fmt.Errorf("inotify: %w", rerr)
		case count >= n:
			return last, nil
		}
		if count != lastCount {
			progress, lastCount = time.Now(), count
		} else if time.Since(progress) > stall {
			return time.Time{}, fmt.Errorf("only %d of %d files reached done/ and none for %s", count, n, stall)
		}
		select {
		case <-a.changed:
		case <-tick.C:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// times returns the arrival time of every file so far.
func (a *arrivals) times() map[string]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.at)
}

func (a *arrivals) Close() {
	a.f.Close()
	<-a.done
}
