package e2e

import (
	"fmt"
	"strings"
)

// inst describes one vrrp_instance for a test configuration.
type inst struct {
	name         string
	vrid         int
	prio         int
	state        string // MASTER or BACKUP (default BACKUP)
	version      int    // 2 or 3 (default 3)
	advert       string // advert_int (default 0.1 for v3, 1 for v2)
	vips         []string
	unicastSrc   string
	peers        []string
	nopreempt    bool
	preemptDelay string
	authPass     string
	extra        string // more lines inside the block
}

func (i inst) conf() string {
	if i.state == "" {
		i.state = "BACKUP"
	}
	if i.version == 0 {
		i.version = 3
	}
	if i.advert == "" {
		i.advert = "0.1"
		if i.version == 2 {
			i.advert = "1"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vrrp_instance %s {\n", i.name)
	fmt.Fprintf(&b, "    state %s\n    interface eth0\n    virtual_router_id %d\n    priority %d\n", i.state, i.vrid, i.prio)
	fmt.Fprintf(&b, "    version %d\n    advert_int %s\n", i.version, i.advert)
	if i.nopreempt {
		b.WriteString("    nopreempt\n")
	}
	if i.preemptDelay != "" {
		fmt.Fprintf(&b, "    preempt_delay %s\n", i.preemptDelay)
	}
	if i.authPass != "" {
		fmt.Fprintf(&b, "    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", i.authPass)
	}
	if i.unicastSrc != "" {
		fmt.Fprintf(&b, "    unicast_src_ip %s\n    unicast_peer {\n", i.unicastSrc)
		for _, p := range i.peers {
			fmt.Fprintf(&b, "        %s\n", p)
		}
		b.WriteString("    }\n")
	}
	b.WriteString("    virtual_ipaddress {\n")
	for _, v := range i.vips {
		fmt.Fprintf(&b, "        %s\n", v)
	}
	b.WriteString("    }\n")
	b.WriteString(i.extra)
	b.WriteString("}\n")
	return b.String()
}

func confOf(insts ...inst) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id xvrrp_e2e\n    vrrp_garp_master_delay 0\n}\n")
	for _, i := range insts {
		b.WriteString(i.conf())
	}
	return b.String()
}
