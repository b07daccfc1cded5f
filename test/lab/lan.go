package lab

import (
	"fmt"
	"net"
	"testing"
)

// LAN is one Ethernet segment: a bridge in its own namespace and hosts, each
// in a namespace of its own, plugged into it with a veth pair whose host end
// is named eth0. Host i (from 1) gets 198.18.0.(10+i)/24 and
// 2001:db8::(10+i)/64, the convention of test/examples.
type LAN struct {
	Bridge *NS
	Hosts  []*Host
	t      testing.TB
}

// Host is one lab machine.
type Host struct {
	*NS
	Index int
	// Port is the bridge-side end of the host's eth0, inside LAN.Bridge;
	// setting it down cuts the host off the segment.
	Port string
	V4   string // e.g. 198.18.0.11
	V6   string // e.g. 2001:db8::11
}

const bridgeName = "br0"

// NewLAN builds a segment with n hosts.
func NewLAN(t testing.TB, n int) *LAN {
	t.Helper()
	l := &LAN{Bridge: NewNS(t, "br"), t: t}
	l.Bridge.Bridge(bridgeName)
	for i := 1; i <= n; i++ {
		l.AddHost()
	}
	return l
}

// AddHost plugs one more host into the segment.
func (l *LAN) AddHost() *Host {
	l.t.Helper()
	i := len(l.Hosts) + 1
	h := &Host{NS: NewNS(l.t, fmt.Sprintf("h%d", i)), Index: i, Port: fmt.Sprintf("p%d", i),
		V4: fmt.Sprintf("198.18.0.%d", 10+i), V6: fmt.Sprintf("2001:db8::%d", 10+i)}
	Veth(l.t, h.NS, "eth0", l.Bridge, h.Port)
	l.Bridge.IP("link", "set", h.Port, "master", bridgeName)
	h.IP("addr", "add", h.V4+"/24", "dev", "eth0")
	// nodad: the address is usable at once, no 1 s of tentative state.
	h.IP("addr", "add", h.V6+"/64", "dev", "eth0", "nodad")
	l.Hosts = append(l.Hosts, h)
	return h
}

// Cut takes the host's bridge port down: the host's eth0 loses carrier, as
// when its cable is pulled.
func (l *LAN) Cut(h *Host) { l.Bridge.IP("link", "set", h.Port, "down") }

// Restore undoes Cut.
func (l *LAN) Restore(h *Host) { l.Bridge.IP("link", "set", h.Port, "up") }

// MAC returns the hardware address of the host's eth0.
func (h *Host) MAC() string {
	h.t.Helper()
	var mac string
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr.String()
		return nil
	})
	if err != nil {
		h.t.Fatalf("MAC of eth0 in %s: %v", h.Name, err)
	}
	return mac
}

// partitionTable is the nftables bridge-family table Block fills in the
// bridge's namespace.
const partitionTable = "xvpart"

// Block drops, on the bridge, every frame from host from to host to (one
// direction: Block(a, b) and Block(b, a) partition the pair; other hosts
// still reach both). The drop happens in the bridge's forward hook, so the
// frame never reaches to's eth0: unlike a firewall rule on the host, it is
// below to's XDP program, as a broken link or switch ACL would be.
func (l *LAN) Block(from, to *Host) {
	l.t.Helper()
	b := l.Bridge
	if _, err := Output("ip", "netns", "exec", b.Name, "nft", "list", "table", "bridge", partitionTable); err != nil {
		b.Run("nft", "add", "table", "bridge", partitionTable)
	}
	chain := "c" + from.Port + to.Port
	b.Run("nft", "add", "chain", "bridge", partitionTable, chain,
		"{ type filter hook forward priority 0 ; policy accept ; }")
	b.Run("nft", "add", "rule", "bridge", partitionTable, chain,
		"iifname", from.Port, "oifname", to.Port, "drop")
}

// Unblock undoes Block(from, to).
func (l *LAN) Unblock(from, to *Host) {
	l.t.Helper()
	chain := "c" + from.Port + to.Port
	l.Bridge.Run("nft", "flush", "chain", "bridge", partitionTable, chain)
	l.Bridge.Run("nft", "delete", "chain", "bridge", partitionTable, chain)
}
