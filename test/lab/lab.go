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
	n := &NS{Name: UniqueName("xv" + prefix), t: t}
	MustRun(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		// Kill whatever a test left running inside before deleting.
		if out, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
		_ = exec.Command("ip", "netns", "del", n.Name).Run()
	})
	n.IP("link", "set", "lo", "up")
	return n
}

// IP runs `ip -n NS args...` and fails the test on error.
func (n *NS) IP(args ...string) string {
	n.t.Helper()
	return MustRun(n.t, "ip", append([]string{"-n", n.Name}, args...)...)
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
	tmpA, tmpB := UniqueName("va"), UniqueName("vb")
	MustRun(t, "ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	MustRun(t, "ip", "link", "set", tmpA, "netns", a.Name, "name", an)
	MustRun(t, "ip", "link", "set", tmpB, "netns", b.Name, "name", bn)
	a.IP("link", "set", an, "up")
	b.IP("link", "set", bn, "up")
}

// Bridge creates a bridge named br inside n, up, with multicast snooping off
// so that VRRP multicast reaches every port.
func (n *NS) Bridge(br string) {
	n.t.Helper()
	n.IP("link", "add", br, "type", "bridge", "mcast_snooping", "0")
	n.IP("link", "set", br, "up")
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
