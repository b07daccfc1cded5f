package vip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// dummyNS is a namespace with a veth pair d0/d1, both up, for address
// churn on d0 (the lab kernel has no dummy driver).
func dummyNS(t testing.TB) *lab.NS {
	t.Helper()
	ns := lab.NewNS(t, "m")
	ns.IP("link", "add", "d0", "type", "veth", "peer", "name", "d1")
	ns.IP("link", "set", "d0", "up")
	ns.IP("link", "set", "d1", "up")
	return ns
}

// benchVIPs returns n VIPs on d0: IPv4 from 198.18.64.0/18, IPv6 from
// 2001:db8:1::/64 (nodad, keepalived's default).
func benchVIPs(n int, v6 bool) []VIP {
	vips := make([]VIP, n)
	for i := range vips {
		var a netip.Addr
		if v6 {
			b := netip.MustParseAddr("2001:db8:1::").As16()
			b[14], b[15] = byte((i+1)>>8), byte(i+1)
			a = netip.AddrFrom16(b)
		} else {
			a = netip.AddrFrom4([4]byte{198, 18, 64 + byte((i+1)>>8), byte(i + 1)})
		}
		vips[i] = VIP{Prefix: netip.PrefixFrom(a, a.BitLen()), Dev: "d0"}
	}
	return vips
}

// BenchmarkVIPChurn adds then removes N VIPs on a veth through
// the production paths, and through `ip -batch` for reference; the
// us/addr metric is the cost of one address change (an add or a remove).
func BenchmarkVIPChurn(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, v6 := range []bool{false, true} {
			fam := "v4"
			if v6 {
				fam = "v6"
			}
			vips := benchVIPs(n, v6)
			b.Run(fmt.Sprintf("OneByOne/%s/N=%d", fam, n), func(b *testing.B) {
				if n > 1000 && testing.Short() {
					b.Skip("slow path at 10,000 in -short")
				}
				ns := dummyNS(b)
				var m *Manager
				must(b, ns.Do(func() error { var err error; m, err = NewManager(); return err }))
				defer m.Close()
				start := time.Now()
				for b.Loop() {
					must(b, ns.Do(func() error {
						for _, v := range vips {
							if err := m.Add(v); err != nil {
								return err
							}
						}
						for _, v := range vips {
							if err := m.Remove(v); err != nil {
								return err
							}
						}
						return nil
					}))
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*2*n), "us/addr")
			})
			b.Run(fmt.Sprintf("Apply/%s/N=%d", fam, n), func(b *testing.B) {
				m := newDummyManager(b)
				var add, del time.Duration
				for b.Loop() {
					t0 := time.Now()
					noErrors(b, m.Apply(ops(true, vips)))
					t1 := time.Now()
					noErrors(b, m.Apply(ops(false, vips)))
					add, del = add+t1.Sub(t0), del+time.Since(t1)
				}
				b.ReportMetric(float64(add.Microseconds())/float64(b.N*n), "us/add")
				b.ReportMetric(float64(del.Microseconds())/float64(b.N*n), "us/del")
				b.ReportMetric(float64((add+del).Microseconds())/float64(b.N*2*n), "us/addr")
			})
			b.Run(fmt.Sprintf("IPBatch/%s/N=%d", fam, n), func(b *testing.B) {
				ns := dummyNS(b)
				dir := b.TempDir()
				var add, del strings.Builder
				for _, v := range vips {
					extra := ""
					if v6 {
						extra = " nodad"
					}
					fmt.Fprintf(&add, "addr add %s dev d0%s\n", v.Prefix, extra)
					fmt.Fprintf(&del, "addr del %s dev d0\n", v.Prefix)
				}
				addF, delF := filepath.Join(dir, "add"), filepath.Join(dir, "del")
				must(b, os.WriteFile(addF, []byte(add.String()), 0o600))
				must(b, os.WriteFile(delF, []byte(del.String()), 0o600))
				start := time.Now()
				for b.Loop() {
					ns.IP("-batch", addF)
					ns.IP("-batch", delF)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*2*n), "us/addr")
			})
		}
	}
}

// BenchmarkSendBurst announces 10,000 IPv4 VIPs once (a MASTER entry's
// first round); us/vip is the cost of one gratuitous ARP.
func BenchmarkSendBurst(b *testing.B) {
	ns := dummyNS(b)
	var a *Announcer
	must(b, ns.Do(func() error {
		ifi, err := net.InterfaceByName("d0")
		if err != nil {
			return err
		}
		a, err = NewAnnouncer(AnnouncerConfig{Ifindex: ifi.Index})
		return err
	}))
	defer a.Close()
	vips := benchVIPs(10000, false)
	start := time.Now()
	for b.Loop() {
		must(b, a.SendBurst(context.Background(), vips, Burst{Repeat: 1}))
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*len(vips)), "us/vip")
}
