package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/test/lab"
)

// Kind names the daemon under test.
type Kind string

// The two daemons the benchmark compares.
const (
	Xvrrpd     Kind = "xvrrpd"
	Keepalived Kind = "keepalived"
)

// Kinds is the order runs alternate in.
var Kinds = []Kind{Xvrrpd, Keepalived}

// Daemon is one running xvrrpd or keepalived on a host.
type Daemon struct {
	*lab.Proc // its log is LogPath
	Kind      Kind
	Host      *Host
}

// Tools locates the programs a run needs.
type Tools struct {
	Xvrrpd     string // path of bin/xvrrpd
	Keepalived string
}

// StartDaemon writes conf into a fresh directory and starts kind on h. It
// returns once the process runs; Wait* methods tell when it is ready.
func (l *Lab) StartDaemon(tools Tools, kind Kind, h *Host, conf string) (*Daemon, error) {
	dir, err := os.MkdirTemp(l.Dir, string(kind)+"-"+h.Port+"-")
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	d := &Daemon{Kind: kind, Host: h}
	var argv []string
	switch kind {
	case Xvrrpd:
		pin := "/sys/fs/bpf/xvrrp-" + h.Name
		l.Defer(func() { os.RemoveAll(pin) })
		argv = []string{tools.Xvrrpd, "-f", confPath, "--pin-dir", pin,
			"--control-socket", filepath.Join(dir, "ctl.sock"), "--pid-file", filepath.Join(dir, "pid"),
			"--metrics-address", "", "--ready-file", filepath.Join(dir, "ready")}
	case Keepalived:
		argv = []string{tools.Keepalived, "--vrrp", "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
			"-f", confPath, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
			"-c", filepath.Join(dir, "checkers.pid")}
	default:
		return nil, fmt.Errorf("unknown daemon kind %q", kind)
	}
	// In its own process group, so signals reach the daemon and its
	// children only; killed with the benchmark if the benchmark dies.
	if d.Proc, err = h.StartIn(dir, "daemon", argv[0], argv[1:]...); err != nil {
		return nil, err
	}
	l.Defer(d.Kill)
	return d, nil
}

// Pid is the daemon's pid (ip netns exec execs it, so it is the daemon's).
func (d *Daemon) Pid() int { return d.Cmd.Process.Pid }

// Socket is xvrrpd's control socket.
func (d *Daemon) Socket() string { return filepath.Join(d.Dir, "ctl.sock") }

func (d *Daemon) readyFile() string { return filepath.Join(d.Dir, "ready") }

// Wait waits up to timeout for the daemon to exit, however it exits.
func (d *Daemon) Wait(timeout time.Duration) error {
	if err := d.Proc.Wait(timeout); err != nil && !d.Exited() {
		return fmt.Errorf("%s on %s: %w", d.Kind, d.Host.Name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits, then kills what is left.
func (d *Daemon) Stop(timeout time.Duration) error {
	if d.Exited() {
		return nil
	}
	_ = d.Signal(syscall.SIGTERM)
	err := d.Wait(timeout)
	d.Kill()
	return err
}

// exitErr is how the daemon exited (nil while it runs).
func (d *Daemon) exitErr() error {
	if !d.Exited() {
		return nil
	}
	return d.Proc.Wait(0)
}

// LogText returns everything the daemon printed so far.
func (d *Daemon) LogText() string {
	return d.Log()
}

// LogTail returns the last n bytes of the log, for error messages.
func (d *Daemon) LogTail(n int) string {
	s := d.LogText()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// masterMarker and backupMarker are what each daemon logs when an instance
// enters MASTER or BACKUP: keepalived's "(VI_1) Entering MASTER STATE",
// xvrrpd's "VI_1: BACKUP → MASTER: <reason>".
func (d *Daemon) masterMarker() string {
	if d.Kind == Keepalived {
		return "Entering MASTER STATE"
	}
	return "→ MASTER"
}

func (d *Daemon) backupMarker() string {
	if d.Kind == Keepalived {
		return "Entering BACKUP STATE"
	}
	return "→ BACKUP"
}

// LogSize is the current length of the log, a mark to count from.
func (d *Daemon) LogSize() int64 {
	st, err := os.Stat(d.LogPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// LinesSince returns up to n lines logged after offset mark that match.
func (d *Daemon) LinesSince(mark int64, n int, match func(string) bool) []string {
	var out []string
	for _, line := range d.logSince(mark) {
		if len(out) == n {
			break
		}
		if match(line) {
			out = append(out, line)
		}
	}
	return out
}

// logSince is the daemon's log after offset mark, in lines (all of it when
// the log is shorter than mark).
func (d *Daemon) logSince(mark int64) []string {
	b, _ := os.ReadFile(d.LogPath)
	if int64(len(b)) < mark {
		mark = 0
	}
	return strings.Split(string(b[mark:]), "\n")
}

// transition classifies a log line: an entry into MASTER, or one into
// BACKUP or FAULT.
func (d *Daemon) transition(s string) (toMaster, other bool) {
	if strings.Contains(s, d.masterMarker()) {
		return true, false
	}
	return false, strings.Contains(s, d.backupMarker()) || strings.Contains(s, "Entering FAULT STATE") || strings.Contains(s, "→ FAULT")
}

// isTransition tells whether a log line is an entry into MASTER, BACKUP or
// FAULT.
func (d *Daemon) isTransition(s string) bool {
	m, o := d.transition(s)
	return m || o
}

// TransitionsSince counts the state transitions the daemon logged after log
// offset mark: entries into MASTER and into BACKUP, and into FAULT.
func (d *Daemon) TransitionsSince(mark int64) (toMaster, other int) {
	for _, line := range d.logSince(mark) {
		switch m, o := d.transition(line); {
		case m:
			toMaster++
		case o:
			other++
		}
	}
	return toMaster, other
}

// WaitReady waits until the daemon runs every instance: xvrrpd's ready file,
// or keepalived having logged n entries into BACKUP or MASTER.
func (d *Daemon) WaitReady(ctx context.Context, n int, timeout time.Duration) error {
	return poll(ctx, timeout, 20*time.Millisecond, func() error {
		if d.Exited() {
			return fmt.Errorf("%s on %s exited (%v): %s", d.Kind, d.Host.Name, d.exitErr(), d.LogTail(2000))
		}
		if d.Kind == Xvrrpd {
			if _, err := os.Stat(d.readyFile()); err != nil {
				return fmt.Errorf("%s on %s has not written its ready file; log ends: %s", d.Kind, d.Host.Name, d.LogTail(800))
			}
			return nil
		}
		m, o := d.TransitionsSince(0)
		if m+o < n {
			return fmt.Errorf("%s on %s: %d of %d instances started", d.Kind, d.Host.Name, m+o, n)
		}
		return nil
	})
}

// WaitMasters waits until the daemon logged at least n entries into MASTER.
func (d *Daemon) WaitMasters(ctx context.Context, n int, timeout time.Duration) error {
	return poll(ctx, timeout, 20*time.Millisecond, func() error {
		if d.Exited() {
			return fmt.Errorf("%s on %s exited: %s", d.Kind, d.Host.Name, d.LogTail(2000))
		}
		if m, _ := d.TransitionsSince(0); m < n {
			return fmt.Errorf("%s on %s: %d of %d instances MASTER", d.Kind, d.Host.Name, m, n)
		}
		return nil
	})
}

// Status fetches xvrrpd's status document (nil for keepalived).
func (d *Daemon) Status() (*status.Document, error) {
	if d.Kind != Xvrrpd {
		return nil, nil
	}
	resp, err := status.Call(d.Socket(), status.Request{Command: status.CmdStatus}, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return resp.Status, nil
}

// CPUTimes is the CPU a process tree used, in seconds.
type CPUTimes struct{ User, System float64 }

// Total is user plus system time.
func (c CPUTimes) Total() float64 { return c.User + c.System }

// Sub returns c - o.
func (c CPUTimes) Sub(o CPUTimes) CPUTimes { return CPUTimes{c.User - o.User, c.System - o.System} }

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// CPU sums utime and stime (proc(5) fields 14 and 15) of the daemon and
// every live descendant (keepalived's VRRP child does the work).
func (d *Daemon) CPU() (CPUTimes, error) {
	pids, err := d.tree()
	if err != nil {
		return CPUTimes{}, err
	}
	var sum CPUTimes
	for _, pid := range pids {
		if _, t, err := readStat(pid); err == nil {
			sum.User += t.User
			sum.System += t.System
		}
	}
	return sum, nil
}

// tree lists the daemon's pid and those of its live descendants
// (keepalived's VRRP child does its work).
func (d *Daemon) tree() ([]int, error) {
	root := d.Pid()
	parent := map[int]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if ppid, _, err := readStat(pid); err == nil {
				parent[pid] = ppid
			}
		}
	}
	if _, ok := parent[root]; !ok {
		return nil, fmt.Errorf("%s (pid %d) is not running", d.Kind, root)
	}
	var pids []int
	for pid := range parent {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// threads lists the thread ids of pid.
func threads(pid int) []string {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	names := make([]string, 0, len(tasks))
	for _, t := range tasks {
		names = append(names, t.Name())
	}
	return names
}

// OnCPU is how long the daemon's threads and those of its live descendants
// ran, by the scheduler's own nanosecond clock (/proc/<pid>/task/<tid>/
// schedstat, first field): unlike /proc/<pid>/stat's 10 ms ticks it
// resolves a daemon that runs a few milliseconds a second. It is user and
// system time together (the kernel keeps no precise split).
func (d *Daemon) OnCPU() (time.Duration, error) {
	pids, err := d.tree()
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, pid := range pids {
		for _, tid := range threads(pid) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, tid))
			if err != nil {
				continue // the thread exited
			}
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				sum += time.Duration(ns)
			}
		}
	}
	return sum, nil
}

// PinTo binds every thread of the daemon and its descendants to cpu;
// threads created later inherit it.
func (d *Daemon) PinTo(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	pids, err := d.tree()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		for _, t := range threads(pid) {
			tid, _ := strconv.Atoi(t)
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				return fmt.Errorf("pin %s thread %d to CPU %d: %w", d.Kind, tid, cpu, err)
			}
		}
	}
	return nil
}

// readStat parses /proc/pid/stat; the command name may hold spaces and
// parentheses, so fields are counted after the last ')'.
func readStat(pid int) (ppid int, t CPUTimes, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, t, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, t, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 13 {
		return 0, t, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ppid, CPUTimes{User: ut / clockTicks, System: st / clockTicks}, nil
}

// poll calls cond every step until it succeeds, ctx ends or timeout passes.
func poll(ctx context.Context, timeout, step time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(step):
		}
	}
}
