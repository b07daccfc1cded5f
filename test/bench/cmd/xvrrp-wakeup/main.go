// Command xvrrp-wakeup measures how late an idle Go process on this machine
// wakes: from a timer (the backup's Skew_Time or Master_Down_Interval after
// long idleness) and from a signal (SIGTERM on an idle master). It runs
// nothing else, so it separates the machine's and Go's wake-up cost from
// what happens in the failover lab.
//
//	xvrrp-wakeup -mode timer -iv 609ms -n 150
//	xvrrp-wakeup -mode sched -iv 609ms -n 150   # xvrrpd's scheduler (timerfd)
//	xvrrp-wakeup -mode sched -runtime-timer -iv 609ms -n 150
//	xvrrp-wakeup -mode signal -iv 1s -n 120
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/control/sched"
	"github.com/xvrrp/xvrrp/test/bench"
)

func main() {
	mode := flag.String("mode", "timer", "timer: oversleep of time.Sleep(iv); sched: lateness of xvrrpd's scheduler (control/sched) firing one id iv after it was set; signal: SIGUSR1 to an idle child's handler, one per iv")
	runtimeTimer := flag.Bool("runtime-timer", false, "with -mode sched: the scheduler waits on the Go runtime's timer, not its timerfd")
	iv := flag.Duration("iv", 609*time.Millisecond, "idle time before each wake-up")
	n := flag.Int("n", 200, "samples")
	flag.Parse()
	var err error
	switch *mode {
	case "timer":
		report("timer oversleep @"+iv.String(), timerLateness(*iv, *n))
	case "sched":
		name := "sched (timerfd) @"
		if *runtimeTimer {
			name = "sched (runtime timer) @"
		}
		var lat []time.Duration
		if lat, err = schedLateness(*iv, *n, *runtimeTimer); err == nil {
			report(name+iv.String(), lat)
		}
	case "signal":
		var lat []time.Duration
		if lat, err = signalLatency(*iv, *n); err == nil {
			report("signal to handler @"+iv.String(), lat)
		}
	case "child":
		err = child()
	default:
		err = fmt.Errorf("unknown -mode %q: timer, sched or signal", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xvrrp-wakeup:", err)
		os.Exit(1)
	}
}

func timerLateness(iv time.Duration, n int) []time.Duration {
	late := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		time.Sleep(iv)
		late = append(late, time.Since(t0)-iv)
	}
	return late
}

// schedLateness schedules one id iv ahead, n times in a row, on the
// daemon's scheduler, and returns how late each fired.
func schedLateness(iv time.Duration, n int, runtimeTimer bool) ([]time.Duration, error) {
	fired := make(chan time.Time)
	s, err := sched.New(1, func(_ time.Time, _ []int) { fired <- time.Now() }, sched.Options{RuntimeTimer: runtimeTimer})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	late := make([]time.Duration, 0, n)
	for range n {
		due := time.Now().Add(iv)
		s.Reset(0, due)
		late = append(late, (<-fired).Sub(due))
	}
	return late, nil
}

// monoNow is CLOCK_MONOTONIC, comparable across processes.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// child prints CLOCK_MONOTONIC each time its SIGUSR1 handler runs.
func child() error {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	fmt.Println("ready")
	for range ch {
		fmt.Println(monoNow())
	}
	return nil
}

func signalLatency(iv time.Duration, n int) ([]time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-mode", "child")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		return nil, fmt.Errorf("child did not start")
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		time.Sleep(iv)
		t0 := monoNow()
		if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			return nil, err
		}
		if !lines.Scan() {
			return nil, fmt.Errorf("child stopped answering: %v", lines.Err())
		}
		t1, err := strconv.ParseInt(lines.Text(), 10, 64)
		if err != nil {
			return nil, err
		}
		lat = append(lat, time.Duration(t1-t0))
	}
	return lat, nil
}

// report prints the distribution with the benchmark's percentiles.
func report(name string, d []time.Duration) {
	s := bench.Summarize(d)
	fmt.Printf("%-28s n=%d p50 %v p99 %v max %v\n", name, s.N, s.P50, s.P99, s.Max)
}
