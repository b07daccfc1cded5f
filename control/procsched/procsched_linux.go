// Package procsched applies keepalived's process-scheduling keywords to
// xvrrpd: vrrp_priority (nice), vrrp_rt_priority (SCHED_RR),
// vrrp_rlimit_rttime (RLIMIT_RTTIME) and vrrp_cpu_affinity
// (sched_setaffinity).
//
// keepalived's VRRP child is one thread, so it sets all four on its pid
// (lib/process.c, set_process_priorities). A Go process has many threads
// and Linux keeps nice, affinity and scheduling policy per thread, so:
//
//   - nice and affinity go on every thread that exists when ApplyProcess
//     runs; threads the runtime creates later are cloned from one of them
//     and inherit both, so the whole process keeps them.
//   - SCHED_RR goes only on the threads that must win the CPU to keep
//     advert timing: the scheduler's and the sender's goroutines, which hold
//     runtime.LockOSThread and call EnterRealtime on themselves. The GC,
//     netlink, metrics and the control socket stay SCHED_OTHER so that a bug
//     in them cannot starve the host. EnterRealtime sets
//     SCHED_RESET_ON_FORK, as keepalived does: a thread the runtime clones
//     from an RT thread, and any notify script forked from one, start at
//     SCHED_OTHER instead of inheriting the real-time policy.
//   - RLIMIT_RTTIME is the runaway brake, as in keepalived: an RT thread
//     that runs longer than the limit without blocking gets SIGXCPU at the
//     soft limit (half the configured value, keepalived's choice) and
//     SIGKILL at the hard limit. Go's runtime does not act on SIGXCPU unless
//     signal.Notify asks for it, so the effective brake is the SIGKILL; the
//     service manager restarts the daemon and the peers take over meanwhile,
//     which is better than a host frozen by a spinning RT thread. The limit
//     counts per thread and only while it is real-time, so SCHED_OTHER
//     threads are not affected.
package procsched

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// DefaultRLimitRTTimeMicros is keepalived's vrrp_rlimit_rttime default
// (keepalived.conf(5): 10000 µs).
const DefaultRLimitRTTimeMicros = 10000

// Config is the four keywords' values.
type Config struct {
	// Nice is vrrp_priority, -20..19, applied when NiceSet.
	Nice    int
	NiceSet bool
	// RTPriority is vrrp_rt_priority, 1..99; 0 means no real-time policy.
	RTPriority int
	// RLimitRTTimeMicros is vrrp_rlimit_rttime in µs (>= 2); 0 means
	// keepalived's default when RTPriority is set. keepalived sets the
	// limit only together with a real-time priority, and so does this.
	RLimitRTTimeMicros uint64
	// CPUs is vrrp_cpu_affinity; empty leaves affinity alone.
	CPUs []int
}

// Validate checks the ranges keepalived.conf(5) gives.
func (c Config) Validate() error {
	var errs []error
	if c.NiceSet && (c.Nice < -20 || c.Nice > 19) {
		errs = append(errs, fmt.Errorf("vrrp_priority %d: want -20..19", c.Nice))
	}
	if c.RTPriority < 0 || c.RTPriority > 99 {
		errs = append(errs, fmt.Errorf("vrrp_rt_priority %d: want 1..99", c.RTPriority))
	}
	if c.RLimitRTTimeMicros == 1 {
		errs = append(errs, fmt.Errorf("vrrp_rlimit_rttime 1: want >= 2"))
	}
	for _, cpu := range c.CPUs {
		if cpu < 0 || cpu >= 1024 {
			errs = append(errs, fmt.Errorf("vrrp_cpu_affinity %d: not a CPU number", cpu))
		}
	}
	return errors.Join(errs...)
}

func (c Config) rttime() uint64 {
	if c.RLimitRTTimeMicros != 0 {
		return c.RLimitRTTimeMicros
	}
	return DefaultRLimitRTTimeMicros
}

// threads lists the process's thread ids.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// ApplyProcess sets nice and CPU affinity on every thread of the process and,
// with a real-time priority configured, RLIMIT_RTTIME (soft half, hard the
// limit, as keepalived). Call it early in main, before the scheduler and
// sender start, so every later thread inherits from a configured one. A
// thread that exits between listing and setting is skipped.
func ApplyProcess(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	var set unix.CPUSet
	for _, cpu := range c.CPUs {
		set.Set(cpu)
	}
	tids, err := threads()
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, tid := range tids {
		if c.NiceSet {
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, c.Nice); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("vrrp_priority %d on thread %d: %w", c.Nice, tid, err)
			}
		}
		if len(c.CPUs) > 0 {
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("vrrp_cpu_affinity %v on thread %d: %w", c.CPUs, tid, err)
			}
		}
	}
	if c.RTPriority > 0 {
		lim := c.rttime()
		if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &unix.Rlimit{Cur: lim / 2, Max: lim}); err != nil {
			return fmt.Errorf("vrrp_rlimit_rttime %d: %w", lim, err)
		}
	}
	return nil
}

// EnterRealtime puts the calling OS thread on SCHED_RR at c.RTPriority with
// SCHED_RESET_ON_FORK. The caller must hold runtime.LockOSThread for as long
// as the goroutine should stay real-time, and should call LeaveRealtime before
// unlocking (a thread returned to the runtime would carry the policy to
// whatever goroutine runs on it next). No-op when RTPriority is 0.
func EnterRealtime(c Config) error { return SetRealtime(0, c) }

// SetRealtime is EnterRealtime for thread tid of this process (0: the
// calling thread), for a reload that raises the scheduler thread's priority.
func SetRealtime(tid int, c Config) error {
	if c.RTPriority == 0 {
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_RR, Flags: unix.SCHED_FLAG_RESET_ON_FORK, Priority: uint32(c.RTPriority)}, 0); err != nil {
		return fmt.Errorf("vrrp_rt_priority %d (SCHED_RR): %w", c.RTPriority, err)
	}
	return nil
}

// LeaveRealtime returns the calling OS thread to SCHED_OTHER, keeping the
// nice value it had.
func LeaveRealtime() error { return ClearRealtime(0) }

// ClearRealtime is LeaveRealtime for thread tid of this process (0: the
// calling thread).
func ClearRealtime(tid int) error {
	// sched_getattr reports no nice for an RT thread; the raw getpriority
	// returns 20-nice from the static priority, which RT leaves alone.
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: int32(20 - p)}, 0)
}

// Reload is keepalived's restore_priority and set_process_cpu_affinity on a
// reload (vrrp_daemon.c start_vrrp with a previous configuration), for a
// process that applied old at start and runs its real-time thread, if any,
// as rtTID at rtPrio (0: none):
//
//   - vrrp_priority: a changed value is set on every thread; removed, the
//     nice value goes back to 0 (keepalived sets process_priority, 0 when
//     unset).
//   - vrrp_cpu_affinity: set on every thread when the new file gives one;
//     an empty list leaves the affinity as it is.
//   - vrrp_rt_priority: removed, the thread returns to SCHED_OTHER (RLIMIT_RTTIME
//     stays: it counts only real-time threads, and raising a hard limit
//     needs CAP_SYS_RESOURCE, which a confined xvrrpd lacks — keepalived's
//     attempt to restore it fails the same way); higher, it is raised; lower, it is
//     kept (keepalived only raises a running real-time priority). Given
//     when none ran, rtTID is 0 and the caller reports that the new
//     setting needs a restart: only a scheduler started in thread mode has
//     a thread to raise.
//
// It returns the real-time priority now in force.
func Reload(old, next Config, rtTID, rtPrio int) (int, error) {
	if err := next.Validate(); err != nil {
		return rtPrio, err
	}
	var errs []error
	oldNice, nextNice := 0, 0
	if old.NiceSet {
		oldNice = old.Nice
	}
	if next.NiceSet {
		nextNice = next.Nice
	}
	perThread := Config{Nice: nextNice, NiceSet: oldNice != nextNice, CPUs: next.CPUs}
	if perThread.NiceSet || len(perThread.CPUs) > 0 {
		if err := ApplyProcess(perThread); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case rtTID == 0:
	case next.RTPriority == 0 && rtPrio > 0:
		if err := ClearRealtime(rtTID); err != nil {
			errs = append(errs, fmt.Errorf("vrrp_rt_priority removed (SCHED_OTHER): %w", err))
		} else {
			rtPrio = 0
		}
	case next.RTPriority > 0:
		want := max(next.RTPriority, rtPrio)
		c := next
		c.RTPriority = want
		if err := SetRealtime(rtTID, c); err != nil {
			errs = append(errs, err)
		} else {
			rtPrio = want
			lim := c.rttime()
			if err := unix.Setrlimit(unix.RLIMIT_RTTIME, &unix.Rlimit{Cur: lim / 2, Max: lim}); err != nil {
				errs = append(errs, fmt.Errorf("vrrp_rlimit_rttime %d: %w", lim, err))
			}
		}
	}
	return rtPrio, errors.Join(errs...)
}
