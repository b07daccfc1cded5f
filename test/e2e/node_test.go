// Package e2e runs xvrrpd (and keepalived, for comparison and interop) on
// hosts in network namespaces the tests create: a bridge, veth pairs,
// addresses from 198.18.0.0/15 and 2001:db8::/32, all deleted on exit.
package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/test/lab"
)

var binDir string

func TestMain(m *testing.M) {
	if spec := os.Getenv(floodEnv); spec != "" {
		os.Exit(metricsFlood(spec)) // a helper process of a test, not the tests
	}
	// Outside /tmp: tests mount a private /tmp over it for some daemons.
	dir, err := os.MkdirTemp("/run", "xvrrp-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := lab.BuildCommands(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one VRRP daemon (xvrrpd or keepalived) on a lab host.
type node struct {
	t    *testing.T
	host *lab.Host
	proc *lab.Proc
	dir  string // outside /tmp, so a private /tmp can be mounted over it
	conf string
	kind string // "xvrrpd" or "keepalived"
}

// nodeDir makes a directory for one daemon's files outside /tmp.
func nodeDir(t *testing.T, h *lab.Host) string {
	dir := filepath.Join("/run/xvrrp-e2e", h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type startOpts struct {
	// privateTmp, when set, is bind-mounted over /tmp in the daemon's own
	// mount namespace: the scripts and files a keepalived.conf names under
	// /tmp are then per host, as on real machines.
	privateTmp string
	extraArgs  []string
	noWait     bool
	// hostBPFFS runs the daemon in the test's mount namespace (entering
	// only the host's network namespace), as a service runs: `ip netns
	// exec` gives it a private /sys where it mounts a bpffs of its own,
	// and its pins then die with it instead of outliving a kill -9.
	hostBPFFS bool
}

// wrapPrivateTmp runs argv with o.privateTmp bind-mounted over /tmp in its
// own mount namespace. What the daemon must still reach under the host's
// /tmp — the checkout (a clone may live there), the binaries, the
// configuration — is bound back at its own path, so the private /tmp hides
// only the host's other files, wherever the project lives.
func wrapPrivateTmp(t *testing.T, o startOpts, dir string, argv []string, keep ...string) []string {
	t.Helper()
	if o.privateTmp == "" {
		return argv
	}
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	hostTmp := filepath.Join(dir, "host-tmp")
	if err := os.MkdirAll(hostTmp, 0o700); err != nil {
		t.Fatal(err)
	}
	tops := tmpTops(append(keep, root, binDir, argv[0])...)
	const script = `set -e
host="$1"; tops="$2"; shift 2
mount --bind /tmp "$host"
mount --bind "$0" /tmp
for top in $tops; do
	mkdir -p "/tmp/$top"
	mount --bind "$host/$top" "/tmp/$top"
done
exec "$@"`
	return append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script,
		o.privateTmp, hostTmp, strings.Join(tops, " ")}, argv...)
}

// tmpTops returns the first path element below /tmp of each path that
// lives under the host's /tmp (symlinks resolved), once each.
func tmpTops(paths ...string) []string {
	var tops []string
	seen := map[string]bool{}
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		rel, err := filepath.Rel("/tmp", p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		top := strings.Split(rel, string(filepath.Separator))[0]
		if !seen[top] {
			seen[top] = true
			tops = append(tops, top)
		}
	}
	return tops
}

// startXvrrpd writes conf and runs xvrrpd on h, waiting for its ready file.
func startXvrrpd(t *testing.T, h *lab.Host, conf string, o startOpts) *node {
	t.Helper()
	dir := nodeDir(t, h)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return startXvrrpdFile(t, h, path, o)
}

// startXvrrpdFile runs xvrrpd on h with the configuration file at path,
// unchanged, waiting for its ready file.
func startXvrrpdFile(t *testing.T, h *lab.Host, path string, o startOpts) *node {
	t.Helper()
	dir := nodeDir(t, h)
	n := &node{t: t, host: h, dir: dir, conf: path, kind: "xvrrpd"}
	ready := filepath.Join(dir, "ready")
	argv := append([]string{filepath.Join(binDir, "xvrrpd"), "-f", n.conf,
		"--pin-dir", "/sys/fs/bpf/xvrrp-" + h.Name,
		"--control-socket", n.socket(), "--pid-file", filepath.Join(dir, "pid"),
		"--metrics-address", "", "--ready-file", ready, "--log-level", "debug"}, o.extraArgs...)
	argv = wrapPrivateTmp(t, o, dir, argv, n.conf)
	if o.hostBPFFS {
		argv = append([]string{"nsenter", fmt.Sprintf("--mount=/proc/%d/ns/mnt", os.Getpid()), "--net=/run/netns/" + h.Name, "--"}, argv...)
	}
	n.proc = h.Start(t, "xvrrpd-"+h.Name, argv[0], argv[1:]...)
	if !o.noWait {
		if err := n.proc.WaitFile(ready, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// startKeepalived runs keepalived 2.2.7 on h with conf (VRRP only, in the
// foreground, logging to the console).
func startKeepalived(t *testing.T, h *lab.Host, conf string, o startOpts) *node {
	t.Helper()
	lab.RequireTool(t, "keepalived")
	dir := nodeDir(t, h)
	n := &node{t: t, host: h, dir: dir, conf: filepath.Join(dir, "keepalived.conf"), kind: "keepalived"}
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	argv := []string{"keepalived", "--vrrp", "--dont-fork", "--log-console", "--log-detail", "--no-syslog",
		"-f", n.conf, "-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid")}
	argv = wrapPrivateTmp(t, o, dir, argv, n.conf)
	n.proc = h.Start(t, "keepalived-"+h.Name, argv[0], argv[1:]...)
	if err := n.proc.WaitLog("Entering", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) socket() string { return filepath.Join(n.dir, "xvrrpd.sock") }

// status asks xvrrpd for its status document.
func (n *node) status() *status.Document {
	n.t.Helper()
	resp, err := status.Call(n.socket(), status.Request{Command: status.CmdStatus}, 5*time.Second)
	if err != nil {
		n.t.Fatal(err)
	}
	if !resp.OK {
		n.t.Fatal(resp.Error)
	}
	return resp.Status
}

func (n *node) instance(name string) status.Instance {
	n.t.Helper()
	for _, in := range n.status().Instances {
		if in.Name == name {
			return in
		}
	}
	n.t.Fatalf("%s has no instance %s", n.host.Name, name)
	return status.Instance{}
}

// stop sends SIGTERM and requires a clean exit within one second (xvrrpd)
// or five (keepalived).
func (n *node) stop() {
	n.t.Helper()
	limit := time.Second
	if n.kind == "keepalived" {
		limit = 5 * time.Second
	}
	start := time.Now()
	if err := n.proc.Stop(limit); err != nil {
		n.t.Fatalf("%s on %s: stop: %v (after %v)", n.kind, n.host.Name, err, time.Since(start))
	}
}

// hostNetlink opens a netlink handle in h's namespace (its sockets stay
// there once made, so the namespace handle is closed at once).
func hostNetlink(h *lab.Host) (*netlink.Handle, error) {
	hd, err := h.Handle()
	if err != nil {
		return nil, err
	}
	defer hd.Close()
	return netlink.NewHandleAt(hd)
}

// hasAddr reports whether addr is on any interface of h, read through a
// netlink handle in h's namespace.
func hasAddr(t *testing.T, h *lab.Host, addr string) bool {
	t.Helper()
	want := netip.MustParseAddr(addr)
	nh, err := hostNetlink(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	addrs, err := nh.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == want {
			return true
		}
	}
	return false
}

// holders lists the hosts holding addr.
func holders(t *testing.T, hosts []*lab.Host, addr string) []string {
	var out []string
	for _, h := range hosts {
		if hasAddr(t, h, addr) {
			out = append(out, h.Name)
		}
	}
	return out
}

// waitHolder waits until exactly want holds addr among hosts.
func waitHolder(t *testing.T, hosts []*lab.Host, want *lab.Host, addr string, d time.Duration) {
	t.Helper()
	err := lab.Eventually(d, func() error {
		hs := holders(t, hosts, addr)
		if len(hs) == 1 && hs[0] == want.Name {
			return nil
		}
		return fmt.Errorf("%s held by %v, want only %s", addr, hs, want.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitAddr polls (every 200 µs) until addr appears on h and returns when it
// did, for failover timing.
func waitAddr(t *testing.T, h *lab.Host, addr string, d time.Duration) time.Time {
	t.Helper()
	at, err := pollAddr(h, addr, d)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// pollAddr is waitAddr for goroutines other than the test's: it returns the
// error instead of failing the test.
func pollAddr(h *lab.Host, addr string, d time.Duration) (time.Time, error) {
	want := netip.MustParseAddr(addr)
	nh, err := hostNetlink(h)
	if err != nil {
		return time.Time{}, err
	}
	defer nh.Close()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		addrs, err := nh.AddrList(nil, netlink.FAMILY_ALL)
		now := time.Now()
		if err == nil {
			for _, a := range addrs {
				if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == want {
					return now, nil
				}
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Time{}, fmt.Errorf("%s did not appear on %s within %v", addr, h.Name, d)
}

func ipOf(s string) net.IP { return net.ParseIP(s) }

func run(t *testing.T, h *lab.Host, name string, args ...string) string {
	t.Helper()
	out, err := h.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), h.Name, err, out)
	}
	return string(out)
}
