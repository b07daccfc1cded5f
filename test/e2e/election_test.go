package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/test/lab"
)

func TestElectionHighestPriorityOwnsVIP(t *testing.T) {
	lan := lab.NewLAN(t, 3)
	prios := []int{100, 150, 120}
	var nodes []*node
	for i, h := range lan.Hosts {
		nodes = append(nodes, startXvrrpd(t, h, confOf(inst{name: "VI_1", vrid: 51, prio: prios[i], vips: []string{"198.18.0.100/24"}}), startOpts{}))
	}
	waitHolder(t, lan.Hosts, lan.Hosts[1], "198.18.0.100", 10*time.Second)
	// Stable: still exactly one holder after a few more master down intervals.
	time.Sleep(time.Second)
	if hs := holders(t, lan.Hosts, "198.18.0.100"); len(hs) != 1 || hs[0] != lan.Hosts[1].Name {
		t.Fatalf("VIP holders %v, want only %s", hs, lan.Hosts[1].Name)
	}
	if st := nodes[1].instance("VI_1"); st.State != "MASTER" || st.Master != "self" {
		t.Fatalf("h2: state %s master %q, want MASTER self", st.State, st.Master)
	}
	for _, i := range []int{0, 2} {
		st := nodes[i].instance("VI_1")
		if st.State != "BACKUP" || st.Master != lan.Hosts[1].V4 || st.MasterPriority != 150 {
			t.Fatalf("%s: state %s master %q prio %d, want BACKUP following %s at 150", lan.Hosts[i].Name, st.State, st.Master, st.MasterPriority, lan.Hosts[1].V4)
		}
	}
}

// variant is one protocol combination the daemon must serve.
type variant struct {
	name    string
	version int
	v6      bool
	unicast bool
}

var variants = []variant{
	{"v2_multicast_ipv4", 2, false, false},
	{"v3_multicast_ipv4", 3, false, false},
	{"v3_multicast_ipv6", 3, true, false},
	{"v2_unicast_ipv4", 2, false, true},
	{"v3_unicast_ipv4", 3, false, true},
	{"v3_unicast_ipv6", 3, true, true},
}

// pair returns the two hosts' instances for v, h1 at prio1 and h2 at prio2.
func (v variant) pair(lan *lab.LAN, vrid, prio1, prio2 int) (inst, inst, string) {
	vipAddr, vip := "198.18.0.100", "198.18.0.100/24"
	if v.v6 {
		vipAddr, vip = "2001:db8::100", "2001:db8::100/64"
	}
	a := inst{name: "VI_1", vrid: vrid, prio: prio1, version: v.version, vips: []string{vip}}
	b := a
	b.prio = prio2
	if v.version == 2 {
		a.authPass, b.authPass = "s3cret", "s3cret"
	}
	if v.unicast {
		h1, h2 := lan.Hosts[0], lan.Hosts[1]
		if v.v6 {
			a.unicastSrc, a.peers = h1.V6, []string{h2.V6}
			b.unicastSrc, b.peers = h2.V6, []string{h1.V6}
		} else {
			a.unicastSrc, a.peers = h1.V4, []string{h2.V4}
			b.unicastSrc, b.peers = h2.V4, []string{h1.V4}
		}
	}
	return a, b, vipAddr
}

// TestVariantsElectAndFailOver runs election and graceful failover for IPv4
// and IPv6, multicast and unicast, VRRPv2 and v3.
func TestVariantsElectAndFailOver(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			lan := lab.NewLAN(t, 2)
			a, b, vipAddr := v.pair(lan, 60, 150, 100)
			n1 := startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
			startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
			waitHolder(t, lan.Hosts, lan.Hosts[0], vipAddr, 10*time.Second)
			n1.stop()
			waitHolder(t, lan.Hosts, lan.Hosts[1], vipAddr, 5*time.Second)
		})
	}
}

// masterDown is Master_Down_Interval for a backup at prio with the given
// advert interval (RFC 5798 §6.1), the bound the failover tests assert.
func masterDown(prio int, interval time.Duration) time.Duration {
	return fsm.MasterDownInterval(3, uint8(prio), interval)
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

// TestBackupFollowsAFasterMastersInterval: RFC 5798 §6.4.2, a v3 backup
// adopts the master's advert interval. With a master at 20 ms and the
// backup configured for 1 s, the backup's XDP rate limits must follow the
// master's rate, or it hears too few adverts for its 60 ms master down
// interval and takes over while the master is healthy.
func TestBackupFollowsAFasterMastersInterval(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	startXvrrpd(t, lan.Hosts[0], confOf(inst{name: "VI_1", vrid: 51, prio: 150, state: "MASTER", advert: "0.02", vips: []string{"198.18.0.100/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(inst{name: "VI_1", vrid: 51, prio: 100, advert: "1", vips: []string{"198.18.0.100/24"}}), startOpts{})
	err := lab.Eventually(10*time.Second, func() error {
		if st := n2.instance("VI_1"); st.State != "BACKUP" {
			return fmt.Errorf("h2 is %s", st.State)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 5*time.Second)
	st := n2.instance("VI_1")
	for _, tr := range st.Transitions {
		if tr.To == "MASTER" {
			t.Fatalf("h2 took over from a healthy master: %+v", tr)
		}
	}
	if st.State != "BACKUP" {
		t.Fatalf("h2 is %s, want BACKUP", st.State)
	}
}
