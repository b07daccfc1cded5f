package daemon

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/config"
)

// TestReceivePolicyFollowsTheConfiguration: the policy advert.Check applies
// is the instance's: check_unicast_src lists the peers (without it, any
// source the XDP peer filter let through is accepted), skip_check_adv_addr
// turns the address list check off, and a v2 password is the one sent.
func TestReceivePolicyFollowsTheConfiguration(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.2")
	vip := netip.MustParseAddr("198.18.1.1")
	tmpl := advert.Advert{Version: 2, Interval: 3, AuthType: advert.AuthPass, AuthData: advert.Password("pw"), Addrs: []netip.Addr{vip}}
	dec := advert.DecodeOptions{LegacyUnicastChecksum: true}
	for _, c := range []struct {
		name      string
		in        config.Instance
		wantPeers []netip.Addr
		wantSkip  bool
	}{
		{"UnicastPeersAnySource_Keepalived", config.Instance{UnicastPeers: []config.UnicastPeer{{Addr: peer}}}, nil, false},
		{"CheckUnicastSrc_Keepalived", config.Instance{CheckUnicastSrc: true, UnicastPeers: []config.UnicastPeer{{Addr: peer}}}, []netip.Addr{peer}, false},
		{"SkipCheckAdvAddr_Keepalived", config.Instance{SkipCheckAdvAddr: true}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := receivePolicy(&c.in, tmpl, dec)
			if p.Version != 2 || p.Interval != 3 || !p.Auth || p.Pass != advert.Password("pw") ||
				!slices.Equal(p.Addrs, tmpl.Addrs) || p.Decode != dec {
				t.Fatalf("policy %+v does not follow the advert sent %+v", p, tmpl)
			}
			if !slices.Equal(p.Peers, c.wantPeers) || p.SkipAddrs != c.wantSkip {
				t.Fatalf("peers %v skip %v, want %v %v", p.Peers, p.SkipAddrs, c.wantPeers, c.wantSkip)
			}
		})
	}
}
