package procsched

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
	"golang.org/x/sys/unix"
)

const helperEnv = "XVRRP_PROCSCHED_HELPER"

// TestMain turns the test binary into TestApplyProcess's child when
// helperEnv is set: ApplyProcess changes every thread of a process, which
// must not be the test runner itself.
func TestMain(m *testing.M) {
	if js := os.Getenv(helperEnv); js != "" {
		helper(js)
	}
	os.Exit(m.Run())
}

// helper applies the Config in js, starts locked threads (so that threads
// created after ApplyProcess exist), reports ready and waits for stdin to
// close.
func helper(js string) {
	var c Config
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		os.Exit(2)
	}
	if err := ApplyProcess(c); err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(3)
	}
	block := make(chan struct{})
	started := make(chan struct{})
	for range 4 {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			<-block
		}()
	}
	for range 4 {
		<-started
	}
	os.Stdout.WriteString("ready\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	close(block)
	os.Exit(0)
}

func TestApplyProcess_Keepalived(t *testing.T) {
	lab.RequirePrivileged(t) // negative nice needs CAP_SYS_NICE
	c := Config{Nice: -7, NiceSet: true, RTPriority: 20, RLimitRTTimeMicros: 30000, CPUs: []int{0}}
	js, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+string(js))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	pid := cmd.Process.Pid
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 5 {
		t.Fatalf("helper has %d threads; want the main one plus 4 locked", len(ents))
	}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		// The raw getpriority returns 20-nice.
		if p, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err != nil || 20-p != -7 {
			t.Errorf("VrrpPriority_NiceOnEveryThread_Keepalived: thread %d nice %d (%v), want -7", tid, 20-p, err)
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil || set.Count() != 1 || !set.IsSet(0) {
			t.Errorf("VrrpCPUAffinity_EveryThread_Keepalived: thread %d affinity count %d cpu0 %v (%v)", tid, set.Count(), set.IsSet(0), err)
		}
		if a, err := unix.SchedGetAttr(tid, 0); err != nil || a.Policy != unix.SCHED_NORMAL {
			t.Errorf("VrrpRTPriority_NotProcessWide: thread %d policy %+v (%v), want SCHED_NORMAL", tid, a, err)
		}
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_RTTIME, nil, &lim); err != nil || lim.Cur != 15000 || lim.Max != 30000 {
		t.Errorf("VrrpRlimitRTTime_SoftHalfHardFull_Keepalived: %+v (%v), want cur 15000 max 30000", lim, err)
	}
}

// policyOf reads field 41 (policy) of /proc/PID/stat.
func policyOf(t *testing.T, stat string) string {
	t.Helper()
	rest := stat[strings.LastIndexByte(stat, ')')+2:]
	f := strings.Fields(rest)
	return f[41-3]
}

func TestEnterRealtime_SchedRROnLockedThreadOnly_Keepalived(t *testing.T) {
	lab.RequirePrivileged(t) // SCHED_RR needs CAP_SYS_NICE
	c := Config{RTPriority: 15}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 3); err != nil {
			t.Error(err)
			return
		}
		if err := EnterRealtime(c); err != nil {
			t.Errorf("EnterRealtime: %v", err)
			return
		}
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil || a.Policy != unix.SCHED_RR || a.Priority != 15 || a.Flags&unix.SCHED_FLAG_RESET_ON_FORK == 0 {
			t.Errorf("VrrpRTPriority_SchedRR_Keepalived: %+v (%v), want SCHED_RR 15 with reset-on-fork", a, err)
		}
		// A notify script forked from this thread does not inherit it.
		out, err := exec.Command("cat", "/proc/self/stat").Output()
		if err != nil {
			t.Error(err)
		} else if p := policyOf(t, string(out)); p != "0" {
			t.Errorf("VrrpRTPriority_ResetOnFork_Keepalived: child policy %s, want 0 (SCHED_OTHER)", p)
		}
		if err := LeaveRealtime(); err != nil {
			t.Errorf("LeaveRealtime: %v", err)
		}
		a, err = unix.SchedGetAttr(0, 0)
		if err != nil || a.Policy != unix.SCHED_NORMAL || a.Nice != 3 {
			t.Errorf("LeaveRealtime_BackToOtherKeepsNice: %+v (%v)", a, err)
		}
		_ = unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
	}()
	<-done
	// Other threads were never touched.
	if a, err := unix.SchedGetAttr(0, 0); err != nil || a.Policy != unix.SCHED_NORMAL {
		t.Errorf("VrrpRTPriority_OtherThreadsUntouched: %+v (%v)", a, err)
	}
}

func TestConfigValidate_KeepalivedRanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		ok   bool
	}{
		{"VrrpPriority_Minus20", Config{Nice: -20, NiceSet: true}, true},
		{"VrrpPriority_20Rejected", Config{Nice: 20, NiceSet: true}, false},
		{"VrrpRTPriority_99", Config{RTPriority: 99}, true},
		{"VrrpRTPriority_100Rejected", Config{RTPriority: 100}, false},
		{"VrrpRlimitRTTime_1Rejected", Config{RTPriority: 1, RLimitRTTimeMicros: 1}, false},
		{"VrrpCPUAffinity_NegativeRejected", Config{CPUs: []int{-1}}, false},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if got := (Config{RTPriority: 1}).rttime(); got != DefaultRLimitRTTimeMicros {
		t.Errorf("VrrpRlimitRTTime_Default10000_Keepalived: %d", got)
	}
}
