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
// The socket's priority is TC_PRIO_CONTROL (see openPacketSocket): egress
// qdiscs that honour skb priority send adverts ahead of bulk traffic.
//
// SendAdvert sends one advert per write(2). QueueAdvert and Flush send a
// batch of them (a scheduler's tick worth of instances) in one sendmmsg(2)
// per 64 adverts.
//
// It is safe for concurrent use; sends are serialised on one reused buffer
// and one reused batch.
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
	batch  advertBatch // QueueAdvert's frames until Flush
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
	// Adverts are control traffic: TC_PRIO_CONTROL puts them in the first
	// band of pfifo_fast/prio and ahead in fq, so a backlog of bulk traffic
	// does not delay them into a false failover. They still take the qdisc
	// (PACKET_QDISC_BYPASS would hand them to the driver directly), which
	// absorbs a scheduler tick's burst of adverts that a NIC's TX ring may
	// not, and keeps them visible to tcpdump on this interface. Priorities
	// above 6 need CAP_NET_ADMIN; without it adverts keep priority 0.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, tcPrioControl)
	return fd, nil
}

// tcPrioControl is TC_PRIO_CONTROL of linux/pkt_sched.h.
const tcPrioControl = 7

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
// not allocate. The advert goes out at once, ahead of any that QueueAdvert
// holds for the next Flush.
func (s *Sender) SendAdvert(dst, src netip.Addr, vrrpPayload []byte) error {
	dst, src = dst.Unmap(), src.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	frame, id, unicast, err := s.appendAdvert(s.buf[:0], dst, src, vrrpPayload)
	if err != nil {
		return err
	}
	if _, err := unix.Write(s.fd, frame); err != nil {
		return s.sendError(dst, unicast, err)
	}
	s.ipID = id
	return nil
}

// appendAdvert appends to b the frame carrying vrrpPayload from src to dst
// (both unmapped) and returns it with the IPv4 identification the frame
// carries, for the caller to commit to s.ipID once the frame is sent or
// queued, and whether dst is unicast. On error b is returned unchanged and
// the error names dst and the interface. It does no I/O and does not
// allocate when b has room (see SendAdvert). Called with s.mu held.
func (s *Sender) appendAdvert(b []byte, dst, src netip.Addr, vrrpPayload []byte) ([]byte, uint16, bool, error) {
	var dstMAC [6]byte
	var err error
	unicast := !dst.IsMulticast()
	if unicast {
		if dstMAC, err = s.neighbourMAC(dst); err != nil {
			return b, 0, unicast, err // already names dst and the interface
		}
	} else if dstMAC, err = multicastMAC(dst); err != nil {
		return b, 0, unicast, fmt.Errorf("advert to %v on %s: %w", dst, s.ifname, err)
	}
	id := s.ipID
	if src.Is4() {
		id = nextIPv4ID(s.ipID)
	}
	frame, err := appendAdvertFrame(b, dstMAC, s.srcMAC, src, dst, id, vrrpPayload)
	if err != nil {
		return b, 0, unicast, fmt.Errorf("advert to %v on %s: %w", dst, s.ifname, err)
	}
	return frame, id, unicast, nil
}

// sendError is the error of a failed send of an advert to dst; a failed
// send to a unicast peer has its MAC read again on the next advert. Called
// with s.mu held.
func (s *Sender) sendError(dst netip.Addr, unicast bool, err error) error {
	if unicast {
		s.neighSendFailed(dst)
	}
	return fmt.Errorf("send advert to %v on %s: %w", dst, s.ifname, err)
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
	s.batch = advertBatch{} // queued adverts are dropped
	s.nl.Close()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}
