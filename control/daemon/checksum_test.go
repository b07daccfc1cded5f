package daemon

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/config"
)

// TestChecksumOptions: keepalived's checksum compatibility keywords reach
// the advert encoder and decoder with keepalived.conf(5)'s meaning.
func TestChecksumOptions(t *testing.T) {
	src, peer := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	unicast := func(mode config.UnicastChecksum, asV2 bool) *config.Instance {
		return &config.Instance{Version: 3, Family: 4, UnicastPeers: []config.UnicastPeer{{Addr: peer}},
			OldUnicastChecksum: mode, V3ChecksumAsV2: asV2}
	}
	tests := []struct {
		name string
		in   *config.Instance
		enc  advert.EncodeOptions
		dec  advert.DecodeOptions
	}{
		// Default: send the RFC form, accept the old one too ("keepalived
		// will attempt to maintain compatibility anyway").
		{"UnicastAuto", unicast(config.UnicastChecksumAuto, false),
			advert.EncodeOptions{}, advert.DecodeOptions{LegacyUnicastChecksum: true}},
		// old_unicast_checksum: "forces the old checksum algorithm to be used".
		{"UnicastOld", unicast(config.UnicastChecksumOld, false),
			advert.EncodeOptions{LegacyUnicastChecksum: true}, advert.DecodeOptions{LegacyUnicastChecksum: true}},
		// old_unicast_checksum never: "turn off auto detection".
		{"UnicastNever", unicast(config.UnicastChecksumNever, false),
			advert.EncodeOptions{}, advert.DecodeOptions{}},
		// v3_checksum_as_v2: sent and verified without the pseudo-header.
		{"UnicastAsV2", unicast(config.UnicastChecksumAuto, true),
			advert.EncodeOptions{ChecksumAsV2: true}, advert.DecodeOptions{ChecksumAsV2: true, LegacyUnicastChecksum: true}},
		{"MulticastAsV2", &config.Instance{Version: 3, Family: 4, V3ChecksumAsV2: true},
			advert.EncodeOptions{ChecksumAsV2: true}, advert.DecodeOptions{ChecksumAsV2: true}},
		// keepalived retries the old form for instances with unicast peers only.
		{"MulticastDefault", &config.Instance{Version: 3, Family: 4},
			advert.EncodeOptions{}, advert.DecodeOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, dec := checksumOptions(tt.in)
			if enc != tt.enc || dec != tt.dec {
				t.Errorf("checksumOptions = %+v, %+v; want %+v, %+v", enc, dec, tt.enc, tt.dec)
			}
		})
	}

	// On the wire: an advert from keepalived <= 1.3.6 (or one configured
	// with old_unicast_checksum) is accepted by a default unicast instance
	// and refused with `old_unicast_checksum never`.
	a := advert.Advert{Version: 3, Type: advert.TypeAdvertisement, VRID: 7, Priority: 100, Interval: 100,
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.7.1")}}
	oldEnc, _ := checksumOptions(unicast(config.UnicastChecksumOld, false))
	old, err := a.Append(nil, src, peer, oldEnc)
	if err != nil {
		t.Fatal(err)
	}
	_, autoDec := checksumOptions(unicast(config.UnicastChecksumAuto, false))
	var got advert.Advert
	if err := advert.Decode(old, src, peer, autoDec, &got); err != nil || !got.LegacyChecksum {
		t.Errorf("default instance, old unicast checksum: err %v LegacyChecksum %v; want accepted as legacy", err, got.LegacyChecksum)
	}
	_, neverDec := checksumOptions(unicast(config.UnicastChecksumNever, false))
	if err := advert.Decode(old, src, peer, neverDec, &got); !errors.Is(err, advert.ErrChecksum) {
		t.Errorf("old_unicast_checksum never, old unicast checksum: err %v, want ErrChecksum", err)
	}

	// Two v3_checksum_as_v2 instances understand each other; a default
	// instance does not understand them.
	asV2Enc, asV2Dec := checksumOptions(unicast(config.UnicastChecksumAuto, true))
	b, err := a.Append(nil, src, peer, asV2Enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := advert.Decode(b, src, peer, asV2Dec, &got); err != nil {
		t.Errorf("v3_checksum_as_v2 both sides: %v", err)
	}
	if err := advert.Decode(b, src, peer, autoDec, &got); !errors.Is(err, advert.ErrChecksum) {
		t.Errorf("v3_checksum_as_v2 sender, default receiver: err %v, want ErrChecksum", err)
	}
}
