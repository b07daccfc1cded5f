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

// StealWatch samples the hypervisor's steal time (/proc/stat) every 100 ms
// during a measurement: a VM whose vCPUs are not run stalls every process in
// it at once, both daemons of the lab included, and a stall of half a
// Master_Down_Interval is a takeover whatever the daemon. The worst window
// and when it was tell whether a false transition lines up with one.
type StealWatch struct {
	stop chan struct{}
	done chan struct{}

	total      time.Duration // stolen over the whole watch
	wall       time.Duration
	worst      float64 // share of the machine in the worst window
	worstAt    time.Time
	readErrors int
}

const stealWindow = 100 * time.Millisecond

// WatchSteal starts sampling.
func WatchSteal() *StealWatch {
	w := &StealWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *StealWatch) run() {
	defer close(w.done)
	t := time.NewTicker(stealWindow)
	defer t.Stop()
	start := time.Now()
	first, err := readSteal()
	if err != nil {
		w.readErrors++
		return
	}
	prev, prevAt := first, start
	for {
		select {
		case <-w.stop:
			if s, err := readSteal(); err == nil {
				w.total, w.wall = s-first, time.Since(start)
			}
			return
		case now := <-t.C:
			s, err := readSteal()
			if err != nil {
				w.readErrors++
				continue
			}
			if share := stealShare(s-prev, now.Sub(prevAt), runtime.NumCPU()); share > w.worst {
				w.worst, w.worstAt = share, now
			}
			prev, prevAt = s, now
		}
	}
}

// Stop ends the watch and returns the share of the machine's CPU time
// stolen over it and in its worst 100 ms window (0..1), and that window's
// end.
func (w *StealWatch) Stop() (total, worst float64, worstAt time.Time) {
	close(w.stop)
	<-w.done
	return stealShare(w.total, w.wall, runtime.NumCPU()), w.worst, w.worstAt
}

func stealShare(stolen, wall time.Duration, cpus int) float64 {
	if wall <= 0 || cpus <= 0 || stolen < 0 {
		return 0
	}
	return min(float64(stolen)/float64(wall)/float64(cpus), 1)
}

func readSteal() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseSteal(string(b))
}

// parseSteal reads the steal column of /proc/stat's "cpu" line, in USER_HZ
// ticks.
func parseSteal(s string) (time.Duration, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("no steal column in /proc/stat's first line %q", line)
	}
	v, err := strconv.ParseUint(f[8], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/stat steal %q: %v", f[8], err)
	}
	return time.Duration(v) * time.Second / clockTicks, nil
}
