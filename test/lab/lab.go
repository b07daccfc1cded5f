// Package lab builds throw-away network labs for tests: network namespaces,
// veth pairs and bridges, created with iproute2 and deleted on every exit path
// through t.Cleanup. Addresses used with it must come from 198.18.0.0/15 and
// 2001:db8::/32 (RFC 2544's benchmarking range and RFC 3849's documentation prefix).
package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// RequireEnv is the variable .ci/run sets so that a privileged test that would
// skip fails instead: CI can never pass by skipping the tests that matter.
const RequireEnv = "XVRRP_REQUIRE_PRIVILEGED"

// RequirePrivileged skips t when the process is not root, or fails it when
// XVRRP_REQUIRE_PRIVILEGED=1 (CI). Every test that loads BPF, creates
// namespaces or touches links calls it first.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("privileged test needs root, and %s=1 forbids skipping it", RequireEnv)
	}
	t.Skip("needs root (BPF, network namespaces); run as root or in CI")
}

// RequireTool is RequirePrivileged's twin for external programs (keepalived,
// tcpdump, iptables, bpftool): missing tools skip, or fail under CI.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s not found in PATH and %s=1 forbids skipping: run scripts/install-deps.sh", name, RequireEnv)
	}
	t.Skipf("%s not found in PATH; run scripts/install-deps.sh", name)
	return ""
}

// NS is a network namespace owned by a test.
type NS struct {
	Name string
	t    testing.TB
}

// UniqueName returns prefix plus a random suffix, short enough for an
// interface name (15 bytes) when prefix is at most 6 bytes.
func UniqueName(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// NewNS creates a namespace with a unique name, brings its loopback up and
// deletes it (and with it every link inside) when the test ends.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	RequirePrivileged(t)
	n, err := OpenNS(UniqueName("xv" + prefix))
	if err != nil {
		t.Fatal(err)
	}
	n.t = t
	t.Cleanup(n.Delete)
	return n
}

// OpenNS creates namespace name with its loopback up, for a program that
// is not a test (the benchmark): the caller deletes it with Delete, and the
// error-returning methods (TryIP, TryRun) work on it; the test-failing ones
// (IP, Run) need a namespace from NewNS.
func OpenNS(name string) (*NS, error) {
	if out, err := Output("ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name}
	if _, err := n.TryIP("link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// Delete kills whatever still runs inside the namespace and deletes it.
func (n *NS) Delete() {
	if out, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
		for _, pid := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-9", pid).Run()
		}
	}
	_ = exec.Command("ip", "netns", "del", n.Name).Run()
}

// IP runs `ip -n NS args...` and fails the test on error.
func (n *NS) IP(args ...string) string {
	n.t.Helper()
	return MustRun(n.t, "ip", append([]string{"-n", n.Name}, args...)...)
}

// TryIP runs `ip -n NS args...` and returns its output, or an error that
// names the command and holds its output.
func (n *NS) TryIP(args ...string) (string, error) {
	out, err := Output("ip", append([]string{"-n", n.Name}, args...)...)
	if err != nil {
		return out, fmt.Errorf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Command returns cmd prepared to run inside the namespace.
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command inside the namespace and fails the test on error.
func (n *NS) Run(name string, args ...string) string {
	n.t.Helper()
	return MustRun(n.t, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// TryRun runs a command inside the namespace and returns its combined
// output and error.
func (n *NS) TryRun(name string, args ...string) (string, error) {
	return Output("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Sysctl sets key (dotted, e.g. net.ipv6.conf.eth0.accept_dad) to value
// inside the namespace.
func (n *NS) Sysctl(key, value string) error {
	return n.WriteSys("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), value)
}

// WriteSys writes value to a /proc/sys or /sys file as seen from inside
// the namespace (ip netns exec mounts the namespace's own /sys).
func (n *NS) WriteSys(path, value string) error {
	out, err := n.TryRun("sh", "-c", `echo "$1" > "$2"`, "sh", value, path)
	if err != nil {
		return fmt.Errorf("write %s=%s in %s: %v: %s", path, value, n.Name, err, out)
	}
	return nil
}

// Do runs fn on an OS thread switched into the namespace, for Go code that
// opens sockets, netlink handles or attaches XDP there. The thread switches
// back before it is released; if it cannot, it stays locked and the runtime
// discards it (the main thread included: it never returns to the scheduler,
// though `ip netns pids` would then list the test, so restoring matters).
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("read current netns: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(n.Name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", n.Name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", n.Name, err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Handle opens the namespace's handle (for netlink.NewHandleAt and friends);
// the caller closes it.
func (n *NS) Handle() (netns.NsHandle, error) { return netns.GetFromName(n.Name) }

// Veth creates a veth pair with one end in a (named an) and the other in b
// (named bn), both up.
func Veth(t testing.TB, a *NS, an string, b *NS, bn string) {
	t.Helper()
	if err := AddVeth(a, an, b, bn); err != nil {
		t.Fatal(err)
	}
	a.IP("link", "set", an, "up")
	b.IP("link", "set", bn, "up")
}

// AddVeth creates a veth pair with one end in a (named an) and the other in
// b (named bn), both down. The pair is made under random names in the
// initial namespace and moved; on failure it is removed from there.
func AddVeth(a *NS, an string, b *NS, bn string) error {
	tmpA, tmpB := UniqueName("va"), UniqueName("vb")
	for _, s := range [][]string{
		{"link", "add", tmpA, "type", "veth", "peer", "name", tmpB},
		{"link", "set", tmpA, "netns", a.Name, "name", an},
		{"link", "set", tmpB, "netns", b.Name, "name", bn},
	} {
		if out, err := Output("ip", s...); err != nil {
			_, _ = Output("ip", "link", "del", tmpA)
			return fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// Bridge creates a bridge named br inside n, up, with multicast snooping off
// so that VRRP multicast reaches every port.
func (n *NS) Bridge(br string) {
	n.t.Helper()
	if err := n.AddBridge(br); err != nil {
		n.t.Fatal(err)
	}
}

// AddBridge is Bridge returning its error.
func (n *NS) AddBridge(br string) error {
	if _, err := n.TryIP("link", "add", br, "type", "bridge", "mcast_snooping", "0"); err != nil {
		return err
	}
	_, err := n.TryIP("link", "set", br, "up")
	return err
}

// MustRun runs a command on the host side (only ever iproute2 against a
// namespace or link the test owns) and returns its combined output.
func MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Output(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Output runs a command and returns its combined output and error.
func Output(name string, args ...string) (string, error) {
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}
