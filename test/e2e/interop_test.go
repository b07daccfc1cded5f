package e2e

import (
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// TestInteropWithKeepalived: an xvrrpd node and a keepalived 2.2.7 node in
// one VRID elect and fail over both ways, VRRPv2 (with PASS auth) and v3.
func TestInteropWithKeepalived(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(map[int]string{2: "v2", 3: "v3"}[version], func(t *testing.T) {
			lab.RequireTool(t, "keepalived")
			lan := lab.NewLAN(t, 2)
			hx, hk := lan.Hosts[0], lan.Hosts[1]
			mk := func(prio int) inst {
				i := inst{name: "VI_1", vrid: 77, prio: prio, version: version, vips: []string{"198.18.0.100/24"}}
				if version == 2 {
					i.authPass = "interop"
				}
				return i
			}
			// xvrrpd master, keepalived backup.
			x := startXvrrpd(t, hx, confOf(mk(150)), startOpts{})
			k := startKeepalived(t, hk, confOf(mk(100)), startOpts{})
			waitHolder(t, lan.Hosts, hx, "198.18.0.100", 10*time.Second)
			holdsFor(t, lan.Hosts, hx, "198.18.0.100", 2*time.Second)
			if st := x.instance("VI_1"); st.State != "MASTER" || st.AdvertsSent == 0 {
				t.Fatalf("xvrrpd: %s, sent %d", st.State, st.AdvertsSent)
			}
			// xvrrpd stops: keepalived takes over.
			x.stop()
			waitHolder(t, lan.Hosts, hk, "198.18.0.100", 5*time.Second)
			// xvrrpd comes back with a lower priority: it follows keepalived.
			x = startXvrrpd(t, hx, confOf(mk(50)), startOpts{})
			holdsFor(t, lan.Hosts, hk, "198.18.0.100", 2*time.Second)
			if st := x.instance("VI_1"); st.State != "BACKUP" || st.Master != hk.V4 || st.AdvertsReceived == 0 {
				t.Fatalf("xvrrpd: %s following %q (received %d), want BACKUP following keepalived at %s", st.State, st.Master, st.AdvertsReceived, hk.V4)
			}
			// keepalived stops: xvrrpd takes over.
			k.stop()
			waitHolder(t, lan.Hosts, hx, "198.18.0.100", 5*time.Second)
		})
	}
}
