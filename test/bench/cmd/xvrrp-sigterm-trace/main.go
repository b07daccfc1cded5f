// Command xvrrp-sigterm-trace records the kernel's scheduling and packet
// events during a SIGTERM failover benchmark and splits each repetition into
// its shares, to tell which process or thread a slow repetition waited for.
//
//	xvrrp-sigterm-trace record -o sigterm.trace -- bin/xvrrp-bench -scenarios failover \
//	    -failover-cases sigterm -failover-intervals 1s -failover-reps 200 -daemons xvrrpd
//	xvrrp-sigterm-trace split -over 613ms sigterm.trace
//
// record uses its own ftrace instance (/sys/kernel/tracing/instances/xvrrp-sigterm),
// removed on exit; the host's own tracing is left alone. The events: every
// sched_switch and sched_waking, signal generation and delivery, each frame
// sent (net_dev_xmit) and received (netif_receive_skb), and xvrrpd's
// epoll_pwait/futex/nanosleep calls.
//
// split finds each SIGTERM the benchmark sent to an xvrrpd (the master) and
// reports, per repetition, in ms: signal → delivery; signal → the master's
// priority-0 advert leaving its eth0; that advert → received on the master's
// bridge port (-port) and on the backup's eth0; the backup's receive → its
// own first advert as master (Skew_Time and the timer's lateness) → its
// gratuitous ARP. The backup is the xvrrpd seen in most events. For each
// repetition whose GARP came later than -over after the signal, it prints
// what each CPU ran during every share.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xvrrp/xvrrp/test/bench"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "record":
		err = record(os.Args[2:])
	case "split":
		err = split(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xvrrp-sigterm-trace:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: xvrrp-sigterm-trace record -o FILE -- COMMAND...\n       xvrrp-sigterm-trace split [-over 613ms] [-port p1] FILE")
	os.Exit(2)
}

const instance = "/sys/kernel/tracing/instances/xvrrp-sigterm"

func record(args []string) error {
	fs := flag.NewFlagSet("record", flag.ExitOnError)
	out := fs.String("o", "sigterm.trace", "where to write the trace (text)")
	bufKB := fs.Int("buffer-kb", 262144, "ring buffer per CPU, KiB (a 200-repetition run at 1 s needs about 200 MiB per CPU)")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		return fmt.Errorf("record: no command to run after --")
	}
	if err := os.Mkdir(instance, 0o755); err != nil {
		return fmt.Errorf("create the ftrace instance %s: %w (run as root with tracefs mounted)", instance, err)
	}
	defer os.Remove(instance)
	w := func(file, val string) error {
		return os.WriteFile(filepath.Join(instance, file), []byte(val), 0o644)
	}
	settings := [][2]string{{"trace_clock", "mono"}, {"buffer_size_kb", strconv.Itoa(*bufKB)}, {"options/record-tgid", "1"}}
	for _, e := range []string{"sched/sched_switch", "sched/sched_waking", "signal/signal_generate", "signal/signal_deliver", "net/net_dev_xmit", "net/netif_receive_skb"} {
		settings = append(settings, [2]string{"events/" + e + "/enable", "1"})
	}
	for _, e := range []string{"sys_enter_epoll_pwait", "sys_exit_epoll_pwait", "sys_enter_futex", "sys_exit_futex", "sys_enter_nanosleep", "sys_exit_nanosleep"} {
		settings = append(settings, [2]string{"events/syscalls/" + e + "/filter", `comm == "xvrrpd"`}, [2]string{"events/syscalls/" + e + "/enable", "1"})
	}
	for _, s := range settings {
		if err := w(s[0], s[1]); err != nil {
			return err
		}
	}
	defer func() { _ = w("events/enable", "0") }() // frees nothing by itself; the rmdir does
	if err := w("tracing_on", "1"); err != nil {
		return err
	}
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	runErr := cmd.Run()
	_ = w("tracing_on", "0")
	in, err := os.Open(filepath.Join(instance, "trace"))
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if _, err := bufio.NewReaderSize(in, 1<<20).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "trace written to %s; split it with: xvrrp-sigterm-trace split %s\n", *out, *out)
	return runErr
}

// event is one line of the trace.
type event struct {
	at        float64 // seconds, CLOCK_MONOTONIC
	name      string
	pid, cpu  int
	tgid      string
	comm, arg string
}

var (
	lineRE = regexp.MustCompile(`^\s*(.+?)-(\d+)\s+\(\s*([\d-]+)\)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\w+):\s*(.*)$`)
	kvRE   = regexp.MustCompile(`(\w+)=(\S+)`)
)

func kv(s string) map[string]string {
	m := map[string]string{}
	for _, p := range kvRE.FindAllStringSubmatch(s, -1) {
		m[p[1]] = p[2]
	}
	return m
}

func parse(path string) ([]event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var evs []event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[2])
		cpu, _ := strconv.Atoi(m[4])
		at, _ := strconv.ParseFloat(m[5], 64)
		evs = append(evs, event{at: at, name: m[6], pid: pid, cpu: cpu, tgid: m[3], comm: m[1], arg: m[7]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("%s: no events with a tgid column (record with xvrrp-sigterm-trace record)", path)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	return evs, nil
}

type trace struct {
	evs    []event
	tgidOf map[int]string // thread → process, from the events' tgid column
	backup string
	// switches per CPU: when each task started running there.
	sw map[int][]event
}

// first is the first event at or after t (and not after until, if > 0)
// that ok accepts.
func (tr *trace) first(t, until float64, ok func(*event) bool) *event {
	i := sort.Search(len(tr.evs), func(i int) bool { return tr.evs[i].at >= t })
	for ; i < len(tr.evs); i++ {
		e := &tr.evs[i]
		if until > 0 && e.at > until {
			return nil
		}
		if ok(e) {
			return e
		}
	}
	return nil
}

// ran is, per CPU, the milliseconds each task ran between t1 and t2.
func (tr *trace) ran(t1, t2 float64) string {
	var cpus []int
	for c := range tr.sw {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	var b strings.Builder
	for _, c := range cpus {
		v := tr.sw[c]
		i := sort.Search(len(v), func(i int) bool { return v[i].at > t1 }) - 1
		cur := "?"
		if i >= 0 {
			cur = tr.label(v[i].arg)
		}
		use := map[string]float64{}
		t := t1
		for j := i + 1; j < len(v) && v[j].at < t2; j++ {
			use[cur] += v[j].at - t
			t, cur = v[j].at, tr.label(v[j].arg)
		}
		use[cur] += t2 - t
		type u struct {
			comm string
			ms   float64
		}
		var us []u
		for k, x := range use {
			us = append(us, u{k, x * 1e3})
		}
		sort.Slice(us, func(i, j int) bool { return us[i].ms > us[j].ms })
		fmt.Fprintf(&b, " cpu%d:", c)
		for k, x := range us {
			if k == 4 {
				break
			}
			fmt.Fprintf(&b, " %s %.2f", x.comm, x.ms)
		}
	}
	return b.String()
}

// label names the task a sched_switch switched to; xvrrpd's threads say
// which daemon they belong to.
func (tr *trace) label(arg string) string {
	a := kv(arg)
	c := a["next_comm"]
	if c != "xvrrpd" {
		return c
	}
	pid, _ := strconv.Atoi(a["next_pid"])
	if tr.tgidOf[pid] == tr.backup {
		return "xvrrpd(backup)"
	}
	return "xvrrpd(master)"
}

// share names the columns of a repetition, in order.
var shares = []string{"deliver", "tx", "port", "rx", "advert", "garp", "total"}

func split(args []string) error {
	fs := flag.NewFlagSet("split", flag.ExitOnError)
	over := fs.Duration("over", 613*time.Millisecond, "detail the repetitions whose GARP came later than this after the signal")
	port := fs.String("port", "p1", "the master's bridge port (where the benchmark captures its priority 0)")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	evs, err := parse(fs.Arg(0))
	if err != nil {
		return err
	}
	tr := &trace{evs: evs, sw: map[int][]event{}, tgidOf: map[int]string{}}
	seen := map[string]int{}
	for _, e := range evs {
		if e.name == "sched_switch" {
			tr.sw[e.cpu] = append(tr.sw[e.cpu], e)
		}
		if e.comm == "xvrrpd" {
			seen[e.tgid]++
		}
		tr.tgidOf[e.pid] = e.tgid
	}
	backup, most := "", 0
	for t, n := range seen {
		if n > most {
			backup, most = t, n
		}
	}
	tr.backup = backup
	gap := func(a, b *event) time.Duration {
		if a == nil || b == nil {
			return -1
		}
		return time.Duration((b.at - a.at) * 1e9)
	}
	cols := make([][]time.Duration, len(shares))
	fmt.Printf("backup xvrrpd: tgid %s\n%4s", backup, "rep")
	for _, s := range shares {
		fmt.Printf(" %9s", s)
	}
	fmt.Println()
	rep := 0
	// A slow repetition's marks, in the order of markNames (nil: not seen).
	markNames := []string{"signal", "deliver", "tx", "port", "rx", "advert", "garp"}
	type detail struct {
		rep   int
		marks []*event
	}
	var slow []detail
	for i := range evs {
		sig := &evs[i]
		if sig.name != "signal_generate" || !strings.HasPrefix(sig.comm, "xvrrp-bench") || !strings.Contains(sig.arg, "sig=15 ") {
			continue
		}
		a := kv(sig.arg)
		master := a["pid"]
		if a["comm"] != "xvrrpd" || master == backup {
			continue
		}
		end := sig.at + 0.1 // the master's and the network's shares are milliseconds
		dl := tr.first(sig.at, end, func(e *event) bool {
			return e.name == "signal_deliver" && e.tgid == master && strings.Contains(e.arg, "sig=15 ")
		})
		tx := tr.first(sig.at, end, func(e *event) bool {
			return e.name == "net_dev_xmit" && e.tgid == master && strings.Contains(e.arg, "dev=eth0 ")
		})
		if tx == nil {
			rep++
			continue
		}
		pt := tr.first(tx.at, end, func(e *event) bool {
			return e.name == "netif_receive_skb" && strings.Contains(e.arg, "dev="+*port+" ")
		})
		rx := tr.first(tx.at, end, func(e *event) bool {
			return e.name == "netif_receive_skb" && strings.Contains(e.arg, "dev=eth0 ")
		})
		var adv, garp *event
		if rx != nil {
			adv = tr.first(rx.at+0.001, rx.at+2, func(e *event) bool {
				return e.name == "net_dev_xmit" && e.tgid == backup && kv(e.arg)["len"] != "42"
			})
			garp = tr.first(rx.at+0.001, rx.at+2, func(e *event) bool {
				return e.name == "net_dev_xmit" && e.tgid == backup && kv(e.arg)["len"] == "42"
			})
		}
		row := []time.Duration{gap(sig, dl), gap(sig, tx), gap(tx, pt), gap(tx, rx), gap(rx, adv), gap(adv, garp), gap(sig, garp)}
		fmt.Printf("%4d", rep)
		for k, d := range row {
			if d < 0 {
				fmt.Printf(" %9s", "-")
				continue
			}
			// The summary counts takeovers only: the benchmark's last
			// SIGTERM, at its teardown, has none.
			if row[len(row)-1] >= 0 {
				cols[k] = append(cols[k], d)
			}
			fmt.Printf(" %9.3f", float64(d)/1e6)
		}
		fmt.Println()
		if t := row[len(row)-1]; t < 0 || t > *over {
			slow = append(slow, detail{rep: rep, marks: []*event{sig, dl, tx, pt, rx, adv, garp}})
		}
		rep++
	}
	fmt.Printf("\n%-8s %5s %9s %9s %9s\n", "share", "n", "p50", "p99", "max")
	for k, s := range shares {
		if len(cols[k]) == 0 {
			continue
		}
		sum := bench.Summarize(cols[k])
		fmt.Printf("%-8s %5d %9.3f %9.3f %9.3f\n", s, sum.N, ms3(sum.P50), ms3(sum.P99), ms3(sum.Max))
	}
	for _, d := range slow {
		if d.marks[len(d.marks)-1] == nil {
			fmt.Printf("\nrep %d: no GARP seen (no takeover: the benchmark's teardown, or a trace cut short)\n", d.rep)
		} else {
			fmt.Printf("\nrep %d: GARP later than %v after the signal\n", d.rep, *over)
		}
		var a *event
		from := ""
		for k, b := range d.marks {
			if b == nil {
				continue
			}
			if a != nil {
				start, label := a.at, from
				if b.at-a.at > 0.1 { // the Skew_Time wait: show its last 5 ms
					start, label = b.at-0.005, from+"(last 5 ms)"
				}
				fmt.Printf("  %s → %s %.3f ms; ran:%s\n", label, markNames[k], (b.at-start)*1e3, tr.ran(start, b.at))
			}
			a, from = b, markNames[k]
		}
	}
	return nil
}

func ms3(d time.Duration) float64 { return float64(d) / 1e6 }
