// Package procstat reads the whole machine's CPU times from /proc/stat's
// "cpu" line (proc(5): user nice system idle iowait irq softirq steal ...,
// in USER_HZ ticks). The daemon's late-timer report and the benchmark's
// machine figures read the same line through it.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPU is the machine's CPU time, summed over all CPUs, since boot.
type CPU struct {
	Idle   time.Duration
	IOWait time.Duration
	// Steal is the time this machine's vCPUs wanted to run while the
	// hypervisor ran something else.
	Steal time.Duration
}

// tick is USER_HZ's period: USER_HZ is 100 on every Linux architecture's
// user ABI.
const tick = 10 * time.Millisecond

// Read reads /proc/stat.
func Read() (CPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPU{}, err
	}
	return Parse(string(b))
}

// Parse reads the "cpu" line, the first of /proc/stat.
func Parse(stat string) (CPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return CPU{}, fmt.Errorf("/proc/stat: no cpu line with a steal column in %q", line)
	}
	var v [3]time.Duration
	for i, col := range []int{4, 5, 8} { // idle, iowait, steal
		ticks, err := strconv.ParseUint(f[col], 10, 64)
		if err != nil {
			return CPU{}, fmt.Errorf("/proc/stat: cpu column %d %q: %v", col, f[col], err)
		}
		v[i] = time.Duration(ticks) * tick
	}
	return CPU{Idle: v[0], IOWait: v[1], Steal: v[2]}, nil
}

// StealShare is the share (0..1) of the machine's CPU time, all cpus
// together, that stolen is over wall; 0 when it cannot be told.
func StealShare(stolen, wall time.Duration, cpus int) float64 {
	if wall <= 0 || cpus <= 0 || stolen < 0 {
		return 0
	}
	return min(float64(stolen)/float64(wall)/float64(cpus), 1)
}
