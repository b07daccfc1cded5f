package e2e

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// TestUseVMAC_ClientARPIsTheVirtualMACAcrossFailover_Keepalived: with
// use_vmac xvrrpd makes keepalived's macvlan vrrp.<VRID> (MAC
// 00:00:5e:00:01:VRID, RFC 5798 §7.3), puts the VIP on it and announces
// that MAC, and sends adverts from it. A client's ARP entry for the VIP is
// the virtual MAC and stays the same when the backup takes over (the point
// of a VMAC: no ARP churn). XDP stays on the parent, which sees the adverts
// before the macvlan demultiplexes them, so an INPUT rule dropping VRRP
// on the backup (on the macvlan and on the parent) still leaves one master.
// SIGTERM removes the macvlan.
func TestUseVMAC_ClientARPIsTheVirtualMACAcrossFailover_Keepalived(t *testing.T) {
	lab.RequireTool(t, "iptables")
	lan := lab.NewLAN(t, 3)
	h0, h1, client := lan.Hosts[0], lan.Hosts[1], lan.Hosts[2]
	const vmacName, vmac = "vrrp.51", "00:00:5e:00:01:33"
	a := inst{name: "VI_1", vrid: 51, prio: 150, state: "MASTER", vips: []string{"198.18.0.100/24"}, extra: "    use_vmac\n"}
	b := a
	b.prio, b.state = 100, "BACKUP"
	capt, err := lan.Bridge.StartCapture(h0.Port)
	if err != nil {
		t.Fatal(err)
	}
	n0 := startXvrrpd(t, h0, confOf(a), startOpts{})
	n1 := startXvrrpd(t, h1, confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, h0, "198.18.0.100", 10*time.Second)

	if out := h0.IP("-br", "addr", "show", "dev", vmacName); !strings.Contains(out, "198.18.0.100/24") {
		t.Fatalf("the VIP is not on %s: %q", vmacName, out)
	}
	if out := h0.IP("-br", "link", "show", "dev", vmacName); !strings.Contains(out, vmac) {
		t.Fatalf("%s does not carry %s: %q", vmacName, vmac, out)
	}
	err = lab.Eventually(5*time.Second, func() error {
		for _, f := range capt.Frames() {
			if v, _, ok := lab.VRRPPriority(f.Data); ok && v == 51 && len(f.Data) >= 12 && string(f.Data[6:12]) == "\x00\x00\x5e\x00\x01\x33" {
				return nil
			}
		}
		return errString("no advert for VRID 51 from " + vmac + " on the wire")
	})
	if err != nil {
		t.Fatal(err)
	}
	clientMAC := func() error {
		if out, err := client.Command("ping", "-c", "1", "-W", "2", "198.18.0.100").CombinedOutput(); err != nil {
			return errString("ping: " + err.Error() + ": " + string(out))
		}
		if neigh := client.IP("neigh", "show", "198.18.0.100"); !strings.Contains(neigh, vmac) {
			return errString("client's entry for the VIP: " + neigh)
		}
		return nil
	}
	if err := lab.Eventually(10*time.Second, clientMAC); err != nil {
		t.Fatalf("before the failover: %v", err)
	}

	// The backup's firewall drops VRRP on every interface (the macvlan
	// and the parent): XDP on the parent still sees the adverts.
	run(t, h1, "iptables", "-A", "INPUT", "-p", "112", "-j", "DROP")
	holdsFor(t, lan.Hosts, h0, "198.18.0.100", 3*time.Second)
	if st := n1.instance("VI_1"); st.State != "BACKUP" {
		t.Fatalf("backup behind the firewall is %s, want BACKUP", st.State)
	}

	n0.stop()
	waitHolder(t, lan.Hosts, h1, "198.18.0.100", 10*time.Second)
	if out := h0.IP("-br", "link", "show"); strings.Contains(out, vmacName) {
		t.Fatalf("SIGTERM left %s behind: %q", vmacName, out)
	}
	if err := lab.Eventually(10*time.Second, clientMAC); err != nil {
		t.Fatalf("after the failover: %v", err)
	}
	if neigh := client.IP("neigh", "show", "198.18.0.100"); !strings.Contains(neigh, vmac) {
		t.Fatalf("the client's entry changed at the failover: %s", neigh)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// ifindexOf returns the interface index of name on h, 0 if absent.
func ifindexOf(t *testing.T, h *lab.Host, name string) int {
	t.Helper()
	idx := 0
	_ = h.Do(func() error {
		if ifi, err := net.InterfaceByName(name); err == nil {
			idx = ifi.Index
		}
		return nil
	})
	return idx
}

// TestUseVMAC_IPv6ClientNeighbourIsTheVirtualMAC_Keepalived: an IPv6
// instance's use_vmac interface carries 00:00:5e:00:02:VRID (RFC 5798
// §7.3), the VIP goes on it, and a client's neighbour entry for the VIP is
// that MAC before and after the backup takes over.
func TestUseVMAC_IPv6ClientNeighbourIsTheVirtualMAC_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 3)
	h0, h1, client := lan.Hosts[0], lan.Hosts[1], lan.Hosts[2]
	const vmacName, vmac, vipAddr = "vrrp.52", "00:00:5e:00:02:34", "2001:db8::100"
	a := inst{name: "VI_6", vrid: 52, prio: 150, state: "MASTER", vips: []string{vipAddr + "/64"}, extra: "    use_vmac\n"}
	b := a
	b.prio, b.state = 100, "BACKUP"
	n0 := startXvrrpd(t, h0, confOf(a), startOpts{})
	startXvrrpd(t, h1, confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, h0, vipAddr, 10*time.Second)
	if out := h0.IP("-br", "-6", "addr", "show", "dev", vmacName); !strings.Contains(out, vipAddr+"/64") {
		t.Fatalf("the VIP is not on %s: %q", vmacName, out)
	}
	if out := h0.IP("-br", "link", "show", "dev", vmacName); !strings.Contains(out, vmac) {
		t.Fatalf("%s does not carry %s: %q", vmacName, vmac, out)
	}
	clientMAC := func() error {
		if out, err := client.Command("ping", "-6", "-c", "1", "-W", "2", vipAddr).CombinedOutput(); err != nil {
			return errString("ping: " + err.Error() + ": " + string(out))
		}
		if got := neighMAC(client, vipAddr); got != vmac {
			return errString("client's neighbour entry for the VIP: " + got)
		}
		return nil
	}
	if err := lab.Eventually(10*time.Second, clientMAC); err != nil {
		t.Fatalf("before the failover: %v", err)
	}
	n0.stop()
	waitHolder(t, lan.Hosts, h1, vipAddr, 10*time.Second)
	if err := lab.Eventually(10*time.Second, clientMAC); err != nil {
		t.Fatalf("after the failover: %v", err)
	}
}

// TestUseVMAC_SurvivesReload_Keepalived: keepalived keeps an instance's
// VMAC across a reload (vrrp_vmac.c: an existing interface of the right
// shape is reused). The macvlan keeps its ifindex through a priority-only
// reload and through one that puts the instance in a sync group (its
// machine replaced), and still holds the VIP.
func TestUseVMAC_SurvivesReload_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	const vmacName = "vrrp.53"
	a := inst{name: "VI_1", vrid: 53, prio: 150, state: "MASTER", vips: []string{"198.18.0.100/24"}, extra: "    use_vmac\n"}
	n := startXvrrpd(t, h, confOf(a), startOpts{})
	waitHolder(t, lan.Hosts, h, "198.18.0.100", 10*time.Second)
	idx := ifindexOf(t, h, vmacName)
	if idx == 0 {
		t.Fatalf("no %s", vmacName)
	}
	reload := func(conf, what string) {
		t.Helper()
		if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := n.ctl("reload"); code != 0 {
			t.Fatalf("reload (%s): exit %d\n%s", what, code, out)
		}
		waitHolder(t, lan.Hosts, h, "198.18.0.100", 10*time.Second)
		if got := ifindexOf(t, h, vmacName); got != idx {
			t.Fatalf("%s after a reload (%s): ifindex %d, want %d (the same interface)", vmacName, what, got, idx)
		}
		if out := h.IP("-br", "addr", "show", "dev", vmacName); !strings.Contains(out, "198.18.0.100/24") {
			t.Fatalf("the VIP is not on %s after a reload (%s): %q", vmacName, what, out)
		}
	}
	a.prio = 140
	reload(confOf(a), "priority")
	other := inst{name: "VI_2", vrid: 55, prio: 150, state: "MASTER", vips: []string{"198.18.0.101/24"}}
	reload(confOf(a, other)+"vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n", "into a sync group")
	if st := n.instance("VI_1"); st.State != "MASTER" {
		t.Fatalf("instance after the reloads: %s, want MASTER", st.State)
	}
}

// TestUseVMAC_FailedStartRemovesIt_Keepalived: a start that fails after
// the instances came up (here: the ready file cannot be written) undoes
// what it did, as SIGTERM does (keepalived's stop_vrrp): the macvlan it
// created and the VIP on it are gone when xvrrpd exits.
func TestUseVMAC_FailedStartRemovesIt_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	const vmacName = "vrrp.54"
	a := inst{name: "VI_1", vrid: 54, prio: 255, state: "MASTER", vips: []string{"198.18.0.100/24"}, extra: "    use_vmac\n"}
	n := startXvrrpd(t, h, confOf(a), startOpts{noWait: true,
		extraArgs: []string{"--ready-file", "/proc/xvrrp-no-such-dir/ready"}})
	err := n.proc.Wait(20 * time.Second)
	if !n.proc.Exited() || err == nil {
		t.Fatalf("xvrrpd with a ready file it cannot write: exited %v, %v; want a failed exit", n.proc.Exited(), err)
	}
	log := n.proc.Log()
	if !strings.Contains(log, "created VMAC "+vmacName) || !strings.Contains(log, "ready file") {
		t.Fatalf("the start did not fail after creating %s:\n%s", vmacName, log)
	}
	if idx := ifindexOf(t, h, vmacName); idx != 0 {
		t.Fatalf("the failed start left %s (ifindex %d)", vmacName, idx)
	}
	if hasAddr(t, h, "198.18.0.100") {
		t.Fatal("the failed start left the VIP")
	}
}
