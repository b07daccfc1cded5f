package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// neighMAC returns the client's neighbour entry's MAC for ip, "" if none.
func neighMAC(h *lab.Host, ip string) string {
	out, _ := lab.Output("ip", "-n", h.Name, "neigh", "show", ip)
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// waitNeighMAC waits until h's neighbour entry for ip is mac, without
// sending anything to ip: only what the routers announce moves it.
func waitNeighMAC(t *testing.T, h *lab.Host, ip, mac string, d time.Duration, what string) {
	t.Helper()
	err := lab.Eventually(d, func() error {
		if got := neighMAC(h, ip); got != mac {
			return fmt.Errorf("client's entry for %s is %q, want %s", ip, got, mac)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// countGARPs counts gratuitous ARPs for ip from src (a MAC) captured since.
func countGARPs(c *lab.Capture, since time.Time, ip net.IP, src string) int {
	n := 0
	for _, f := range c.Frames() {
		if !f.At.Before(since) && lab.IsGARP(f.Data, ip) && net.HardwareAddr(f.Data[6:12]).String() == src {
			n++
		}
	}
	return n
}

// keepalived.conf(5) garp_lower_prio_repeat / vrrp.c vrrp_state_master_rx:
// a MASTER that hears a lower-priority advert sends garp_lower_prio_repeat
// gratuitous ARPs (default: garp_master_repeat, 5) so that the clients the
// other master pulled over during a split brain come back.
//
// Two routers (150, 100) and a client on one bridge. The bridge drops the
// routers' frames to each other (below their XDP programs, as a broken
// switch path would); both become MASTER and the lower one's GARPs move the
// client's ARP entry to it. The partition heals in the direction that lets
// the master hear the lower-priority adverts first: it must re-announce
// (≥ garp_lower_prio_repeat GARPs on the client's port, the client's entry
// back on its MAC at once, xvrrp_instance_split_brain_total counted). Then
// the other direction heals and the lower router goes BACKUP. Healed in the
// other order the lower router yields silently and the master hears no
// lower priority: the client then recovers only through its own neighbour
// probing, which is why the rule exists for the order tested here.
func TestMasterRxLowerPrioSendsGARPs_SplitBrainHealed_Keepalived(t *testing.T) {
	lab.RequireTool(t, "nft")
	lan := lab.NewLAN(t, 3)
	hi, lo, client := lan.Hosts[0], lan.Hosts[1], lan.Hosts[2]
	const vipAddr, repeat = "198.18.0.100", 5
	a := inst{name: "VI_1", vrid: 71, prio: 150, state: "MASTER", vips: []string{vipAddr + "/24"}}
	b := a
	b.prio, b.state = 100, "BACKUP"
	nhi := startXvrrpd(t, hi, confOf(a), startOpts{extraArgs: []string{"--metrics-address", "127.0.0.1:9650"}})
	nlo := startXvrrpd(t, lo, confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, hi, vipAddr, 10*time.Second)
	hiMAC, loMAC := hi.MAC(), lo.MAC()
	capt, err := lan.Bridge.StartCapture(client.Port)
	if err != nil {
		t.Fatal(err)
	}
	run(t, client, "ping", "-c", "1", "-W", "2", vipAddr)
	waitNeighMAC(t, client, vipAddr, hiMAC, 2*time.Second, "before the partition")

	lan.Block(hi, lo)
	lan.Block(lo, hi)
	err = lab.Eventually(10*time.Second, func() error {
		if hs := holders(t, lan.Hosts, vipAddr); len(hs) != 2 {
			return fmt.Errorf("VIP held by %v, want both routers", hs)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("partition: %v", err)
	}
	waitNeighMAC(t, client, vipAddr, loMAC, 5*time.Second, "during the partition (the lower master's GARPs)")
	if st := nhi.instance("VI_1"); st.State != "MASTER" || st.SplitBrains != 0 {
		t.Fatalf("higher router during the partition: %s, %d split brains; want MASTER, 0", st.State, st.SplitBrains)
	}

	healed := time.Now()
	lan.Unblock(lo, hi) // the master hears the lower-priority adverts
	waitNeighMAC(t, client, vipAddr, hiMAC, 2*time.Second, "after the master heard the lower priority")
	err = lab.Eventually(5*time.Second, func() error {
		if n := countGARPs(capt, healed, net.ParseIP(vipAddr), hiMAC); n < repeat {
			return fmt.Errorf("%d GARPs for %s from the master on the client's port, want >= %d", n, vipAddr, repeat)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := nhi.instance("VI_1")
	if st.State != "MASTER" || st.SplitBrains == 0 || st.LowerPrioReannouncements == 0 {
		t.Fatalf("higher router after hearing the lower one: %s, %d split brains, %d re-announcements; want MASTER, > 0, > 0",
			st.State, st.SplitBrains, st.LowerPrioReannouncements)
	}
	if m := metric(t, scrape(t, hi), "xvrrp_instance_split_brain_total", map[string]string{"vrrp_instance": "VI_1"}); m < 1 {
		t.Fatalf("xvrrp_instance_split_brain_total = %v, want >= 1", m)
	}

	lan.Unblock(hi, lo)
	waitHolder(t, lan.Hosts, hi, vipAddr, 5*time.Second)
	if got := nlo.instance("VI_1").State; got != "BACKUP" {
		t.Fatalf("lower router after the heal: %s, want BACKUP", got)
	}
	if got := nhi.instance("VI_1").State; got != "MASTER" {
		t.Fatalf("higher router after the heal: %s, want MASTER", got)
	}
	if got := neighMAC(client, vipAddr); got != hiMAC {
		t.Fatalf("client's entry after the heal: %q, want %s", got, hiMAC)
	}
}

// The split brain above with FRR's vrrpd as the lower-priority router, the
// case the rule was measured on: FRR takes the VIP over during the
// partition (its virtual MAC in the client's ARP entry); once xvrrpd, the
// master, hears FRR's lower-priority adverts it sends
// garp_lower_prio_repeat GARPs and the client's entry is xvrrpd's MAC
// again; FRR then hears xvrrpd and goes back to Backup, sending no more
// adverts.
func TestMasterRxLowerPrioSendsGARPs_FRRLowerPriority_Keepalived(t *testing.T) {
	lab.RequireTool(t, "nft")
	lan := lab.NewLAN(t, 3)
	hi, lo, client := lan.Hosts[0], lan.Hosts[1], lan.Hosts[2]
	const vipAddr, repeat, vrid = "198.18.0.100", 5, 72
	a := inst{name: "VI_1", vrid: vrid, prio: 150, state: "MASTER", vips: []string{vipAddr + "/24"}}
	nhi := startXvrrpd(t, hi, confOf(a), startOpts{})
	waitHolder(t, lan.Hosts, hi, vipAddr, 10*time.Second)
	capt, err := lan.Bridge.StartCapture(client.Port)
	if err != nil {
		t.Fatal(err)
	}
	frr := lo.StartFRRVRRP(t, vrid, 100, 100, vipAddr+"/24")
	if err := frr.VRRPD.WaitLog("Backup", 10*time.Second); err != nil {
		t.Fatalf("FRR's vrrpd: %v", err)
	}
	hiMAC, frrMAC := hi.MAC(), "00:00:5e:00:01:48"
	run(t, client, "ping", "-c", "1", "-W", "2", vipAddr)
	waitNeighMAC(t, client, vipAddr, hiMAC, 2*time.Second, "before the partition")

	lan.Block(hi, lo)
	lan.Block(lo, hi)
	waitNeighMAC(t, client, vipAddr, frrMAC, 5*time.Second, "during the partition (FRR master)")

	healed := time.Now()
	lan.Unblock(lo, hi)
	waitNeighMAC(t, client, vipAddr, hiMAC, 2*time.Second, "after xvrrpd heard FRR's lower priority")
	err = lab.Eventually(5*time.Second, func() error {
		if n := countGARPs(capt, healed, net.ParseIP(vipAddr), hiMAC); n < repeat {
			return fmt.Errorf("%d GARPs for %s from xvrrpd on the client's port, want >= %d", n, vipAddr, repeat)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := nhi.instance("VI_1"); st.State != "MASTER" || st.SplitBrains == 0 {
		t.Fatalf("xvrrpd after hearing FRR: %s, %d split brains; want MASTER, > 0", st.State, st.SplitBrains)
	}

	lan.Unblock(hi, lo)
	// FRR in Backup sends no advert: none from its virtual MAC for a
	// second (ten of its intervals).
	err = lab.Eventually(5*time.Second, func() error {
		since := time.Now().Add(-time.Second)
		for _, f := range capt.Frames() {
			if _, _, ok := lab.VRRPPriority(f.Data); ok && !f.At.Before(since) && net.HardwareAddr(f.Data[6:12]).String() == frrMAC {
				return fmt.Errorf("FRR still advertising at %v", f.At.Format(time.StampMilli))
			}
		}
		if time.Since(healed) < 2*time.Second {
			return fmt.Errorf("watching")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	if st := nhi.instance("VI_1"); st.State != "MASTER" {
		t.Fatalf("xvrrpd after the heal: %s, want MASTER", st.State)
	}
	if got := neighMAC(client, vipAddr); got != hiMAC {
		t.Fatalf("client's entry after the heal: %q, want %s", got, hiMAC)
	}
}
