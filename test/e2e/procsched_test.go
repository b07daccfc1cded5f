package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// threadSched is one thread's scheduling as /proc shows it.
type threadSched struct {
	tid, nice, rtPrio, policy int
	cpus                      string // Cpus_allowed_list
}

// threadsOf reads every thread of pid: stat fields 19 (nice), 40
// (rt_priority) and 41 (policy), proc(5), and the allowed CPUs.
func threadsOf(t *testing.T, pid int) []threadSched {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []threadSched
	for _, e := range ents {
		stat, err1 := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		status, err2 := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if err1 != nil || err2 != nil {
			continue // the thread exited
		}
		rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		field := func(n int) int { // proc(5) numbering; rest[0] is field 3
			v, err := strconv.Atoi(rest[n-3])
			if err != nil {
				t.Fatalf("%s stat field %d: %v", e.Name(), n, err)
			}
			return v
		}
		ts := threadSched{nice: field(19), rtPrio: field(40), policy: field(41)}
		ts.tid, _ = strconv.Atoi(e.Name())
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				ts.cpus = strings.TrimSpace(v)
			}
		}
		out = append(out, ts)
	}
	return out
}

// checkThreads requires every thread at nice and on cpus, and exactly
// one thread in SCHED_RR at rtPrio (none when rtPrio is 0), the others in
// SCHED_OTHER.
func checkThreads(pid, nice, rtPrio int, cpus string) func(t *testing.T) error {
	return func(t *testing.T) error {
		const schedOther, schedRR = 0, 2
		ths := threadsOf(t, pid)
		rr := 0
		for _, th := range ths {
			if th.nice != nice || th.cpus != cpus {
				return fmt.Errorf("thread %d: nice %d on CPUs %q, want nice %d on %q", th.tid, th.nice, th.cpus, nice, cpus)
			}
			switch th.policy {
			case schedRR:
				rr++
				if th.rtPrio != rtPrio {
					return fmt.Errorf("thread %d: SCHED_RR at %d, want %d", th.tid, th.rtPrio, rtPrio)
				}
			case schedOther:
			default:
				return fmt.Errorf("thread %d: policy %d, want SCHED_OTHER or SCHED_RR", th.tid, th.policy)
			}
		}
		want := 0
		if rtPrio > 0 {
			want = 1
		}
		if rr != want || len(ths) < 2 {
			return fmt.Errorf("%d of %d threads in SCHED_RR, want %d", rr, len(ths), want)
		}
		return nil
	}
}

// keepalived.conf(5) vrrp_priority, vrrp_rt_priority, vrrp_cpu_affinity,
// vrrp_rlimit_rttime; lib/process.c restore_priority on reload. xvrrpd
// runs only its scheduler thread (the timers and timed adverts) in
// SCHED_RR; nice and affinity are on every thread. A reload applies a
// changed nice and affinity to every thread, raises the real-time
// priority, and a reload without vrrp_rt_priority returns the thread to
// SCHED_OTHER.
func TestProcessSchedulingAppliedAndReloaded_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	conf := func(global string) string {
		return strings.Replace(confOf(inst{name: "VI_1", vrid: 91, prio: 150, state: "MASTER", vips: []string{"198.18.0.100/24"}}),
			"global_defs {\n", "global_defs {\n"+global, 1)
	}
	n := startXvrrpd(t, h, conf("    vrrp_priority -5\n    vrrp_rt_priority 10\n    vrrp_rlimit_rttime 50000\n    vrrp_cpu_affinity 1\n"), startOpts{})
	waitHolder(t, lan.Hosts, h, "198.18.0.100", 10*time.Second)
	b, err := os.ReadFile(filepath.Join(n.dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	rttime := func() string {
		lim, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(lim), "\n") {
			if strings.HasPrefix(l, "Max realtime timeout") {
				return strings.Join(strings.Fields(l)[3:5], " ")
			}
		}
		t.Fatal("no realtime timeout in limits")
		return ""
	}
	eventually := func(what string, cond func(*testing.T) error) {
		t.Helper()
		if err := lab.Eventually(5*time.Second, func() error { return cond(t) }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eventually("at start", checkThreads(pid, -5, 10, "1"))
	if got := rttime(); got != "25000 50000" {
		t.Fatalf("RLIMIT_RTTIME soft/hard %q, want 25000 50000", got)
	}

	reload := func(global string) {
		t.Helper()
		if err := os.WriteFile(n.conf, []byte(conf(global)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := n.ctl("reload"); code != 0 {
			t.Fatalf("reload: exit %d\n%s", code, out)
		}
	}
	reload("    vrrp_priority -10\n    vrrp_rt_priority 20\n    vrrp_cpu_affinity 0\n")
	eventually("after a reload raising them", checkThreads(pid, -10, 20, "0"))
	if got := rttime(); got != "5000 10000" {
		t.Fatalf("RLIMIT_RTTIME soft/hard after the reload %q, want keepalived's default 5000 10000", got)
	}
	// keepalived keeps a running real-time priority a reload lowers, and
	// leaves the affinity alone when the new file gives none.
	reload("    vrrp_priority -10\n    vrrp_rt_priority 5\n")
	eventually("after a reload lowering the real-time priority", checkThreads(pid, -10, 20, "0"))
	reload("")
	eventually("after a reload removing them", checkThreads(pid, 0, 0, "0"))
	if st := n.instance("VI_1"); st.State != "MASTER" {
		t.Fatalf("instance after the reloads: %s, want MASTER", st.State)
	}
}
