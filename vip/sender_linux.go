package vip

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Ifindex is the interface adverts leave from.
	Ifindex int
	// SourceMAC is the Ethernet source; nil means the interface's own
	// address (keepalived's default). With use_vmac pass
	// VirtualRouterMAC(ipv6, vrid).
	SourceMAC net.HardwareAddr
	// ResolveTimeout is how long the background resolution of a unicast
	// peer's MAC waits for the kernel after a probe before it reports the
	// peer unresolved (default 1 s). SendAdvert never waits for it.
	ResolveTimeout time.Duration
	// NeighbourRefresh is how long a resolved peer MAC is used before the
	// kernel's table is read again in the background, which notices a
	// replaced peer's new MAC (default 5 s). The old MAC stays in use until
	// the re-read answers.
	NeighbourRefresh time.Duration
	// NeighbourRetry is how long after a failed resolution the next probe
	// may start (default 1 s); adverts to the peer meanwhile fail at once
	// with ErrNeighbourUnresolved.
	NeighbourRetry time.Duration
}

// Sender transmits VRRP adverts on one interface through an AF_PACKET
// socket, with an Ethernet frame built here: netfilter's OUTPUT chain never
// sees them, so a firewall dropping protocol 112 cannot silence the master.
// It is safe for concurrent use; sends are serialised on one reused buffer.
type Sender struct {
	cfg     SenderConfig
	ifindex int
	ifname  string
	fd      int
	nl      *netlink.Handle
	now     func() time.Time

	mu     sync.Mutex
	srcMAC [6]byte
	buf    []byte
	ipID   uint16
	neigh  map[netip.Addr]*neighEntry
	closed bool
	// resolving: the resolver goroutine (neigh_linux.go) runs; it alone
	// uses nl after NewSender returns, and owns it until Close.
	resolving   bool
	neighReq    chan netip.Addr
	quit        chan struct{}
	resolveDone chan struct{}

	// Counters of the resolver's netlink requests (tests observe them).
	neighLookups, neighProbes atomic.Uint64
}

// NewSender opens the AF_PACKET socket and netlink handle in the calling
// thread's network namespace.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.ResolveTimeout <= 0 {
		cfg.ResolveTimeout = time.Second
	}
	if cfg.NeighbourRefresh <= 0 {
		cfg.NeighbourRefresh = 5 * time.Second
	}
	if cfg.NeighbourRetry <= 0 {
		cfg.NeighbourRetry = time.Second
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink handle for advert sender: %w", err)
	}
	link, err := nl.LinkByIndex(cfg.Ifindex)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("advert sender: interface %d: %w", cfg.Ifindex, err)
	}
	name := link.Attrs().Name
	mac := cfg.SourceMAC
	if mac == nil {
		mac = link.Attrs().HardwareAddr
	}
	src, err := hwAddr6(mac)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("advert sender on %s: source MAC: %w", name, err)
	}
	fd, err := openPacketSocket(cfg.Ifindex)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("advert sender on %s: %w", name, err)
	}
	return &Sender{
		cfg: cfg, ifindex: cfg.Ifindex, ifname: name, fd: fd, nl: nl, now: time.Now,
		srcMAC: src, buf: make([]byte, 0, frameBufferLen), neigh: map[netip.Addr]*neighEntry{},
		neighReq: make(chan netip.Addr, neighQueueLen), quit: make(chan struct{}), resolveDone: make(chan struct{}),
	}, nil
}

// openPacketSocket opens a send-only AF_PACKET socket bound to ifindex.
// Protocol 0 registers no receive hook, so the socket never queues the
// interface's traffic; the kernel takes skb->protocol from the Ethernet
// header we write.
func openPacketSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind AF_PACKET socket to interface %d: %w", ifindex, err)
	}
	return fd, nil
}

// Interface returns the name of the interface the Sender sends on.
func (s *Sender) Interface() string { return s.ifname }

// SendAdvert sends vrrpPayload (the VRRP header and addresses, as
// control/advert encodes them with this src and dst in the checksum
// pseudo-header) from src to dst. A multicast dst goes to its group MAC; a
// unicast dst to the peer's MAC, cached from the kernel's neighbour table
// and refreshed in the background every NeighbourRefresh.
//
// SendAdvert never waits for address resolution and does no netlink I/O:
// when a unicast peer's MAC is not known (first advert, or the kernel could
// not resolve it) it starts resolution in the background and returns a
// *NeighbourError wrapping ErrNeighbourUnresolved at once, without sending;
// adverts go out as soon as the kernel has the MAC. Sending to a group, to
// a cached peer or to an unresolved peer (whose error value is reused) does
// not allocate.
func (s *Sender) SendAdvert(dst, src netip.Addr, vrrpPayload []byte) error {
	dst, src = dst.Unmap(), src.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	var dstMAC [6]byte
	var err error
	unicast := !dst.IsMulticast()
	if unicast {
		if dstMAC, err = s.neighbourMAC(dst); err != nil {
			return err // already names dst and the interface
		}
	} else if dstMAC, err = multicastMAC(dst); err != nil {
		return fmt.Errorf("advert to %v on %s: %w", dst, s.ifname, err)
	}
	id := s.ipID
	if src.Is4() {
		id = nextIPv4ID(s.ipID)
	}
	frame, err := appendAdvertFrame(s.buf[:0], dstMAC, s.srcMAC, src, dst, id, vrrpPayload)
	if err != nil {
		return fmt.Errorf("advert to %v on %s: %w", dst, s.ifname, err)
	}
	if _, err := unix.Write(s.fd, frame); err != nil {
		if unicast {
			s.neighSendFailed(dst)
		}
		return fmt.Errorf("send advert to %v on %s: %w", dst, s.ifname, err)
	}
	s.ipID = id
	return nil
}

// Close stops the background resolution and closes the socket and netlink
// handle.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	resolving := s.resolving
	s.mu.Unlock()
	if resolving {
		close(s.quit)
		<-s.resolveDone // it finishes its netlink request, if any, first
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nl.Close()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
