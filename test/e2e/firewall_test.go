package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// firewall is a rule set that hides VRRP from a host, the cause of
// keepalived's best-known outage (two masters).
type firewall struct {
	name  string
	tool  string
	apply func(t *testing.T, h *lab.Host)
}

var inputFirewalls = []firewall{
	{"iptables_input_drop_proto_112", "iptables", func(t *testing.T, h *lab.Host) {
		run(t, h, "iptables", "-A", "INPUT", "-p", "112", "-j", "DROP")
	}},
	{"nft_input_drop_224_0_0_18", "nft", func(t *testing.T, h *lab.Host) {
		run(t, h, "nft", "add table inet xvrrp_test")
		run(t, h, "nft", "add chain inet xvrrp_test input { type filter hook input priority 0 ; }")
		run(t, h, "nft", "add rule inet xvrrp_test input ip daddr 224.0.0.18 drop")
	}},
}

var outputFirewalls = []firewall{
	{"iptables_output_drop_proto_112", "iptables", func(t *testing.T, h *lab.Host) {
		run(t, h, "iptables", "-A", "OUTPUT", "-p", "112", "-j", "DROP")
	}},
	{"nft_output_drop_224_0_0_18", "nft", func(t *testing.T, h *lab.Host) {
		run(t, h, "nft", "add table inet xvrrp_test")
		run(t, h, "nft", "add chain inet xvrrp_test output { type filter hook output priority 0 ; }")
		run(t, h, "nft", "add rule inet xvrrp_test output ip daddr 224.0.0.18 drop")
	}},
}

const firewallHold = 10 * time.Second

func firewallPair() (inst, inst) {
	a := inst{name: "VI_1", vrid: 51, prio: 150, version: 2, advert: "1", vips: []string{"198.18.0.100/24"}}
	b := a
	b.prio = 100
	return a, b
}

// TestFirewallOnBackupDoesNotMakeTwoMasters: the backup's INPUT chain drops
// VRRP, yet XDP sees the adverts first: it stays BACKUP, one VIP holder.
func TestFirewallOnBackupDoesNotMakeTwoMasters(t *testing.T) {
	for _, fw := range inputFirewalls {
		t.Run(fw.name, func(t *testing.T) {
			lab.RequireTool(t, fw.tool)
			lan := lab.NewLAN(t, 2)
			a, b := firewallPair()
			startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
			n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
			waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
			fw.apply(t, lan.Hosts[1])
			holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", firewallHold)
			if st := n2.instance("VI_1"); st.State != "BACKUP" {
				t.Fatalf("backup behind the firewall is %s, want BACKUP", st.State)
			}
		})
	}
}

// TestFirewallOnMasterOutputDoesNotSilenceIt: adverts leave on AF_PACKET,
// below netfilter's OUTPUT chain.
func TestFirewallOnMasterOutputDoesNotSilenceIt(t *testing.T) {
	for _, fw := range outputFirewalls {
		t.Run(fw.name, func(t *testing.T) {
			lab.RequireTool(t, fw.tool)
			lan := lab.NewLAN(t, 2)
			a, b := firewallPair()
			startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
			n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
			waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
			fw.apply(t, lan.Hosts[0])
			holdsFor(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", firewallHold)
			if st := n2.instance("VI_1"); st.State != "BACKUP" {
				t.Fatalf("backup is %s while the master's OUTPUT drops VRRP, want BACKUP", st.State)
			}
		})
	}
}

// TestKeepalivedBehindFirewallGoesDualMaster runs the same scenarios with
// keepalived on both hosts and requires the outage to happen — the backup's
// INPUT rules hide the master's adverts from its raw socket, and the
// master's OUTPUT rules stop them leaving — so the xvrrpd tests above prove
// a difference and not an empty setup.
func TestKeepalivedBehindFirewallGoesDualMaster(t *testing.T) {
	cases := []struct {
		fw firewall
		on int // the host whose firewall gets the rules
	}{}
	for _, fw := range inputFirewalls {
		cases = append(cases, struct {
			fw firewall
			on int
		}{fw, 1})
	}
	for _, fw := range outputFirewalls {
		cases = append(cases, struct {
			fw firewall
			on int
		}{fw, 0})
	}
	for _, c := range cases {
		t.Run(c.fw.name, func(t *testing.T) {
			lab.RequireTool(t, c.fw.tool)
			lan := lab.NewLAN(t, 2)
			a, b := firewallPair()
			startKeepalived(t, lan.Hosts[0], confOf(a), startOpts{})
			startKeepalived(t, lan.Hosts[1], confOf(b), startOpts{})
			waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 15*time.Second)
			c.fw.apply(t, lan.Hosts[c.on])
			err := lab.Eventually(firewallHold, func() error {
				if hs := holders(t, lan.Hosts, "198.18.0.100"); len(hs) != 2 {
					return fmt.Errorf("VIP holders %v, not both hosts", hs)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("keepalived did not go dual-master with %s on %s: %v", c.fw.name, lan.Hosts[c.on].Name, err)
			}
		})
	}
}
