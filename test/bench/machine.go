package bench

import (
	"runtime"
	"time"

	"github.com/xvrrp/xvrrp/control/procstat"
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
	idle time.Duration // idle + iowait, all CPUs
	at   time.Time
}

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	c, err := procstat.Read()
	return machineCPU(c, time.Now()), err
}

// machineCPU counts iowait as idle: a CPU waiting for I/O runs nothing.
func machineCPU(c procstat.CPU, at time.Time) MachineCPU {
	return MachineCPU{idle: c.Idle + c.IOWait, at: at}
}

// BusyCores is how many cores were busy on average between m0 and m, in
// percent of one core (200 = both cores of a 2-core machine).
func (m MachineCPU) BusyCores(m0 MachineCPU) float64 {
	return busyCores(m.at.Sub(m0.at), m.idle-m0.idle, runtime.NumCPU())
}

func busyCores(wall, idle time.Duration, cpus int) float64 {
	if wall <= 0 {
		return 0
	}
	busy := float64(cpus) - idle.Seconds()/wall.Seconds()
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
			if share := procstat.StealShare(s-prev, now.Sub(prevAt), runtime.NumCPU()); share > w.worst {
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
	return procstat.StealShare(w.total, w.wall, runtime.NumCPU()), w.worst, w.worstAt
}

func readSteal() (time.Duration, error) {
	c, err := procstat.Read()
	return c.Steal, err
}
