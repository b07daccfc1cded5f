package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/test/lab"
)

// xvrrpd follows its interfaces by name, as keepalived does.
// An interface deleted and re-created (a new ifindex), renamed away and back,
// or flapping, ends with exactly one master holding the VIP, and the XDP
// program attached to the interface that now carries the name.

const ifVIP = "198.18.0.100"

// ifaceLab is a master (h1, priority 150) and a backup (h2, 100) with one
// instance at 100 ms.
func ifaceLab(t *testing.T) (*lab.LAN, []*node) {
	lan := lab.NewLAN(t, 2)
	a := inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{ifVIP + "/24"}}
	b := inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{ifVIP + "/24"}}
	n1 := startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], ifVIP, 10*time.Second)
	return lan, []*node{n1, n2}
}

// eth0Link reads h's eth0 as the kernel has it (nil: no such link).
func eth0Link(t *testing.T, h *lab.Host) netlink.Link {
	t.Helper()
	nh, err := hostNetlink(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	l, err := nh.LinkByName("eth0")
	if err != nil {
		return nil
	}
	return l
}

// plugEth0 re-creates h's eth0 (a new ifindex) plugged into the LAN's
// bridge, with the host's addresses, as lab.LAN.AddHost made it.
func plugEth0(t *testing.T, lan *lab.LAN, h *lab.Host) {
	t.Helper()
	lab.Veth(t, h.NS, "eth0", lan.Bridge, h.Port)
	lan.Bridge.IP("link", "set", h.Port, "master", "br0")
	h.IP("addr", "add", h.V4+"/24", "dev", "eth0")
	h.IP("addr", "add", h.V6+"/64", "dev", "eth0", "nodad")
}

// oneMaster waits until exactly one host, want, holds the VIP, its daemon
// says MASTER and the other's BACKUP, and checks it stays so for a second.
func oneMaster(t *testing.T, lan *lab.LAN, nodes []*node, want *lab.Host, d time.Duration) {
	t.Helper()
	check := func() (int, error) {
		hs := holders(t, lan.Hosts, ifVIP)
		var masters []string
		for _, n := range nodes {
			if st := n.instance("VI_1"); st.State == "MASTER" {
				masters = append(masters, n.host.Name)
			} else if st.State != "BACKUP" {
				return -1, fmt.Errorf("%s is %s (%s)", n.host.Name, st.State, st.Reason)
			}
		}
		if len(hs) != 1 || len(masters) != 1 || hs[0] != masters[0] {
			return -1, fmt.Errorf("VIP held by %v, MASTER on %v: want one and the same", hs, masters)
		}
		return slices.IndexFunc(lan.Hosts, func(h *lab.Host) bool { return h.Name == hs[0] }), nil
	}
	err := lab.Eventually(d, func() error {
		who, err := check()
		if err == nil && lan.Hosts[who] != want {
			err = fmt.Errorf("master is %s, want %s", lan.Hosts[who].Name, want.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if who, err := check(); err != nil || lan.Hosts[who] != want {
			t.Fatalf("one master, %s, was not stable: %v", want.Name, err)
		}
	}
}

// checkServed asserts that the kernel has an XDP program on h's eth0 and
// that the daemon's status reports that interface (same index) attached.
func checkServed(t *testing.T, h *lab.Host, n *node) {
	t.Helper()
	l := eth0Link(t, h)
	if l == nil {
		t.Fatalf("%s has no eth0", h.Name)
	}
	a := l.Attrs()
	if a.Xdp == nil || !a.Xdp.Attached || a.Xdp.ProgId == 0 {
		t.Fatalf("no XDP program on %s's eth0 (index %d): %+v", h.Name, a.Index, a.Xdp)
	}
	for _, si := range n.status().Interfaces {
		if si.Name == "eth0" {
			if si.Index != a.Index || si.XDPMode == "" || si.Missing {
				t.Fatalf("status of eth0: index %d, xdp %q, missing %v; the kernel's eth0 is index %d with program %d",
					si.Index, si.XDPMode, si.Missing, a.Index, a.Xdp.ProgId)
			}
			return
		}
	}
	t.Fatalf("status of %s lists no eth0", h.Name)
}

// waitMissing waits until the daemon reports eth0 missing, claims no XDP
// on it, and its instance is in FAULT.
func waitMissing(t *testing.T, n *node) {
	t.Helper()
	err := lab.Eventually(5*time.Second, func() error {
		doc := n.status()
		for _, si := range doc.Interfaces {
			if si.Name == "eth0" && (!si.Missing || si.XDPMode != "") {
				return fmt.Errorf("eth0: missing %v, xdp %q", si.Missing, si.XDPMode)
			}
		}
		if st := n.instance("VI_1"); st.State != "FAULT" {
			return fmt.Errorf("VI_1 is %s", st.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkBackToBackup asserts that the instance left FAULT as BACKUP, never
// straight to MASTER (keepalived vrrp_state_leave_fault).
func checkBackToBackup(t *testing.T, n *node) {
	t.Helper()
	st := n.instance("VI_1")
	for _, tr := range st.Transitions {
		if tr.From == "FAULT" && tr.To != "BACKUP" {
			t.Fatalf("left FAULT for %s (%s), want BACKUP with a full Master_Down_Interval", tr.To, tr.Reason)
		}
	}
	if !slices.ContainsFunc(st.Transitions, func(tr status.Transition) bool { return tr.From == "FAULT" && tr.To == "BACKUP" }) {
		t.Fatalf("no FAULT → BACKUP transition in %+v", st.Transitions)
	}
}

func TestInterfaceRecreatedKeepsOneMaster(t *testing.T) {
	lan, nodes := ifaceLab(t)
	h1 := lan.Hosts[0]
	before := eth0Link(t, h1).Attrs().Index

	h1.IP("link", "del", "eth0")
	waitMissing(t, nodes[0])
	waitHolder(t, lan.Hosts, lan.Hosts[1], ifVIP, 5*time.Second)

	plugEth0(t, lan, h1)
	after := eth0Link(t, h1).Attrs().Index
	if after == before {
		t.Fatalf("the re-created eth0 has the old index %d", before)
	}
	// h1 comes back as BACKUP, hears h2 (100) and preempts it (150).
	oneMaster(t, lan, nodes, h1, 10*time.Second)
	checkServed(t, h1, nodes[0])
	checkBackToBackup(t, nodes[0])
	if log := nodes[0].proc.Log(); strings.Contains(log, "advert not sent") && !strings.Contains(log, "was deleted") {
		t.Fatalf("send errors without the deletion being noticed:\n%s", log)
	}
}

func TestInterfaceRenamedAwayAndBackKeepsOneMaster(t *testing.T) {
	lan, nodes := ifaceLab(t)
	h1 := lan.Hosts[0]
	index := eth0Link(t, h1).Attrs().Index

	h1.IP("link", "set", "eth0", "down")
	h1.IP("link", "set", "eth0", "name", "ethaway")
	h1.IP("link", "set", "ethaway", "up")
	waitMissing(t, nodes[0])
	// The VIP does not stay behind on the renamed interface.
	waitHolder(t, lan.Hosts, lan.Hosts[1], ifVIP, 5*time.Second)
	if out := h1.IP("link", "show", "ethaway"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP still on the renamed interface, which is no longer served:\n%s", out)
	}

	h1.IP("link", "set", "ethaway", "down")
	h1.IP("link", "set", "ethaway", "name", "eth0")
	h1.IP("link", "set", "eth0", "up")
	oneMaster(t, lan, nodes, h1, 10*time.Second)
	if got := eth0Link(t, h1).Attrs().Index; got != index {
		t.Fatalf("renamed back eth0 has index %d, want %d", got, index)
	}
	checkServed(t, h1, nodes[0])
	checkBackToBackup(t, nodes[0])
}

func TestInterfaceFlappingKeepsOneMaster(t *testing.T) {
	lan, nodes := ifaceLab(t)
	h1 := lan.Hosts[0]
	for range 50 {
		h1.IP("link", "set", "eth0", "down")
		h1.IP("link", "set", "eth0", "up")
	}
	oneMaster(t, lan, nodes, h1, 10*time.Second)
	checkServed(t, h1, nodes[0])
	checkServed(t, lan.Hosts[1], nodes[1])
}
