package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
)

// TestSameIdentityDecidesInPlaceReload_Keepalived: keepalived's reload keeps
// an instance whose identity is unchanged and applies its other parameters
// in place; a change of identity (name, interface, VRID, family, version,
// unicast/multicast, use_vmac, source address, address ownership) rebuilds it.
func TestSameIdentityDecidesInPlaceReload_Keepalived(t *testing.T) {
	base := config.Instance{Name: "VI_1", Interface: "eth0", VRID: 51, Family: 4, Version: 3, Priority: 200,
		AdvertInterval: time.Second, McastGroup: netip.MustParseAddr("224.0.0.18")}
	for _, c := range []struct {
		name string
		mod  func(*config.Instance)
		same bool
	}{
		{"Priority", func(in *config.Instance) { in.Priority = 190 }, true},
		{"AdvertInterval", func(in *config.Instance) { in.AdvertInterval = 100 * time.Millisecond }, true},
		{"Nopreempt", func(in *config.Instance) { in.Nopreempt = true }, true},
		{"PreemptDelay", func(in *config.Instance) { in.PreemptDelay = time.Second }, true},
		{"VIPs", func(in *config.Instance) {
			in.VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("198.18.0.100/24")}}
		}, true},
		{"Name", func(in *config.Instance) { in.Name = "VI_2" }, false},
		{"Interface", func(in *config.Instance) { in.Interface = "eth1" }, false},
		{"VRID", func(in *config.Instance) { in.VRID = 52 }, false},
		{"Family", func(in *config.Instance) { in.Family = 6 }, false},
		{"Version", func(in *config.Instance) { in.Version = 2 }, false},
		{"Unicast", func(in *config.Instance) {
			in.UnicastPeers = []config.UnicastPeer{{Addr: netip.MustParseAddr("198.18.0.12")}}
		}, false},
		{"UseVMAC", func(in *config.Instance) { in.UseVMAC = true }, false},
		{"SrcIP", func(in *config.Instance) { in.SrcIP = netip.MustParseAddr("198.18.0.11") }, false},
		{"Owner", func(in *config.Instance) { in.Priority = 255 }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base
			c.mod(&b)
			if got := sameIdentity(&base, &b); got != c.same {
				t.Fatalf("sameIdentity after changing %s = %v, want %v", c.name, got, c.same)
			}
		})
	}
}
