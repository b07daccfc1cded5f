package vip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AnnouncerConfig configures an Announcer.
type AnnouncerConfig struct {
	// Ifindex is the interface the VIPs live on.
	Ifindex int
	// SourceMAC is the MAC announced for the VIPs (Ethernet source, ARP
	// sender, NA target link-layer address); nil means the interface's,
	// with use_vmac pass VirtualRouterMAC(ipv6, vrid).
	SourceMAC net.HardwareAddr
	// Router sets the NA Router flag. keepalived sets it when the interface
	// forwards IPv6; IPv6Forwarding reads that setting.
	Router bool
}

// Announcer sends gratuitous ARPs for IPv4 VIPs and unsolicited neighbour
// advertisements for IPv6 VIPs. Both go out on an AF_PACKET socket:
//   - the source MAC can be the VMAC, which an ICMPv6 socket cannot give;
//   - netfilter's OUTPUT chain cannot drop them (an ip6tables rule dropping
//     ICMPv6 must not silently break failover), the same reason adverts use
//     AF_PACKET;
//   - the hop limit is 255 by construction (RFC 4861 §7.1.2).
type Announcer struct {
	cfg    AnnouncerConfig
	ifname string
	fd     int
	nl     *netlink.Handle
	srcMAC [6]byte
	sleep  func(context.Context, time.Duration) error

	mu sync.Mutex // guards fd against Close during a send
}

// NewAnnouncer opens the AF_PACKET socket in the calling thread's network
// namespace.
func NewAnnouncer(cfg AnnouncerConfig) (*Announcer, error) {
	ifi, err := net.InterfaceByIndex(cfg.Ifindex)
	if err != nil {
		return nil, fmt.Errorf("announcer: interface %d: %w", cfg.Ifindex, err)
	}
	mac := cfg.SourceMAC
	if mac == nil {
		mac = ifi.HardwareAddr
	}
	src, err := hwAddr6(mac)
	if err != nil {
		return nil, fmt.Errorf("announcer on %s: source MAC: %w", ifi.Name, err)
	}
	// The handle finds the link-local source for NAs later, from whatever
	// thread SendBurst runs on, in this namespace.
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("announcer on %s: open rtnetlink handle: %w", ifi.Name, err)
	}
	fd, err := openPacketSocket(cfg.Ifindex)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("announcer on %s: %w", ifi.Name, err)
	}
	return &Announcer{cfg: cfg, ifname: ifi.Name, fd: fd, nl: nl, srcMAC: src, sleep: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Close closes the socket.
func (a *Announcer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fd < 0 {
		return nil
	}
	a.nl.Close()
	err := unix.Close(a.fd)
	a.fd = -1
	return err
}

// Announce sends one message per VIP, at once: a gratuitous ARP for each
// IPv4 VIP and an unsolicited NA for each IPv6 VIP.
func (a *Announcer) Announce(vips []VIP) error {
	return a.SendBurst(context.Background(), vips, Burst{Repeat: 1})
}

// SendBurst sends b.Repeat rounds of announcements for vips, each round
// announcing every VIP once (keepalived's order), waiting b.ARPInterval
// between consecutive ARPs and b.NAInterval between consecutive NAs. It does
// no scheduling beyond those gaps: the daemon calls it with
// GARPConfig.EntryBurst at MASTER entry, DelayedBurst after its delay and
// RefreshBurst periodically. It returns early if ctx ends (e.g. the
// instance left MASTER).
//
// Messages not separated by a gap go out many per sendmmsg(2): 10,000
// VIPs' first announcements take milliseconds, not 10,000 writes. A
// message that cannot be sent is reported and the others are still sent:
// one bad address must not leave the rest pointing at the old master.
func (a *Announcer) SendBurst(ctx context.Context, vips []VIP, b Burst) error {
	var sentARP, sentNA bool
	var errs []error
	var batch announceBatch
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = a.send(&batch, errs)
		return nil
	}
	for r := 0; r < b.Repeat; r++ {
		for _, v := range vips {
			gap, sent := b.ARPInterval, &sentARP
			if v.Is6() {
				gap, sent = b.NAInterval, &sentNA
			}
			if *sent && gap > 0 {
				if err := flush(); err != nil {
					return errors.Join(append(errs, err)...)
				}
				if err := a.sleep(ctx, gap); err != nil {
					return errors.Join(append(errs, err)...)
				}
			}
			if err := batch.add(a, v); err != nil {
				errs = append(errs, err)
			}
			*sent = true
			if len(batch.vips) == announceChunk {
				if err := flush(); err != nil {
					return errors.Join(append(errs, err)...)
				}
			}
		}
	}
	if err := flush(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// announceChunk is the most announcements built before they are sent: the
// first ones leave while the rest are being built, and a burst's memory
// stays bounded (~100 KB).
const announceChunk = 16 * maxSendmmsg

// announceBatch is a run of announcement frames built back to back.
type announceBatch struct {
	arena  []byte
	ends   []int
	vips   []netip.Addr
	frames mmsgFrames
}

// add builds the announcement of v: keepalived's gratuitous ARP
// (vrrp_arp.c send_gratuitous_arp_immediate, see appendGratuitousARP) or
// an unsolicited NA sourced from the VIP itself: RFC 4861 §7.2.6 wants an
// address assigned to the interface as source, and the master has just
// assigned the VIP, as keepalived does (vrrp_ndisc.c). The interface's
// link-local address may still be tentative when a unicast instance
// becomes master at boot; the VIP is usable at once.
func (ab *announceBatch) add(a *Announcer, v VIP) error {
	addr := v.Addr()
	if v.Is6() {
		ab.arena = appendUnsolicitedNA(ab.arena, a.srcMAC, addr, addr, a.cfg.Router)
	} else {
		arena, err := appendGratuitousARP(ab.arena, a.srcMAC, addr)
		if err != nil {
			return err
		}
		ab.arena = arena
	}
	ab.ends = append(ab.ends, len(ab.arena))
	ab.vips = append(ab.vips, addr)
	return nil
}

// send sends the batch, empties it, and appends an error per frame the
// kernel refused to errs.
func (a *Announcer) send(ab *announceBatch, errs []error) []error {
	if len(ab.ends) == 0 {
		return errs
	}
	a.mu.Lock()
	ab.frames.send(a.fd, ab.arena, len(ab.ends), func(i int) int { return ab.ends[i] }, func(i int, e unix.Errno) {
		what := "gratuitous ARP"
		if ab.vips[i].Is6() {
			what = "unsolicited NA"
		}
		errs = append(errs, fmt.Errorf("send %s for %v on %s: %w", what, ab.vips[i], a.ifname, e))
	})
	a.mu.Unlock()
	ab.arena, ab.ends, ab.vips = ab.arena[:0], ab.ends[:0], ab.vips[:0]
	return errs
}

// IPv6Forwarding reports whether ifname forwards IPv6 (its
// net.ipv6.conf.<ifname>.forwarding sysctl, read in the calling thread's
// network namespace), for AnnouncerConfig.Router.
func IPv6Forwarding(ifname string) (bool, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifname + "/forwarding")
	if err != nil {
		return false, fmt.Errorf("read IPv6 forwarding of %s: %w", ifname, err)
	}
	return strings.TrimSpace(string(b)) != "0", nil
}
