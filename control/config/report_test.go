package config

import (
	"strings"
	"testing"
)

// TestMigrationReport_CountsPerKeyword: the report an operator reads after
// xvrrpd -t puts each keyword in one section with its count and reason;
// keepalived adjustments are named after their keyword (never "other"), and
// what a warning says is not done in this file (auth_type AH, an untracked
// vrrp_script) is listed even when the keyword itself is served.
func TestMigrationReport_CountsPerKeyword(t *testing.T) {
	src := `global_defs {
 notification_email_from a@b
 vrrp_garp_interval 0
}
vrrp_script unused {
 script /bin/true
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 51
 priority 100
 authentication {
  auth_type AH
  auth_pass 0123456789
 }
 virtual_ipaddress {
  198.18.0.1
 }
 unicast_ttl 10
}
vrrp_instance VI_2 {
 interface eth0
 virtual_router_id 52
 priority 100
 virtual_ipaddress {
  198.18.0.2
 }
}
`
	c, w, err := Parse("k.conf", []byte(src), Options{ConfigID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	got := MigrationReport(c, w)
	for _, want := range []string{
		"vrrp_instance virtual_router_id ×2",
		"vrrp_instance priority ×2",
		"  adjusted as keepalived adjusts them (see the warnings above) (2): auth_pass ×1, vrrp_garp_interval ×1\n",
		"  parsed and checked, not served yet (1):\n    vrrp_instance unicast_ttl ×1: unicast adverts are sent with TTL 255 (RFC 5798 §5.1.1.3) whatever is configured\n",
		"  ignored (1):\n    global_defs notification_email_from ×1: SMTP alerts are not sent; use notify scripts\n",
		"  not done in this file (see the warnings above) (2): auth_type AH ×1, vrrp_script ×1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "other") {
		t.Errorf("report has an unnamed adjustment:\n%s", got)
	}
}
