package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// leastCaps is the capability set xvrrpd.service and the manifests grant.
const leastCaps = "+bpf,+perfmon,+net_admin,+net_raw"

// startXvrrpdWithCaps runs xvrrpd with exactly caps (bounding, inheritable,
// ambient; the effective set follows). ip netns exec gives the namespace a
// fresh /sys without bpffs; the wrapper mounts it with the test's
// privileges first, as systemd does at boot, so the daemon needs no
// CAP_SYS_ADMIN.
func startXvrrpdWithCaps(t *testing.T, h *lab.Host, conf, caps string) *node {
	t.Helper()
	lab.RequireTool(t, "setpriv")
	dir := nodeDir(t, h)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, host: h, dir: dir, conf: path, kind: "xvrrpd"}
	ready := filepath.Join(dir, "ready")
	n.proc = h.Start(t, "xvrrpd-"+h.Name, "sh", "-c",
		`mount -t bpf bpf /sys/fs/bpf && exec setpriv --inh-caps=-all,"$0" --ambient-caps=-all,"$0" --bounding-set=-all,"$0" "$@"`,
		caps, filepath.Join(binDir, "xvrrpd"), "-f", path,
		"--pin-dir", "/sys/fs/bpf/xvrrp-"+h.Name, "--control-socket", n.socket(),
		"--pid-file", filepath.Join(dir, "pid"), "--metrics-address", "", "--ready-file", ready)
	if err := n.proc.WaitFile(ready, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return n
}

// With only CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW (uid 0, no
// CAP_SYS_ADMIN, no CAP_DAC_OVERRIDE) xvrrpd becomes master, reloads a
// changed priority on SIGHUP, and on a link cut the peer takes over.
func TestLeastPrivilegeCapabilitiesFailoverAndReload(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	a := inst{name: "VI_1", vrid: 71, prio: 150, vips: []string{"198.18.0.171/24"}}
	b := inst{name: "VI_1", vrid: 71, prio: 100, vips: []string{"198.18.0.171/24"}}
	n1 := startXvrrpdWithCaps(t, h1, confOf(a), leastCaps)
	n2 := startXvrrpdWithCaps(t, h2, confOf(b), leastCaps)
	waitHolder(t, lan.Hosts, h1, "198.18.0.171", 15*time.Second)

	a.prio = 140
	reloadThenCut(t, lan, n1, n2, confOf(a), "198.18.0.171", "under the reduced capability set")
}

// reloadThenCut is what a daemon with reduced privileges must still do: a
// SIGHUP reload of conf (VI_1 at priority 140) takes effect on n1, and
// cutting n1's host hands vip to n2, which becomes MASTER.
func reloadThenCut(t *testing.T, lan *lab.LAN, n1, n2 *node, conf, vip, how string) {
	t.Helper()
	if err := os.WriteFile(n1.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n1.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := lab.Eventually(10*time.Second, func() error {
		if st := n1.instance("VI_1"); st.BasePriority != 140 {
			return os.ErrNotExist
		}
		return nil
	}); err != nil {
		t.Fatalf("reload %s: priority not 140: %s", how, n1.proc.Log())
	}
	lan.Cut(n1.host)
	waitAddr(t, n2.host, vip, 10*time.Second)
	if st := n2.instance("VI_1"); st.State != "MASTER" {
		t.Fatalf("peer after the cut: %s, want MASTER", st.State)
	}
}
