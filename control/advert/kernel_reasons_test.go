package advert_test

import (
	"testing"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/loader"
)

// TestKernelReasonsNameXDPCounters keeps advert.Reason in sync with the XDP
// program's enum xvrrp_reason (through loader.Reason, itself checked
// against the C enum): every kernel reason a refusal names exists, and no
// XDP counter is claimed by two refusals.
func TestKernelReasonsNameXDPCounters(t *testing.T) {
	xdp := map[string]bool{}
	for _, r := range loader.Reasons() {
		xdp[r.String()] = true
	}
	claimed := map[string]advert.Reason{}
	for r := advert.Accepted; r < advert.NumReasons; r++ {
		for _, k := range r.KernelReasons() {
			if !xdp[k] {
				t.Errorf("%v names XDP reason %q, which the program does not have", r, k)
			}
			if prev, ok := claimed[k]; ok {
				t.Errorf("XDP reason %q is claimed by %v and %v", k, prev, r)
			}
			claimed[k] = r
		}
	}
	// The rules the program applies to the VRRP bytes that Check applies
	// again: each has its refusal.
	for _, k := range []string{"bad_checksum", "bad_length", "bad_version", "bad_type", "bad_auth_type", "peer_not_allowed"} {
		if _, ok := claimed[k]; !ok {
			t.Errorf("XDP reason %q maps to no refusal", k)
		}
	}
}
