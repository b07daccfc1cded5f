package lab

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FRRVRRP is FRR's vrrpd (with the zebra it needs) on a lab host: the
// other VRRP implementation xvrrpd meets on real networks.
type FRRVRRP struct {
	Zebra, VRRPD *Proc
	// VMAC is the macvlan FRR's vrrpd requires (it adds no interface
	// itself): MAC 00:00:5e:00:01:VRID on eth0, holding the VIP.
	VMAC string
}

// StartFRRVRRP runs FRR's zebra and vrrpd in h's namespace for one VRRPv3
// IPv4 router: vrid, priority, advertisement interval in ms (a multiple of
// 10), and the VIP (a prefix, e.g. 198.18.0.100/24). FRR's vrrpd needs
// the macvlan to exist with the virtual MAC and the VIP (FRR's VRRP
// documentation); it is made here. The daemons run as FRR's user with
// their files in a directory of their own, outside the system's FRR.
func (h *Host) StartFRRVRRP(t testing.TB, vrid, prio, intervalMs int, vip string) *FRRVRRP {
	t.Helper()
	RequireTool(t, "vtysh") // FRR's package, which brings the daemons
	zebra := "/usr/lib/frr/zebra"
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatalf("FRR's user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join("/run", "xvrrp-frr-"+h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &FRRVRRP{VMAC: fmt.Sprintf("vrrp4-%d", vrid)}
	h.IP("link", "add", f.VMAC, "link", "eth0", "type", "macvlan", "mode", "bridge")
	h.IP("link", "set", "dev", f.VMAC, "address", fmt.Sprintf("00:00:5e:00:01:%02x", vrid))
	h.IP("addr", "add", vip, "dev", f.VMAC)
	h.IP("link", "set", f.VMAC, "up")
	// FRR's VRRP documentation: the parent must not answer ARP for the
	// VIP (which lives on the macvlan in the same namespace), or the
	// clients learn the parent's MAC whatever the VRRP state.
	h.Run("sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.eth0.arp_ignore=1")
	addr, _, _ := strings.Cut(vip, "/")
	conf := fmt.Sprintf("hostname %s\ndebug vrrp protocol\ndebug vrrp arp\ninterface eth0\n vrrp %d version 3\n vrrp %d priority %d\n vrrp %d advertisement-interval %d\n vrrp %d ip %s\n",
		h.Name, vrid, vrid, prio, vrid, intervalMs, vrid, addr)
	for name, body := range map[string]string{"zebra.conf": "hostname " + h.Name + "\n", "vrrpd.conf": conf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chownTree(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	common := func(name string) []string {
		return []string{"-u", "frr", "-g", "frr", "-f", filepath.Join(dir, name+".conf"), "-i", filepath.Join(dir, name+".pid"),
			"--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"), "-A", "127.0.0.1", "--log", "stdout", "--log-level", "debug"}
	}
	f.Zebra = h.Start(t, "zebra-"+h.Name, zebra, common("zebra")...)
	if err := f.Zebra.WaitFile(filepath.Join(dir, "zserv.api"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	f.VRRPD = h.Start(t, "vrrpd-"+h.Name, "/usr/lib/frr/vrrpd", common("vrrpd")...)
	return f
}

func chownTree(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}
