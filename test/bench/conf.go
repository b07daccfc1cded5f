package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Layout is the set of VRRP instances both nodes run: Instances per
// interface on each of Ifaces, VRIDs from 1.
type Layout struct {
	Ifaces    []string // e.g. ["eth0"] or ["eth0.10", ..., "eth0.13"]
	Instances int      // per interface, at most 255
	Interval  time.Duration
}

// Total is the number of instances in the layout.
func (ly Layout) Total() int { return len(ly.Ifaces) * ly.Instances }

// Rate is the adverts per second a master of the layout sends.
func (ly Layout) Rate() float64 { return float64(ly.Total()) / ly.Interval.Seconds() }

// VIP is the address instance vrid on interface number ifIdx owns: one /32
// per instance from 198.18.(2+ifIdx).0/24 (RFC 2544 range), so no two
// instances share one.
func VIP(ifIdx, vrid int) string { return fmt.Sprintf("198.18.%d.%d", 2+ifIdx, vrid) }

// advertInt formats d as keepalived's advert_int (seconds, VRRPv3 allows
// centiseconds).
func advertInt(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// KeepalivedConf renders the keepalived.conf both daemons read unchanged.
// Every instance starts in BACKUP (the election decides) with the node's
// priority; no instance tracks anything, so the only transitions are the
// protocol's own.
func KeepalivedConf(routerID string, ly Layout, priority int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n    vrrp_version 3\n    vrrp_garp_master_delay 0\n    vrrp_garp_master_repeat 1\n}\n\n", routerID)
	for i, ifname := range ly.Ifaces {
		for vrid := 1; vrid <= ly.Instances; vrid++ {
			fmt.Fprintf(&b, "vrrp_instance VI_%d_%d {\n    state BACKUP\n    interface %s\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n    virtual_ipaddress {\n        %s/32\n    }\n}\n\n",
				i, vrid, ifname, vrid, priority, advertInt(ly.Interval), VIP(i, vrid))
		}
	}
	return b.String()
}

// MasterDownInterval is RFC 5798 section 6.1: (3 * Advertisement_Interval)
// + Skew_Time, with Skew_Time = ((256 - Priority) * Advertisement_Interval)
// / 256 (RFC 5798 section 6.1, VRRPv3).
func MasterDownInterval(interval time.Duration, priority int) time.Duration {
	return 3*interval + SkewTime(interval, priority)
}

// SkewTime is RFC 5798 section 6.1's Skew_Time for VRRPv3.
func SkewTime(interval time.Duration, priority int) time.Duration {
	return time.Duration(int64(256-priority) * int64(interval) / 256)
}
