package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/bpf"
	"github.com/xvrrp/xvrrp/test/lab"
)

// Issue 23: what a daemon killed with -9, started twice, failing at start,
// flooded through /metrics or stopped during a reload leaves on the host.

func pinDirOf(h *lab.Host) string { return "/sys/fs/bpf/xvrrp-" + h.Name }

// removePinsAtEnd removes h's pin directory on the host's bpffs after the
// test's daemons are gone (cleanups run last registered first): a daemon
// killed with -9 leaves it, which is what these tests are about.
func removePinsAtEnd(t *testing.T, h *lab.Host) {
	t.Cleanup(func() { os.RemoveAll(pinDirOf(h)) })
}

// restartXvrrpd starts xvrrpd again on h after a kill: the killed run's
// ready file is removed first, so that the wait is for the new run's.
func restartXvrrpd(t *testing.T, h *lab.Host, conf string) *node {
	t.Helper()
	if err := os.Remove(filepath.Join(nodeDir(t, h), "ready")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return startXvrrpd(t, h, conf, startOpts{hostBPFFS: true})
}

// pinnedInstanceVRIDs lists the VRIDs in h's pinned instance table: the
// vrids entries (slot * 512 + VRID * 2 + family) that name a policy, in the
// slots of ifslots.
func pinnedInstanceVRIDs(t *testing.T, h *lab.Host) []int {
	t.Helper()
	load := func(name string) *ebpf.Map {
		m, err := ebpf.LoadPinnedMap(filepath.Join(pinDirOf(h), name), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	ifslots, vrids := load(bpf.XvrrpMapIfslots), load(bpf.XvrrpMapVrids)
	var ifindex, slot uint32
	var out []int
	it := ifslots.Iterate()
	for it.Next(&ifindex, &slot) {
		for key := slot * 512; key < (slot+1)*512; key++ {
			var v bpf.XvrrpXvrrpVrid
			if err := vrids.Lookup(key, &v); err != nil {
				t.Fatal(err)
			}
			if v.Policy != 0 {
				out = append(out, int(key%512/2))
			}
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

var xdpProgID = regexp.MustCompile(`prog/xdp\S* id (\d+)`)

// xdpProg is the id of the XDP program on h's ifname, "" when none.
func xdpProg(h *lab.Host, ifname string) string {
	if m := xdpProgID.FindStringSubmatch(h.IP("-d", "link", "show", ifname)); m != nil {
		return m[1]
	}
	return ""
}

// addInnerVeth gives h a second link pair, veth1 (up) and its peer.
func addInnerVeth(h *lab.Host) {
	h.IP("link", "add", "veth1", "type", "veth", "peer", "name", "veth1p")
	h.IP("link", "set", "veth1p", "up")
	h.IP("link", "set", "veth1", "up")
}

// TestKillNineRestartCleansWhatThePreviousRunLeft_Keepalived: issue 23
// item 2. A master killed with -9 leaves its VIP, its instance table and
// its XDP links; the daemon restarted on the same pin directory removes
// what its configuration no longer owns, as keepalived removes its
// configured VIPs from an instance that does not start as master, and says
// so in one log line.
func TestKillNineRestartCleansWhatThePreviousRunLeft_Keepalived(t *testing.T) {
	const vipAddr = "198.18.0.100"
	cases := []struct {
		name string
		// first and restart are host 1's configurations; host 2 runs
		// VI_1 at priority 100 (and VI_2, vrid 52, at 200 when peerVI2).
		first, restart string
		peerVI2        bool
		// peer, when set, is host 2's configuration and name2 the
		// instance holding vipAddr (VI_1 otherwise).
		peer, name2 string
		veth        bool
		check       func(t *testing.T, lan *lab.LAN, n1 *node)
		logs        []string // in the cleanup line
	}{
		{
			name:    "restarted_as_backup_drops_the_vip",
			first:   confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{vipAddr + "/24"}}),
			restart: confOf(inst{name: "VI_1", vrid: 51, prio: 50, vips: []string{vipAddr + "/24"}}),
			check: func(t *testing.T, lan *lab.LAN, n1 *node) {
				waitState(t, n1, "VI_1", "BACKUP", 5*time.Second)
				// The restarted backup does not hold it a moment later
				// either (the issue saw both holders 6 s after).
				holdsFor(t, lan.Hosts, lan.Hosts[1], vipAddr, 2*time.Second)
			},
			logs: []string{vipAddr + "/24 dev eth0"},
		},
		{
			name: "unconfigured_vrid_leaves_the_instance_table",
			first: confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{vipAddr + "/24"}},
				inst{name: "VI_2", vrid: 52, prio: 100, vips: []string{"198.18.0.101/24"}}),
			restart: confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{vipAddr + "/24"}}),
			peerVI2: true,
			check: func(t *testing.T, lan *lab.LAN, n1 *node) {
				if got := pinnedInstanceVRIDs(t, lan.Hosts[0]); !slices.Equal(got, []int{51}) {
					t.Fatalf("pinned instance table holds VRIDs %v after the restart, want [51]", got)
				}
				// Host 2's VRID 52 adverts are now unknown to host 1's XDP.
				unknown := func() uint64 {
					for _, ifc := range n1.status().Interfaces {
						if ifc.Name == "eth0" {
							return ifc.Counters["unknown_vrid"]
						}
					}
					t.Fatal("no eth0 in the status")
					return 0
				}
				before := unknown()
				err := lab.Eventually(5*time.Second, func() error {
					if got := unknown(); got < before+3 {
						return fmt.Errorf("eth0 unknown_vrid %d, was %d", got, before)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("VRID 52 adverts not counted as unknown VRID: %v", err)
				}
			},
			logs: []string{"vrid 52 ipv4"},
		},
		{
			name: "unconfigured_interface_is_detached",
			first: confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{vipAddr + "/24"}}) +
				"vrrp_instance VI_3 {\n    state BACKUP\n    interface veth1\n    virtual_router_id 53\n    priority 100\n" +
				"    advert_int 0.1\n    version 3\n    virtual_ipaddress {\n        198.18.2.100/24\n    }\n}\n",
			restart: confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{vipAddr + "/24"}}),
			veth:    true,
			check: func(t *testing.T, lan *lab.LAN, n1 *node) {
				h1 := lan.Hosts[0]
				if id := xdpProg(h1, "veth1"); id != "" {
					t.Fatalf("XDP program %s still on veth1, no longer configured", id)
				}
				if _, err := os.Lstat(filepath.Join(pinDirOf(h1), "veth1")); !os.IsNotExist(err) {
					t.Fatalf("veth1's pins left under %s (lstat: %v)", pinDirOf(h1), err)
				}
				if xdpProg(h1, "eth0") == "" {
					t.Fatal("no XDP program on eth0, which is configured")
				}
			},
			logs: []string{"xdp_links=veth1"},
		},
		{
			// The neutron/Octavia shapes of routes_test.go: the killed
			// master's virtual routes and rules (main and table 1, IPv4
			// and IPv6) go with its VIPs when it comes back as BACKUP.
			name:    "restarted_as_backup_drops_its_virtual_routes_and_rules",
			first:   routesConf(150),
			restart: routesConf(50),
			peer:    routesConf(100),
			name2:   "VI_4",
			check: func(t *testing.T, lan *lab.LAN, n1 *node) {
				h1, h2 := lan.Hosts[0], lan.Hosts[1]
				waitState(t, n1, "VI_4", "BACKUP", 5*time.Second)
				waitState(t, n1, "VI_6", "BACKUP", 5*time.Second)
				waitObjects(t, h1, virtualObjects, false, "virtual routes and rules of the restarted backup")
				waitObjects(t, h2, virtualObjects, true, "virtual routes and rules of the new master")
				// static_* are every host's, whatever its state.
				waitObjects(t, h1, staticObjects, true, "static objects of the restarted backup")
				holdsFor(t, lan.Hosts, h2, vipAddr, time.Second)
			},
			logs: []string{"routes=", "198.18.9.0/24 via 198.18.0.1 dev eth0 table 1", "2001:db8:9::/64",
				"rules=", "from 198.18.0.100", "from 2001:db8::100", "vips=", vipAddr + "/24 dev eth0"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lan := lab.NewLAN(t, 2)
			h1, h2 := lan.Hosts[0], lan.Hosts[1]
			removePinsAtEnd(t, h1)
			if c.veth {
				addInnerVeth(h1)
			}
			peer := []inst{{name: "VI_1", vrid: 51, prio: 100, vips: []string{vipAddr + "/24"}}}
			if c.peerVI2 {
				peer = append(peer, inst{name: "VI_2", vrid: 52, prio: 200, vips: []string{"198.18.0.101/24"}})
			}
			peerConf, name := confOf(peer...), "VI_1"
			if c.peer != "" {
				peerConf, name = c.peer, c.name2
			}
			n1 := startXvrrpd(t, h1, c.first, startOpts{hostBPFFS: true})
			n2 := startXvrrpd(t, h2, peerConf, startOpts{})
			waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)
			if c.peer != "" {
				waitHolder(t, lan.Hosts, h1, "2001:db8::100", 10*time.Second)
				waitObjects(t, h1, virtualObjects, true, "virtual routes and rules of the master")
			}

			n1.proc.Kill() // SIGKILL: no shutdown, everything stays
			if !hasAddr(t, h1, vipAddr) {
				t.Fatalf("the killed master's VIP %s is gone already: the test needs it left", vipAddr)
			}
			if c.veth && xdpProg(h1, "veth1") == "" {
				t.Fatal("the killed run left no XDP on veth1: the test needs it left")
			}
			if c.peer != "" {
				// The killed master's routes are what the test is about.
				waitObjects(t, h1, virtualObjects, true, "virtual routes and rules the killed master left")
			}
			waitState(t, n2, name, "MASTER", 5*time.Second)

			n1 = restartXvrrpd(t, h1, c.restart)
			line := ""
			for _, l := range strings.Split(n1.proc.Log(), "\n") {
				if strings.Contains(l, "cleaned what a previous run left") {
					if line != "" {
						t.Fatalf("more than one cleanup line:\n%s\n%s", line, l)
					}
					line = l
				}
			}
			for _, want := range c.logs {
				if !strings.Contains(line, want) {
					t.Fatalf("cleanup line %q does not contain %q", line, want)
				}
			}
			t.Logf("restart logged: %s", line)
			c.check(t, lan, n1)
		})
	}
}

// TestStartFailureBeforeTheHostLeavesNothing: issue 23 item 6. A priority
// 255 configuration (master at once) with a pid file xvrrpd refuses to
// write, or a metrics port another process holds, exits 1 before anything
// touches the host: no VIP, no XDP, no pins, no socket.
func TestStartFailureBeforeTheHostLeavesNothing(t *testing.T) {
	conf := strings.Replace(failVIPConf, "priority 150", "priority 255", 1)
	cases := []struct {
		name  string
		setup func(t *testing.T, h *lab.Host, p *failPaths) []string // extra args
		want  string
	}{
		{
			name: "pid_file_in_a_shared_directory",
			setup: func(t *testing.T, h *lab.Host, p *failPaths) []string {
				dir, err := os.MkdirTemp("/run", "xvrrp-e2e-open")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				if err := os.Chmod(dir, 0o777); err != nil { // writable by all, not sticky
					t.Fatal(err)
				}
				p.pidFile = filepath.Join(dir, "xvrrpd.pid")
				return []string{"--pid-file", p.pidFile}
			},
			want: "pid file",
		},
		{
			name: "metrics_port_taken",
			setup: func(t *testing.T, h *lab.Host, p *failPaths) []string {
				var ln net.Listener
				if err := h.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				return []string{"--metrics-address", ln.Addr().String()}
			},
			want: "metrics listener",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lan := lab.NewLAN(t, 1)
			h := lan.Hosts[0]
			p := newFailPaths(t, h, conf, true)
			args := append(p.args(), c.setup(t, h, &p)...)
			res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), args, nil)
			line := checkOneLineFailure(t, res)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if !strings.Contains(line, c.want) {
				t.Errorf("error %q does not name the %s", line, c.want)
			}
			checkNothingLeft(t, h, p)
		})
	}
}

// TestSecondDaemonRefusesAndTouchesNothing: issue 23 item 6. A second
// xvrrpd started with the running one's flags refuses at once, and the
// first keeps its pid file, its pins, its XDP program and its mastership.
func TestSecondDaemonRefusesAndTouchesNothing(t *testing.T) {
	const vipAddr = "198.18.0.100"
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	removePinsAtEnd(t, h)
	n := startXvrrpd(t, h, confOf(inst{name: "VI_1", vrid: 51, prio: 255, state: "MASTER", vips: []string{vipAddr + "/24"}}), startOpts{hostBPFFS: true})
	waitState(t, n, "VI_1", "MASTER", 5*time.Second)
	progBefore := xdpProg(h, "eth0")
	pidFile := filepath.Join(n.dir, "pid")
	pidBefore, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if progBefore == "" || strings.TrimSpace(string(pidBefore)) != strconv.Itoa(n.proc.Cmd.Process.Pid) {
		t.Fatalf("first daemon: XDP program %q, pid file %q (pid %d)", progBefore, pidBefore, n.proc.Cmd.Process.Pid)
	}
	args := []string{"-f", n.conf, "--pin-dir", pinDirOf(h), "--control-socket", n.socket(), "--pid-file", pidFile,
		"--metrics-address", "", "--ready-file", filepath.Join(n.dir, "ready"), "--log-level", "debug"}
	res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), args, nil)
	line := checkOneLineFailure(t, res)
	if res.code != 1 || !strings.Contains(line, "in use by another running xvrrpd") {
		t.Fatalf("second daemon: exit %d, %q; want exit 1 saying the pin directory is in use", res.code, line)
	}
	if n.proc.Exited() {
		t.Fatal("the first daemon exited")
	}
	if got := xdpProg(h, "eth0"); got != progBefore {
		t.Errorf("XDP program on eth0 is %q, was the first daemon's %s", got, progBefore)
	}
	if got, err := os.ReadFile(pidFile); err != nil || string(got) != string(pidBefore) {
		t.Errorf("pid file now %q (%v), was %q", got, err, pidBefore)
	}
	for _, pin := range []string{bpf.XvrrpMapPolicies, "eth0/link"} {
		if _, err := os.Stat(filepath.Join(pinDirOf(h), pin)); err != nil {
			t.Errorf("the first daemon's pin %s: %v", pin, err)
		}
	}
	if _, err := os.Stat(filepath.Join(n.dir, "ready")); err != nil {
		t.Errorf("the first daemon's ready file: %v", err)
	}
	st := n.instance("VI_1") // the control socket still answers
	if st.State != "MASTER" || !hasAddr(t, h, vipAddr) {
		t.Fatalf("first daemon after the second's attempt: %s, VIP held %v; want MASTER holding it", st.State, hasAddr(t, h, vipAddr))
	}
}

// floodEnv, set in a re-executed test binary, makes it the flood helper
// of TestMetricsConnectionFloodKeepsTheMaster: "addr count".
const floodEnv = "XVRRP_E2E_METRICS_FLOOD"

// metricsFlood opens up to count TCP connections to addr and holds them
// idle until stdin closes, printing "opened N" once it stops opening; then
// it tries as many connections to the control socket at sock, printing
// "control opened M: ERR" (the first error). It raises its own descriptor
// limit to the hard one first, as an attacker would.
func metricsFlood(spec string) int {
	f := strings.Fields(spec)
	addr, sock := f[0], f[2]
	count, _ := strconv.Atoi(f[1])
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		rl.Cur = rl.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		opened atomic.Int64
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fails := 0
			for opened.Load() < int64(count) && fails < 3 && ctx.Err() == nil {
				c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
				if err != nil {
					fails++
					continue
				}
				opened.Add(1)
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("opened %d\n", opened.Load())
	ctlOpened, ctlErr := 0, "none"
	for range count {
		c, err := net.DialTimeout("unix", sock, 2*time.Second)
		if err != nil {
			if ctlErr == "none" {
				ctlErr = err.Error()
			}
			continue
		}
		ctlOpened++
		conns = append(conns, c)
	}
	fmt.Printf("control opened %d: %s\n", ctlOpened, ctlErr)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// TestMetricsConnectionFloodKeepsTheMaster: issue 23 item 7. A local user
// (nobody) opens thousands of idle connections to the metrics port, far
// past the listener's cap (metrics.MaxConns), and tries as many on the
// control socket, which is root's (0600): not one is accepted there. The
// daemon keeps its descriptors for its own work: its track_script keeps
// running (fork, exec, pipes), the master keeps its VIP, xvrrpctl status
// answers, a reload (the file read, the control socket, netlink for the
// instance's new VIP) goes through, and a notify script runs on the
// transition a last reload causes.
func TestMetricsConnectionFloodKeepsTheMaster(t *testing.T) {
	const vipAddr = "198.18.0.100"
	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	dir := nodeDir(t, h1)
	script := filepath.Join(dir, "check.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	track := fmt.Sprintf("vrrp_script chk {\n    script %q\n    interval 1\n    weight 0\n}\n", script)
	// notify: each state it is told of, one line in notified.
	notified := filepath.Join(dir, "notified")
	notify := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(notify, []byte("#!/bin/sh\necho \"$3\" >> "+notified+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("    track_script {\n        chk\n    }\n    notify %q\n", notify)
	conf1 := strings.Replace(confOf(inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{vipAddr + "/24"}, extra: extra}),
		"vrrp_instance", track+"vrrp_instance", 1)
	var port int
	if err := h1.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		return ln.Close()
	}); err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	n1 := startXvrrpd(t, h1, conf1, startOpts{extraArgs: []string{"--metrics-address", metricsAddr}})
	startXvrrpd(t, h2, confOf(inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{vipAddr + "/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)

	// The helper is this test binary, copied where nobody may run it.
	pub, err := os.MkdirTemp("/run", "xvrrp-e2e-flood")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(pub, "flood")
	copyFile(t, self, bin)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	const want = 15000
	var cmd *exec.Cmd
	var out *bufio.Reader
	var stdin interface{ Close() error }
	err = h1.Do(func() error {
		cmd = exec.Command(bin)
		cmd.Env = []string{floodEnv + "=" + metricsAddr + " " + strconv.Itoa(want) + " " + n1.socket()}
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL,
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		cmd.Stderr = os.Stderr
		o, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out, stdin = bufio.NewReader(o), in
		return cmd.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	floodStart := time.Now()
	first, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("flood helper: %v", err)
	}
	var opened int
	fmt.Sscanf(first, "opened %d", &opened)
	t.Logf("nobody opened %d connections to %s in %s", opened, metricsAddr, fmtMs(time.Since(floodStart)))
	if opened < 4000 {
		t.Fatalf("the flood opened %d connections, too few to replay the attack", opened)
	}
	ctl, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("flood helper: %v", err)
	}
	t.Logf("nobody on the control socket: %s", strings.TrimSpace(ctl))
	if !strings.HasPrefix(ctl, "control opened 0: ") || !strings.Contains(ctl, "permission denied") {
		t.Fatalf("nobody on the control socket: %q, want no connection, permission denied", ctl)
	}

	// While they are held: the daemon's descriptors stay far from its
	// limit, its tracker runs, its VIP stays, xvrrpctl answers.
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n1.proc.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("xvrrpd holds %d descriptors during the flood", len(fds))
	if len(fds) > 1000 {
		t.Errorf("xvrrpd holds %d descriptors during the flood, want the metrics cap to keep it low", len(fds))
	}
	before := n1.instance("VI_1").Trackers[0].LastRun
	holdsFor(t, lan.Hosts, h1, vipAddr, 3*time.Second)
	res := runOnce(t, h1, filepath.Join(binDir, "xvrrpctl"), []string{"--control-socket", n1.socket(), "status"}, nil)
	if res.code != 0 || !strings.Contains(res.stdout, "VI_1") || !strings.Contains(res.stdout, "MASTER") {
		t.Fatalf("xvrrpctl status during the flood: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	st := n1.instance("VI_1")
	if st.State != "MASTER" || len(st.Trackers) != 1 || st.Trackers[0].Status != "ok" || !st.Trackers[0].LastRun.After(before) {
		t.Fatalf("during the flood: %s, trackers %+v (last run before: %v); want MASTER with chk ok and running", st.State, st.Trackers, before)
	}
	// A reload during the flood adds a VIP to the master: the file is
	// read, the control socket answers, netlink adds the address.
	added := strings.Replace(conf1, vipAddr+"/24\n", vipAddr+"/24\n        198.18.0.101/24\n", 1)
	if added == conf1 {
		t.Fatal("test bug: no VIP line to add to")
	}
	if err := os.WriteFile(n1.conf, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("xvrrpctl reload during the flood: exit %d\n%s", code, out)
	}
	waitHolder(t, lan.Hosts, h1, "198.18.0.101", 5*time.Second)
	if h := n1.instance("VI_1"); len(transitionsTo(h, "FAULT")) != 0 {
		t.Fatalf("went to FAULT during the flood: %+v", h.Transitions)
	}
	// Last, still during the flood: a reload lowering the priority below
	// host 2's makes host 1 BACKUP, and its notify script runs (fork,
	// exec, a file written). The added VIP goes again: host 1 would
	// otherwise drop host 2's adverts for their address list (keepalived's
	// rule, advert.Check).
	lowered := strings.Replace(conf1, "priority 150", "priority 50", 1)
	if err := os.WriteFile(n1.conf, []byte(lowered), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("xvrrpctl reload during the flood: exit %d\n%s", code, out)
	}
	waitState(t, n1, "VI_1", "BACKUP", 5*time.Second)
	err = lab.Eventually(5*time.Second, func() error {
		b, err := os.ReadFile(notified)
		if err != nil || !strings.HasSuffix(string(b), "BACKUP\n") {
			return fmt.Errorf("notified %q (%v), want a last line BACKUP", b, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("notify script during the flood: %v", err)
	}
}

// TestSIGTERMDuringAReloadSendsPriorityZero: issue 23 item 4. The reload
// runs off the signal loop, so a SIGTERM sent as soon as a SIGHUP's reload
// has begun is served at once, whether the reload is still reading the
// file or has just applied it: the daemon exits cleanly and promptly, with priority 0 on the wire
// (RFC 5798 §6.4.3), no address left behind (the reloaded file adds an
// instance and its VIP), and the backup taking over within its skew time, not a
// Master_Down_Interval. Which of the two the reload reached is a race; the
// test asserts what holds either way.
func TestSIGTERMDuringAReloadSendsPriorityZero(t *testing.T) {
	const vipAddr, addedAddr = "198.18.0.100", "198.18.0.101"
	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	// advert_int 1: a Master_Down_Interval of 3.6 s tells a priority-0
	// takeover (skew time about 0.6 s) from a silent master's.
	conf1 := confOf(inst{name: "VI_1", vrid: 51, prio: 150, advert: "1", vips: []string{vipAddr + "/24"}})
	n1 := startXvrrpd(t, h1, conf1, startOpts{})
	n2 := startXvrrpd(t, h2, confOf(inst{name: "VI_1", vrid: 51, prio: 100, advert: "1", vips: []string{vipAddr + "/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)
	waitState(t, n2, "VI_1", "BACKUP", 5*time.Second)

	// The reloaded file adds an instance host 1 alone serves, as the
	// address owner's priority 255 (MASTER, its VIP added, at once). VI_1
	// stays as it was: a changed address list would make host 2 drop host
	// 1's adverts (advert.Check), priority 0 included.
	added := confOf(
		inst{name: "VI_1", vrid: 51, prio: 150, advert: "1", vips: []string{vipAddr + "/24"}},
		inst{name: "VI_2", vrid: 52, prio: 255, advert: "1", vips: []string{addedAddr + "/24"}},
	)
	if err := os.WriteFile(n1.conf, []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	capt, err := lan.Bridge.StartCapture(h1.Port)
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// SIGTERM as soon as the reload has begun.
	if err := n1.proc.WaitLog("reload: reading the configuration", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	term := time.Now()
	if err := n1.proc.Stop(5 * time.Second); err != nil {
		t.Fatalf("SIGTERM right after SIGHUP: %v\n%s", err, n1.proc.Log())
	}
	exited := time.Since(term)
	at := waitAddr(t, h2, vipAddr, 5*time.Second)
	log := n1.proc.Log()
	var reload string
	switch {
	case strings.Contains(log, "reload abandoned"):
		reload = "abandoned"
	case strings.Contains(log, "configuration reloaded"):
		reload = "applied before the stop"
	default:
		reload = "ended unlogged by the stop"
	}
	t.Logf("SIGHUP then SIGTERM: reload %s; exited after %s, host 2 holds the VIP after %s", reload, fmtMs(exited), fmtMs(at.Sub(term)))
	if exited > 2*time.Second {
		t.Errorf("xvrrpd took %s to exit after SIGTERM during a reload, want under 2 s", fmtMs(exited))
	}
	if took := at.Sub(term); took > 3*time.Second {
		t.Errorf("host 2 took %s to take the VIP, a silent master's Master_Down_Interval rather than a priority-0 skew time", fmtMs(took))
	}
	for _, a := range []string{vipAddr, addedAddr} {
		if hasAddr(t, h1, a) {
			t.Errorf("host 1 kept %s after SIGTERM during the reload", a)
		}
	}
	var zero bool
	for _, f := range capt.Frames() {
		if vrid, prio, ok := lab.VRRPPriority(f.Data); ok && vrid == 51 && prio == 0 && !f.At.Before(term) {
			zero = true
		}
	}
	if !zero {
		t.Fatal("no priority 0 advert from host 1 after SIGTERM")
	}
}

// TestReloadThatFailsKeepsTheRunningConfiguration: issue 23 item 4, "a
// reload that fails for any reason keeps the running configuration". Each
// bad file is refused with its reason; the master keeps its VIP, neither
// host makes a transition, the daemon keeps running and the failure is
// counted; a good file reloads afterwards.
func TestReloadThatFailsKeepsTheRunningConfiguration(t *testing.T) {
	const vipAddr = "198.18.0.100"
	lan, n1, n2 := electedPair(t)
	h1 := lan.Hosts[0]
	good, err := os.ReadFile(n1.conf)
	if err != nil {
		t.Fatal(err)
	}
	before1, before2 := n1.instance("VI_1"), n2.instance("VI_1")
	cases := []struct {
		name string
		bad  func() string
		want string // in xvrrpctl's answer and the status' last error
	}{
		{
			name: "parse_error",
			bad:  func() string { return strings.Replace(string(good), "advert_int 0.1", "advert_int often", 1) },
			want: `keepalived.conf:` + strconv.Itoa(lineOf(t, string(good), "advert_int")) + `: advert_int "often" is not a time`,
		},
		{
			name: "interface_does_not_exist",
			bad:  func() string { return strings.Replace(string(good), "interface eth0", "interface nope0", 1) },
			want: "interface nope0 does not exist here",
		},
		{
			name: "include_dev_zero",
			bad:  func() string { return string(good) + "include /dev/zero\n" },
			want: "/dev/zero is not a regular file (a character device)",
		},
		{
			name: "three_million_nested_braces",
			bad:  func() string { return string(good) + strings.Repeat("{\n", 3_000_000) },
			want: "blocks nested deeper than 64",
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(n1.conf, []byte(c.bad()), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			out, code := n1.ctl("reload")
			took := time.Since(start)
			if code == 0 || !strings.Contains(out, c.want) {
				t.Fatalf("xvrrpctl reload: exit %d, %q; want a failure saying %q", code, out, c.want)
			}
			t.Logf("refused after %s: %s", fmtMs(took), strings.ReplaceAll(strings.TrimSpace(out), "\n", " "))
			holdsFor(t, lan.Hosts, h1, vipAddr, time.Second)
			if n1.proc.Exited() {
				t.Fatalf("xvrrpd exited:\n%s", n1.proc.Log())
			}
			doc := n1.status()
			if doc.Reload.Failures != uint64(i+1) || !strings.Contains(doc.Reload.LastError, c.want) {
				t.Fatalf("status reload %+v, want %d failures, the last saying %q", doc.Reload, i+1, c.want)
			}
			a1, a2 := n1.instance("VI_1"), n2.instance("VI_1")
			if a1.State != "MASTER" || len(a1.Transitions) != len(before1.Transitions) || !a1.Since.Equal(before1.Since) {
				t.Fatalf("host 1 VI_1 after the failed reload: %s, %d transitions since %v; was MASTER, %d since %v",
					a1.State, len(a1.Transitions), a1.Since, len(before1.Transitions), before1.Since)
			}
			if a2.State != "BACKUP" || len(a2.Transitions) != len(before2.Transitions) {
				t.Fatalf("host 2 VI_1 after host 1's failed reload: %s, %d transitions; was BACKUP, %d",
					a2.State, len(a2.Transitions), len(before2.Transitions))
			}
		})
	}
	// The failures left the reload path working: the good file reloads.
	if err := os.WriteFile(n1.conf, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("reload of the good file after the failures: exit %d\n%s", code, out)
	}
	if doc := n1.status(); doc.Reload.Successes != 1 || doc.Reload.LastError != "" {
		t.Fatalf("status reload %+v after the good file, want 1 success and no error", doc.Reload)
	}
}

// TestStartFailureAfterTheHostUndoesIt: issue 23 item 6. A failure after
// the host changed (here the ready file, the last step, in a directory
// other users can write) undoes the start as SIGTERM does: the priority
// 255 master that had added its VIP sends priority 0 (RFC 5798 §6.4.3)
// and removes it, and XDP and the pins are gone.
func TestStartFailureAfterTheHostUndoesIt(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	p := newFailPaths(t, h, strings.Replace(failVIPConf, "priority 150", "priority 255", 1), true)
	open, err := os.MkdirTemp("/run", "xvrrp-e2e-open")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	if err := os.Chmod(open, 0o777); err != nil { // writable by all, not sticky
		t.Fatal(err)
	}
	capt, err := lan.Bridge.StartCapture(h.Port)
	if err != nil {
		t.Fatal(err)
	}
	p.ready = filepath.Join(open, "ready")
	start := time.Now()
	res := runOnce(t, h, filepath.Join(binDir, "xvrrpd"), append(p.args(), "--ready-file", p.ready), nil)
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	last := lines[len(lines)-1]
	if res.code != 1 || !strings.Contains(last, "write ready file") || !strings.Contains(last, "refusing") {
		t.Fatalf("exit %d, last line %q; want exit 1 refusing the ready file:\n%s", res.code, last, res.stderr)
	}
	var prios []uint8
	for _, f := range capt.Frames() {
		if vrid, prio, ok := lab.VRRPPriority(f.Data); ok && vrid == 51 && !f.At.Before(start) {
			prios = append(prios, prio)
		}
	}
	if len(prios) < 2 || prios[0] != 255 || prios[len(prios)-1] != 0 {
		t.Fatalf("adverts sent: priorities %v, want 255 (master at once) ... then 0 (the undo)", prios)
	}
	t.Logf("adverts of the failed start: priorities %v", prios)
	checkNothingLeft(t, h, p)
}
