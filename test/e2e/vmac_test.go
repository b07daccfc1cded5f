package e2e

import (
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
