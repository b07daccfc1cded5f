package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// MachineCPU is a reading of the whole machine's CPU counters (/proc/stat
// "cpu" line, in ticks), to tell how busy the shared machine was during a
// measurement: other people's work starves both daemons alike.
type MachineCPU struct{ busy, total float64 }

// ReadMachineCPU reads /proc/stat.
func ReadMachineCPU() (MachineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("unexpected /proc/stat first line %q", line)
	}
	var m MachineCPU
	for i, s := range f[1:] {
		v, _ := strconv.ParseFloat(s, 64)
		m.total += v
		// proc(5): user nice system idle iowait irq softirq steal ...;
		// idle and iowait are not busy. guest and guest_nice are already
		// inside user and nice, so they are not added twice.
		if i >= 8 {
			m.total -= v
			continue
		}
		if i != 3 && i != 4 {
			m.busy += v
		}
	}
	return m, nil
}

// BusyCores is how many cores were busy on average between m0 and m, in
// percent of one core (200 = both cores of a 2-core machine).
func (m MachineCPU) BusyCores(m0 MachineCPU) float64 {
	dt := m.total - m0.total
	if dt <= 0 {
		return 0
	}
	return 100 * float64(runtime.NumCPU()) * (m.busy - m0.busy) / dt
}
