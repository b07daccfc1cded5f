// Command xvrrp-bench runs xvrrpd and keepalived side by side in network
// namespaces it creates (`make bench`) and prints the comparison:
// scenario, metric, xvrrpd, keepalived, ratio; it also writes the table as
// Markdown and CSV and draws PNG charts. Run as root; everything it creates
// is deleted on exit, including on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/xvrrp/xvrrp/test/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		cfg        bench.Config
		scenarios  string
		xvrrpdPath string
		daemons    string
	)
	flag.StringVar(&daemons, "daemons", "xvrrpd,keepalived", "daemons to compare (both unless narrowed, e.g. to keepalived)")
	flag.StringVar(&xvrrpdPath, "xvrrpd", "bin/xvrrpd", "xvrrpd binary under test")
	flag.StringVar(&cfg.FloodBin, "flood", "bin/xvrrp-flood", "flood generator binary (built from test/bench/cmd/xvrrp-flood)")
	flag.StringVar(&scenarios, "scenarios", "density,failover,flood,vips,scale,micro", "comma-separated scenarios to run")
	flag.StringVar(&cfg.ScaleSizes, "scale-sizes", "1020", "scale scenario (startup, reload, RSS): instance counts, as -density-sizes")
	flag.StringVar(&cfg.ScaleInterval, "scale-interval", "1s", "scale scenario: advert interval")
	flag.StringVar(&cfg.VIPsSizes, "vips-sizes", "1000,10000", "vips scenario: addresses the handing-over instance holds")
	flag.StringVar(&cfg.VIPsFamilies, "vips-families", "4,6,mixed", "vips scenario: address families (4, 6, mixed)")
	flag.StringVar(&cfg.VIPsBystanders, "vips-bystanders", "50@100ms", "vips scenario: bystander instances on the same hosts, COUNT@INTERVAL, comma-separated (at most 254)")
	flag.StringVar(&cfg.VIPsExtra, "vips-extra", "10000/4/254@10ms", "vips scenario: cells beyond the matrix, SIZE/FAMILY/COUNT@INTERVAL, comma-separated (\"\": none)")
	flag.DurationVar(&cfg.DensityDuration, "density-duration", 60*time.Second, "measurement time per density cell and daemon")
	flag.StringVar(&cfg.DensityIntervals, "density-intervals", "1s,100ms,20ms,10ms", "advert intervals of the density matrix")
	flag.StringVar(&cfg.DensitySizes, "density-sizes", "255,1020", "instance counts: 255 (one interface) and/or 1020 (4 VLANs × 255)")
	flag.IntVar(&cfg.FailoverReps, "failover-reps", 200, "repetitions of each failover case")
	flag.IntVar(&cfg.FailoverRepsSlow, "failover-reps-slow", 0, "repetitions at intervals ≥ 500ms (0: -failover-reps)")
	flag.StringVar(&cfg.FailoverIntervals, "failover-intervals", "1s,10ms", "advert intervals of the failover scenario")
	flag.StringVar(&cfg.FailoverCases, "failover-cases", "cut,sigterm", "failover cases: cut (the master's link) and/or sigterm")
	flag.DurationVar(&cfg.FloodDuration, "flood-duration", 30*time.Second, "flood time")
	flag.DurationVar(&cfg.FloodIdle, "flood-idle", 10*time.Second, "idle measurement before the flood")
	flag.StringVar(&cfg.MicroBenchtime, "micro-benchtime", "1s", "go test -benchtime of the loader micro-benchmarks")
	flag.StringVar(&cfg.OutDir, "out", "test/bench/results", "directory for results.md, results.csv and the PNG charts")
	var sharedRx bool
	flag.BoolVar(&sharedRx, "shared-rx", false, "leave the lab's veths receiving in the sender's softirq (the kernel's default), which charges each frame's receive on the far side to the sending daemon")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "xvrrp-bench needs root (network namespaces, BPF): run it with sudo")
		return 2
	}
	tools := bench.Tools{Xvrrpd: xvrrpdPath}
	var err error
	if tools.Xvrrpd, err = filepath.Abs(xvrrpdPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if cfg.FloodBin, err = filepath.Abs(cfg.FloodBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if tools.Keepalived, err = exec.LookPath("keepalived"); err != nil {
		fmt.Fprintln(os.Stderr, "keepalived not found: run scripts/install-deps.sh")
		return 2
	}
	cfg.Scenarios = strings.Split(scenarios, ",")
	for _, d := range strings.Split(daemons, ",") {
		switch k := bench.Kind(strings.TrimSpace(d)); k {
		case bench.Xvrrpd, bench.Keepalived:
			cfg.Kinds = append(cfg.Kinds, k)
		default:
			fmt.Fprintf(os.Stderr, "-daemons: unknown daemon %q (xvrrpd or keepalived)\n", d)
			return 2
		}
	}

	lab, err := bench.NewLab()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lab.SharedRx = sharedRx
	// Every exit path below returns through here: the lab's namespaces,
	// daemons, captures and directories go.
	defer lab.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A closed stdout or stderr (| head) must not kill the run before it
	// cleans up: writes fail with EPIPE instead.
	signal.Ignore(syscall.SIGPIPE)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\n%v: stopping and cleaning up (again to force)\n", s)
		cancel()
		<-sigs
		lab.Close()
		os.Exit(130)
	}()

	repo, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r := &bench.Runner{Lab: lab, Tools: tools, Results: bench.NewResults(), Log: os.Stderr, RepoDir: repo}
	runErr := r.RunAll(ctx, cfg)
	interrupted := errors.Is(runErr, context.Canceled)
	if interrupted {
		fmt.Fprintln(os.Stderr, "interrupted: the table below holds what was measured so far")
	}
	fmt.Println()
	r.Results.WriteText(os.Stdout)
	if err := r.Results.WriteFiles(cfg.OutDir); err != nil {
		fmt.Fprintln(os.Stderr, "write results:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "results written to %s\n", cfg.OutDir)
	if interrupted {
		return 130
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "some scenarios failed:", runErr)
		return 1
	}
	return 0
}
