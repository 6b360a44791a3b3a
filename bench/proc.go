//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's own tick.
const userHZ = 100

// procSample is what /proc says about a process at one moment.
type procSample struct {
	at time.Time
	// cpuTicks is utime+stime of the whole process (all threads), from
	// /proc/PID/stat, in 1/userHZ seconds.
	cpuTicks int64
	// runNanos is the sum over threads of se.sum_exec_runtime from
	// /proc/PID/task/TID/sched: the same CPU time in nanoseconds, when the
	// kernel provides it (0 otherwise).
	runNanos int64
	// switches is voluntary_ctxt_switches + nonvoluntary_ctxt_switches
	// summed over every thread (/proc/PID/status alone counts only the main
	// thread). Each is a time a thread left the CPU: a wake-up.
	switches int64
	threads  int
	rssKB    int64 // VmRSS
	hwmKB    int64 // VmHWM: the peak of VmRSS so far
}

func sampleProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	dir := fmt.Sprintf("/proc/%d", pid)
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return s, err
	}
	if s.cpuTicks, err = parseStatCPU(stat); err != nil {
		return s, err
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return s, err
	}
	f := statusFields(status)
	s.rssKB, s.hwmKB = f["VmRSS"], f["VmHWM"]
	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		// A thread may end between the listing and the read: skip it.
		if st, err := os.ReadFile(filepath.Join(dir, "task", t.Name(), "status")); err == nil {
			tf := statusFields(st)
			s.switches += tf["voluntary_ctxt_switches"] + tf["nonvoluntary_ctxt_switches"]
			s.threads++
		}
		if sc, err := os.ReadFile(filepath.Join(dir, "task", t.Name(), "sched")); err == nil {
			s.runNanos += schedRuntime(sc)
		}
	}
	return s, nil
}

// parseStatCPU returns utime+stime from a /proc/PID/stat line. The command
// name in parentheses may hold spaces and parentheses: fields are counted
// from the last ')'.
func parseStatCPU(stat []byte) (int64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", stat)
	}
	// After ")": state(3) ppid(4) … utime(14) stime(15).
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: utime %q, stime %q", f[11], f[12])
	}
	return u + st, nil
}

// statusFields reads the numeric fields of a /proc status file; sizes are
// in kB as the file gives them.
func statusFields(status []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// schedRuntime reads se.sum_exec_runtime (milliseconds with a fraction)
// from a /proc sched file, in nanoseconds.
func schedRuntime(sched []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(sched))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "se.sum_exec_runtime" {
			continue
		}
		ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0
		}
		return int64(ms * 1e6)
	}
	return 0
}

// cpuSeconds is the CPU time between two samples: the nanosecond figure
// when the kernel gives it, else the ticks of /proc/PID/stat.
func cpuSeconds(a, b procSample) float64 {
	if a.runNanos > 0 && b.runNanos > 0 {
		return float64(b.runNanos-a.runNanos) / 1e9
	}
	return float64(b.cpuTicks-a.cpuTicks) / userHZ
}
