package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// MachineCPU is a reading of how long the whole machine's CPUs have been
// idle, to tell how busy the shared machine was during a measurement:
// other people's work starves both daemons alike.
//
// Busy time is taken as wall time × CPUs minus idle, not from /proc/stat's
// user/system/softirq columns: those are sampled by the scheduler tick
// (HZ=250 here), and a daemon whose timers fire just after each tick runs
// between samples and is missed — a 20 ms advert interval is a multiple of
// the 4 ms tick, and the busy columns read lower than the daemon's own
// /proc/<pid>/stat figure, which the scheduler measures exactly. With
// NO_HZ_IDLE, /proc/stat's idle and iowait come from the nohz idle clock
// (fs/proc/stat.c get_idle_time), which is exact.
type MachineCPU struct {
	idle float64 // idle + iowait, in USER_HZ ticks
	at   time.Time
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	m, err := parseProcStat(string(b))
	m.at = time.Now()
	return m, err
}

// parseProcStat reads idle and iowait from /proc/stat's "cpu" line (proc(5):
// user nice system idle iowait irq softirq steal ...).
func parseProcStat(s string) (MachineCPU, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("unexpected /proc/stat first line %q", line)
	}
	var m MachineCPU
	for _, s := range f[4:6] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("unexpected /proc/stat first line %q: %v", line, err)
		}
		m.idle += v
	}
	return m, nil
}

// BusyCores is how many cores were busy on average between m0 and m, in
// percent of one core (200 = both cores of a 2-core machine).
func (m MachineCPU) BusyCores(m0 MachineCPU) float64 {
	return busyCores(m.at.Sub(m0.at), m.idle-m0.idle, runtime.NumCPU())
}

func busyCores(wall time.Duration, idleTicks float64, cpus int) float64 {
	if wall <= 0 {
		return 0
	}
	busy := float64(cpus) - idleTicks/clockTicks/wall.Seconds()
	return 100 * min(max(busy, 0), float64(cpus))
}
