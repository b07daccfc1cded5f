package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/test/lab"
)

// A process that is not root, a kernel without what XDP needs, an
// interface that does not exist: a one-line error that says what to do, exit
// non-zero, nothing left on the host. These tests run xvrrpd as a one-shot
// command in a lab namespace and check the exit, its output and what it left.

// oneShot is the outcome of running xvrrpd once to its exit.
type oneShot struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// failPaths are the host paths handed to a daemon expected to fail: each is
// given explicitly, so "nothing left" can be checked path by path.
type failPaths struct {
	dir     string // the test's own directory: the config and nothing else
	conf    string
	pinDir  string
	socket  string
	pidFile string
	ready   string
}

// newFailPaths makes a world-writable (sticky, like /tmp) directory outside
// /tmp holding conf, so that a daemon running as any user could leave a pid
// file or socket there if it went further than it should. pinDir is where
// pins would go: inside dir, or on bpffs when onBPFFS is set (a root daemon
// that got as far as loading XDP would create it there).
func newFailPaths(t *testing.T, h *lab.Host, conf string, onBPFFS bool) failPaths {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "xvrrp-e2e-fail")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil { // os.Chmod drops a raw 0o1000
		t.Fatal(err)
	}
	p := failPaths{dir: dir, conf: filepath.Join(dir, "keepalived.conf"),
		pinDir: filepath.Join(dir, "pins"), socket: filepath.Join(dir, "xvrrpd.sock"),
		pidFile: filepath.Join(dir, "xvrrpd.pid"), ready: filepath.Join(dir, "ready")}
	if onBPFFS {
		p.pinDir = "/sys/fs/bpf/xvrrp-" + h.Name
		t.Cleanup(func() { os.RemoveAll(p.pinDir) })
	}
	if err := os.WriteFile(p.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p failPaths) args() []string {
	return []string{"-f", p.conf, "--pin-dir", p.pinDir, "--control-socket", p.socket,
		"--pid-file", p.pidFile, "--metrics-address", "", "--ready-file", p.ready}
}

// runOnce runs bin args... inside h's namespace (forked from a thread that
// entered it) with cred, or as root when cred is nil, and waits up to 10 s
// for it to exit.
func runOnce(t *testing.T, h *lab.Host, bin string, args []string, cred *syscall.Credential) oneShot {
	t.Helper()
	var res oneShot
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var runErr error
	err := h.Do(func() error {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
		start := time.Now()
		runErr = cmd.Run()
		res.took = time.Since(start)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		res.code = 0
	case errors.As(runErr, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	case ctx.Err() != nil:
		t.Fatalf("%s did not exit within 10 s; stderr:\n%s", bin, res.stderr)
	default:
		t.Fatalf("run %s: %v; stderr:\n%s", bin, runErr, res.stderr)
	}
	return res
}

// checkRunOnceInNS checks that runOnce's children run in h's network
// namespace (the root namespace may have an eth0 too): readlink of the
// child's /proc/self/ns/net names the inode of h's /run/netns file.
func checkRunOnceInNS(t *testing.T, h *lab.Host) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+h.Name, &st); err != nil {
		t.Fatal(err)
	}
	res := runOnce(t, h, "/usr/bin/readlink", []string{"/proc/self/ns/net"}, &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}})
	if want := fmt.Sprintf("net:[%d]", st.Ino); strings.TrimSpace(res.stdout) != want {
		t.Fatalf("a child of runOnce is in %q, want %s's %s", res.stdout, h.Name, want)
	}
}

// checkOneLineFailure asserts a non-zero exit, nothing on stdout and exactly
// one line on stderr, and returns that line.
func checkOneLineFailure(t *testing.T, res oneShot) string {
	t.Helper()
	t.Logf("exit %d after %s; stderr: %q", res.code, fmtMs(res.took), res.stderr)
	if res.code == 0 {
		t.Fatalf("exit code 0, want non-zero; stderr:\n%s", res.stderr)
	}
	if res.stdout != "" {
		t.Fatalf("stdout %q, want nothing", res.stdout)
	}
	line := strings.TrimSuffix(res.stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Fatalf("stderr has %d lines, want exactly one:\n%s", strings.Count(line, "\n")+1, res.stderr)
	}
	return line
}

// checkNothingLeft asserts that the daemon left no pin directory, socket,
// pid or ready file, no file at all in the test's directory but the config,
// no XDP program on h's eth0 and no process in h's namespace.
func checkNothingLeft(t *testing.T, h *lab.Host, p failPaths) {
	t.Helper()
	for what, path := range map[string]string{"pin directory": p.pinDir, "control socket": p.socket,
		"pid file": p.pidFile, "ready file": p.ready} {
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s left behind (lstat: %v)", what, path, err)
		}
	}
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{filepath.Base(p.conf)}) {
		t.Errorf("%s holds %v, want only %s", p.dir, names, filepath.Base(p.conf))
	}
	if out := h.IP("-d", "link", "show", "eth0"); strings.Contains(out, "xdp") {
		t.Errorf("XDP attached to eth0 after a failed start:\n%s", out)
	}
	if out := lab.MustRun(t, "ip", "netns", "pids", h.Name); strings.TrimSpace(out) != "" {
		t.Errorf("processes left in %s: %s", h.Name, out)
	}
	if addrs := h.IP("-o", "addr", "show", "dev", "eth0"); strings.Contains(addrs, "198.18.0.100") {
		t.Errorf("VIP 198.18.0.100 added by a failed start:\n%s", addrs)
	}
}

// publicCopy copies xvrrpd to a directory every user can enter (the test
// binary directory is 0700), for running it as another user.
func publicCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "xvrrp-e2e-pub")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xvrrpd")
	copyFile(t, filepath.Join(binDir, "xvrrpd"), bin)
	return bin
}

const failVIPConf = "global_defs {\n    router_id xvrrp_e2e\n}\n" +
	"vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    priority 150\n" +
	"    advert_int 0.1\n    version 3\n    virtual_ipaddress {\n        198.18.0.100/24\n    }\n}\n"

// TestNotRootFailsWithOneLine: xvrrpd started as nobody with a valid
// configuration says in one line to run it as root, exits non-zero and
// leaves nothing behind.
func TestNotRootFailsWithOneLine(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	p := newFailPaths(t, h, failVIPConf, false)
	checkRunOnceInNS(t, h)
	// The configuration itself is fine: as root it checks clean.
	if res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), []string{"-t", "-f", p.conf}, nil); res.code != 0 {
		t.Fatalf("xvrrpd -t on the test's configuration: exit %d, want 0:\n%s%s", res.code, res.stdout, res.stderr)
	}
	bin := publicCopy(t)
	res := runOnce(t, h, bin, p.args(), &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}})
	line := checkOneLineFailure(t, res)
	if !regexp.MustCompile(`\bas root\b`).MatchString(line) {
		t.Errorf("error %q does not say to run xvrrpd as root", line)
	}
	if !strings.HasPrefix(line, "xvrrpd: ") {
		t.Errorf("error %q does not start with the program's name", line)
	}
	checkNothingLeft(t, h, p)
}

// TestMissingInterfaceFailsWithOneLine: an instance on an interface that
// does not exist fails the start with one line naming the interface and the
// file:line of the instance, before anything is touched: the other
// instance's eth0 gets no XDP, no pin directory appears on bpffs.
func TestMissingInterfaceFailsWithOneLine(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	conf := failVIPConf +
		"vrrp_instance VI_2 {\n" +
		"    state BACKUP\n" +
		"    interface nope0\n" +
		"    virtual_router_id 52\n    priority 100\n    advert_int 0.1\n    version 3\n" +
		"    virtual_ipaddress {\n        198.18.0.101/24\n    }\n}\n"
	p := newFailPaths(t, h, conf, true)
	checkRunOnceInNS(t, h)
	instLine, ifLine := lineOf(t, conf, "vrrp_instance VI_2"), lineOf(t, conf, "interface nope0")
	res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), p.args(), nil)
	line := checkOneLineFailure(t, res)
	if !strings.Contains(line, "nope0") {
		t.Errorf("error %q does not name the interface nope0", line)
	}
	// The position: the `interface` line ideally, the instance's at least.
	atIf, atInst := fmt.Sprintf("%s:%d:", p.conf, ifLine), fmt.Sprintf("%s:%d:", p.conf, instLine)
	switch {
	case strings.Contains(line, atIf):
		t.Logf("error names the interface line %s", atIf)
	case strings.Contains(line, atInst):
		t.Logf("error names the vrrp_instance line %s (not the `interface` line %d)", atInst, ifLine)
	default:
		t.Errorf("error %q names neither %s nor %s", line, atIf, atInst)
	}
	if !strings.Contains(line, "interface") || !regexp.MustCompile(`(?i)fix|create|check`).MatchString(line) {
		t.Errorf("error %q does not say what to do", line)
	}
	checkNothingLeft(t, h, p)
}

// TestPinDirNotOnBPFFSFailsWithOneLine: the nearest a namespace test gets
// to "a kernel without what XDP needs": no bpffs where the pins go. One line
// that says to use or mount a bpffs, exit non-zero, nothing left.
func TestPinDirNotOnBPFFSFailsWithOneLine(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	p := newFailPaths(t, h, failVIPConf, false) // pins under /run: tmpfs
	checkRunOnceInNS(t, h)
	res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), p.args(), nil)
	line := checkOneLineFailure(t, res)
	if !strings.Contains(line, p.pinDir) || !strings.Contains(line, "bpffs") || !strings.Contains(line, "/sys/fs/bpf") {
		t.Errorf("error %q does not name %s and say to use a bpffs under /sys/fs/bpf", line, p.pinDir)
	}
	checkNothingLeft(t, h, p)
}

func lineOf(t *testing.T, text, substr string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the configuration", substr)
	return 0
}

// TestPrimaryInterfaceDownIsFaultAndBackRestores: "an interface
// down puts its instances in FAULT unless its VIPs are no_track or the
// instance has dont_track_primary; back up restores them". Host 1 (priority
// 150) is master; one of its interfaces goes down inside its namespace (the
// host's own end, not the bridge port) and comes back.
func TestPrimaryInterfaceDownIsFaultAndBackRestores(t *testing.T) {
	const vipAddr = "198.18.0.100"
	cases := []struct {
		name  string
		down  string // the interface set down on host 1
		extra string // instance lines
		vip2  string // a second VIP line, on veth1 (a veth pair inside host 1), if any
		fault bool
	}{
		{name: "primary", down: "eth0", fault: true},
		{name: "dont_track_primary", down: "eth0", extra: "    dont_track_primary\n"},
		{name: "vip_dev_tracked", down: "veth1", vip2: "198.18.2.100/24 dev veth1", fault: true},
		{name: "vip_dev_no_track", down: "veth1", vip2: "198.18.2.100/24 dev veth1 no_track"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lan := lab.NewLAN(t, 2)
			h1, h2 := lan.Hosts[0], lan.Hosts[1]
			var nodes []*node
			for i, h := range lan.Hosts {
				vips := []string{vipAddr + "/24"}
				if c.vip2 != "" {
					h.IP("link", "add", "veth1", "type", "veth", "peer", "name", "veth1p")
					h.IP("link", "set", "veth1p", "up")
					h.IP("link", "set", "veth1", "up")
					vips = append(vips, c.vip2)
				}
				conf := confOf(inst{name: "VI_1", vrid: 51, prio: []int{150, 100}[i], vips: vips, extra: c.extra})
				nodes = append(nodes, startXvrrpd(t, h, conf, startOpts{}))
			}
			n1, n2 := nodes[0], nodes[1]
			waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)
			if st := n1.instance("VI_1"); st.State != "MASTER" || len(st.FaultReasons) != 0 {
				t.Fatalf("host 1 before the link change: %s %v, want MASTER without fault", st.State, st.FaultReasons)
			}

			down := time.Now()
			h1.IP("link", "set", c.down, "down")
			if c.down == "eth0" {
				// The daemon logs the change of an interface it serves.
				if err := n1.proc.WaitLog(`msg="interface state changed" interface=eth0 up=false`, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			wantReason := "interface " + c.down + " down"
			if c.fault {
				st := waitState(t, n1, "VI_1", "FAULT", 5*time.Second)
				t.Logf("%s down: host 1 in FAULT after %s", c.down, fmtMs(time.Since(down)))
				if !slices.Equal(st.FaultReasons, []string{wantReason}) {
					t.Fatalf("host 1 FAULT reasons %q, want [%q]", st.FaultReasons, wantReason)
				}
				if tr := st.Transitions[len(st.Transitions)-1]; tr.From != "MASTER" || !strings.Contains(tr.Reason, wantReason) {
					t.Fatalf("host 1's last transition %s → %s %q, want MASTER → FAULT because %s", tr.From, tr.To, tr.Reason, wantReason)
				}
				waitHolder(t, lan.Hosts, h2, vipAddr, 5*time.Second)
				if st := n2.instance("VI_1"); st.State != "MASTER" {
					t.Fatalf("host 2 is %s while host 1 is in FAULT, want MASTER", st.State)
				}
				for _, v := range n1.instance("VI_1").VIPs {
					if v.Present {
						t.Fatalf("host 1 in FAULT still holds %s", v.Address)
					}
				}
			} else {
				if c.down == "eth0" {
					// Host 1's adverts stop with its link: host 2 takes over,
					// and host 1, not in FAULT, stays MASTER on its side.
					waitState(t, n2, "VI_1", "MASTER", 5*time.Second)
				} else {
					holdsFor(t, lan.Hosts, h1, vipAddr, time.Second)
				}
				st := n1.instance("VI_1")
				if st.State != "MASTER" || len(st.FaultReasons) != 0 {
					t.Fatalf("host 1 with %s down: %s, fault reasons %q; want MASTER without fault", c.down, st.State, st.FaultReasons)
				}
				if tr := transitionsTo(st, "FAULT"); len(tr) != 0 {
					t.Fatalf("host 1 went to FAULT: %+v", tr)
				}
				if !hasAddr(t, h1, vipAddr) {
					t.Fatalf("host 1 dropped %s though not in FAULT", vipAddr)
				}
			}

			up := time.Now()
			h1.IP("link", "set", c.down, "up")
			waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)
			st := waitState(t, n1, "VI_1", "MASTER", 5*time.Second)
			t.Logf("%s up: host 1 MASTER again and sole holder after %s", c.down, fmtMs(time.Since(up)))
			if len(st.FaultReasons) != 0 {
				t.Fatalf("host 1 back up: fault reasons %q, want none", st.FaultReasons)
			}
			if c.fault {
				// Out of FAULT through BACKUP, then preemption (priority 150
				// over 100) makes it MASTER.
				var path []string
				for _, tr := range st.Transitions[lastTransitionTo(st, "FAULT"):] {
					path = append(path, tr.From+"→"+tr.To)
				}
				if want := []string{"MASTER→FAULT", "FAULT→BACKUP", "BACKUP→MASTER"}; !slices.Equal(path, want) {
					t.Fatalf("host 1 transitions since the fault: %v, want %v\n%+v", path, want, st.Transitions)
				}
				if len(st.VIPs) == 0 || !allPresent(st.VIPs) {
					t.Fatalf("host 1 MASTER again with VIPs %+v, want all present", st.VIPs)
				}
			}
			waitState(t, n2, "VI_1", "BACKUP", 5*time.Second)
		})
	}
}

// waitState waits for instance name on n to be in state and returns its
// status then.
func waitState(t *testing.T, n *node, name, state string, d time.Duration) status.Instance {
	t.Helper()
	var st status.Instance
	err := lab.Eventually(d, func() error {
		st = n.instance(name)
		if st.State != state {
			return fmt.Errorf("%s on %s is %s (%s), want %s", name, n.host.Name, st.State, st.Reason, state)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func transitionsTo(st status.Instance, to string) []status.Transition {
	var out []status.Transition
	for _, tr := range st.Transitions {
		if tr.To == to {
			out = append(out, tr)
		}
	}
	return out
}

// lastTransitionTo is the index of the last transition into state, or 0.
func lastTransitionTo(st status.Instance, to string) int {
	for i := len(st.Transitions) - 1; i >= 0; i-- {
		if st.Transitions[i].To == to {
			return i
		}
	}
	return 0
}

func allPresent(vs []status.VIP) bool {
	for _, v := range vs {
		if !v.Present {
			return false
		}
	}
	return true
}

// TestIPv6VIPSendsUnsolicitedNA: a master of an IPv6 v3 instance announces
// its VIP with unsolicited neighbour advertisements (RFC 4861 §7.2.6, RFC
// 5798 §6.4.2): all-nodes destination, hop limit 255, Solicited clear,
// Override set, the master's MAC in the target link-layer address option,
// from the VIP (as keepalived), a valid checksum, garp_master_repeat of them;
// and so does the backup when it takes over.
func TestIPv6VIPSendsUnsolicitedNA(t *testing.T) {
	const repeat = 3
	for _, v := range variants {
		if !v.v6 {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			lan := lab.NewLAN(t, 2)
			h1, h2 := lan.Hosts[0], lan.Hosts[1]
			a, b, vipAddr := v.pair(lan, 61, 150, 100)
			extra := fmt.Sprintf("    garp_master_repeat %d\n", repeat)
			a.extra, b.extra = extra, extra
			var capts []*lab.Capture
			for _, h := range lan.Hosts {
				c, err := lan.Bridge.StartCapture(h.Port)
				if err != nil {
					t.Fatal(err)
				}
				capts = append(capts, c)
			}
			start := time.Now()
			n1 := startXvrrpd(t, h1, confOf(a), startOpts{})
			n2 := startXvrrpd(t, h2, confOf(b), startOpts{})
			waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)
			// The first master comes up right after its link did (as at
			// boot), while its link-local address may still be tentative.
			if took, err := checkNABurst(t, capts[0], h1, vipAddr, start, repeat); err != nil {
				t.Errorf("first master: %v", err)
			} else {
				t.Logf("first master: %d NAs, the first %s after start", repeat, fmtMs(took))
			}

			// Unicast peers first resolve each other's MACs (neighbour
			// discovery); until then both may claim the VIP. Stop the master
			// once the backup has heard it, so that the takeover is one.
			err := lab.Eventually(10*time.Second, func() error {
				if st := n2.instance("VI_1"); st.State != "BACKUP" || st.AdvertsReceived == 0 {
					return fmt.Errorf("host 2 is %s with %d adverts heard", st.State, st.AdvertsReceived)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			stop := time.Now()
			n1.stop()
			waitHolder(t, lan.Hosts, h2, vipAddr, 5*time.Second)
			took, err := checkNABurst(t, capts[1], h2, vipAddr, stop, repeat)
			if err != nil {
				t.Fatalf("new master after SIGTERM to the first: %v", err)
			}
			t.Logf("after SIGTERM to the master: %d NAs from the new master, the first after %s", repeat, fmtMs(took))
		})
	}
}

// checkNABurst waits for count unsolicited NAs for vipAddr sent by h after
// since, on the capture of h's bridge port, checks every field, and returns
// how long after since the first came.
func checkNABurst(t *testing.T, c *lab.Capture, h *lab.Host, vipAddr string, since time.Time, count int) (time.Duration, error) {
	t.Helper()
	mac, ll := linkAddrs(t, h, "eth0")
	target := ipOf(vipAddr)
	var nas []lab.Frame
	collect := func() {
		nas = nas[:0]
		for _, f := range c.Frames() {
			if !f.At.Before(since) && bytes.Equal(f.Data[6:12], mac) && lab.IsUnsolicitedNA(f.Data, target) {
				nas = append(nas, f)
			}
		}
	}
	err := lab.Eventually(5*time.Second, func() error {
		collect()
		if len(nas) < count {
			return fmt.Errorf("%d unsolicited NAs for %s from %s (%s) on the wire, want %d", len(nas), vipAddr, h.Name, mac, count)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// The burst is garp_master_repeat long and, with no delay or refresh
	// configured, the only one: nothing more comes in the next 500 ms.
	last := nas[len(nas)-1].At
	time.Sleep(time.Until(last.Add(500 * time.Millisecond)))
	collect()
	if len(nas) != count {
		return 0, fmt.Errorf("%d unsolicited NAs for %s from %s, want garp_master_repeat = %d", len(nas), vipAddr, h.Name, count)
	}
	for i, f := range nas {
		if err := checkNA(f.Data, mac, ll, netip.MustParseAddr(vipAddr)); err != nil {
			return 0, fmt.Errorf("NA %d of %d from %s: %v\n% x", i+1, count, h.Name, err, f.Data)
		}
	}
	return nas[0].At.Sub(since), nil
}

// checkNA checks one captured frame against RFC 4861 §4.4 / §7.2.6 for an
// unsolicited NA of target from srcMAC. Its source must be "an address
// assigned to the interface": the interface's link-local linkLocal, or the
// VIP itself, which keepalived uses (vrrp_ndisc.c).
func checkNA(f []byte, srcMAC net.HardwareAddr, linkLocal, target netip.Addr) error {
	if len(f) < 14+40+32 {
		return fmt.Errorf("frame of %d bytes, too short for an NA with a target link-layer option", len(f))
	}
	if dst := net.HardwareAddr(f[0:6]); dst.String() != "33:33:00:00:00:01" {
		return fmt.Errorf("Ethernet destination %s, want 33:33:00:00:00:01 (ff02::1)", dst)
	}
	ip := f[14:]
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if ip[0]>>4 != 6 || ip[6] != 58 || len(ip) < 40+plen {
		return fmt.Errorf("not an IPv6 ICMPv6 packet: version %d next header %d payload %d", ip[0]>>4, ip[6], plen)
	}
	if ip[7] != 255 {
		return fmt.Errorf("hop limit %d, want 255", ip[7])
	}
	ipSrc, _ := netip.AddrFromSlice(ip[8:24])
	ipDst, _ := netip.AddrFromSlice(ip[24:40])
	if ipSrc != linkLocal && ipSrc != target {
		return fmt.Errorf("source %s, want the interface's link-local %s or the VIP %s", ipSrc, linkLocal, target)
	}
	if ipDst != netip.MustParseAddr("ff02::1") {
		return fmt.Errorf("destination %s, want ff02::1", ipDst)
	}
	icmp := ip[40 : 40+plen]
	if icmp[0] != 136 || icmp[1] != 0 {
		return fmt.Errorf("ICMPv6 type %d code %d, want 136 0", icmp[0], icmp[1])
	}
	if flags := icmp[4]; flags&0x40 != 0 || flags&0x20 == 0 {
		return fmt.Errorf("flags %#02x: want Solicited clear and Override set", flags)
	}
	if got, _ := netip.AddrFromSlice(icmp[8:24]); got != target {
		return fmt.Errorf("target %s, want %s", got, target)
	}
	var tlla net.HardwareAddr
	for opts := icmp[24:]; len(opts) >= 8; {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			return fmt.Errorf("malformed option % x", opts)
		}
		if opts[0] == 2 && l == 8 {
			tlla = net.HardwareAddr(opts[2:8])
		}
		opts = opts[l:]
	}
	if !bytes.Equal(tlla, srcMAC) {
		return fmt.Errorf("target link-layer address %v, want %s", tlla, srcMAC)
	}
	if sum := icmpv6Sum(ip[8:40], icmp); sum != 0xffff {
		return fmt.Errorf("ICMPv6 checksum does not verify (sum %#04x)", sum)
	}
	return nil
}

// icmpv6Sum is the one's-complement sum over the pseudo-header and msg,
// checksum included: 0xffff when the checksum is right.
func icmpv6Sum(addrs, msg []byte) uint16 {
	var s uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			s += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			s += uint32(b[0]) << 8
		}
	}
	add(addrs)
	s += uint32(len(msg)) + 58
	add(msg)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// linkAddrs returns ifname's MAC and IPv6 link-local address on h.
func linkAddrs(t *testing.T, h *lab.Host, ifname string) (net.HardwareAddr, netip.Addr) {
	t.Helper()
	var mac net.HardwareAddr
	var ll netip.Addr
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
					ll = ip
				}
			}
		}
		if !ll.IsValid() {
			return fmt.Errorf("%s on %s has no IPv6 link-local address", ifname, h.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac, ll
}
