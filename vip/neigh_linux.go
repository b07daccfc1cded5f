package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// ErrNeighbourUnresolved is returned (wrapped in a *NeighbourError) when an
// advert to a unicast peer was skipped because the peer's MAC address is not
// known yet. SendAdvert never waits for it: the Sender asks the kernel to
// resolve the peer in the background and a later advert goes out once the
// kernel has the address.
var ErrNeighbourUnresolved = errors.New("unicast peer MAC address unresolved")

// NeighbourError says why an advert to a unicast peer was skipped. It
// unwraps to ErrNeighbourUnresolved. The Sender builds one per change of the
// peer's resolution state and returns that same value for every skipped
// advert until the state changes again, so callers may compare errors to
// report only changes, and the skipped-advert path does not allocate.
type NeighbourError struct {
	Peer      netip.Addr
	Interface string
	// Reason is what the background resolution found, e.g. "resolution
	// started" or "no ARP reply within 1s (kernel neighbour state FAILED)".
	Reason string
}

func (e *NeighbourError) Error() string {
	proto := "ARP"
	if e.Peer.Is6() {
		proto = "neighbour solicitations"
	}
	return fmt.Sprintf("advert to %v on %s skipped: %v: %s; resolving in the background "+
		"(check that the peer is up, on the same link and subnet as %s, and answers %s; `ip neigh show %v dev %s`)",
		e.Peer, e.Interface, ErrNeighbourUnresolved, e.Reason, e.Interface, proto, e.Peer.WithZone(""), e.Interface)
}

func (e *NeighbourError) Unwrap() error { return ErrNeighbourUnresolved }

// neighEntry is one unicast peer's resolution state, guarded by Sender.mu.
// SendAdvert only reads it and, when checkAt has passed, hands the peer to
// the resolver goroutine (Sender.resolve), which does every netlink round
// trip without the mutex and writes the outcome back here.
type neighEntry struct {
	mac [6]byte
	// ok: mac is usable. It stays in use while a refresh is in flight.
	ok bool
	// pending: the peer is queued for or in the resolver; no second request
	// (and so no second probe) is made until it reports back.
	pending bool
	// checkAt: with ok, when the kernel's entry is read again (a changed
	// MAC, e.g. a replaced peer, is picked up then); without ok, the
	// earliest next resolution attempt after a failure (NeighbourRetry).
	checkAt time.Time
	// err is returned while !ok; built once per state change.
	err error
}

// usableNeigh is the set of states whose link-layer address may be used.
const usableNeigh = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY |
	netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// confirmedNeigh needs no revalidation.
const confirmedNeigh = netlink.NUD_REACHABLE | netlink.NUD_PERMANENT | netlink.NUD_NOARP

// Resolver polling after a probe: the first look soon (a LAN answers in
// well under a millisecond), then backing off up to neighPollMax until
// ResolveTimeout.
const (
	neighPollFirst = 2 * time.Millisecond
	neighPollMax   = 100 * time.Millisecond
	// neighQueueLen bounds the requests waiting for the resolver; when it
	// is full a request is dropped and a later advert asks again.
	neighQueueLen = 256
)

// neighbourMAC returns dst's MAC from the cache, or the error saying why
// the advert must be skipped. It never does netlink I/O, never waits and
// does not allocate once dst has an entry; when the entry is due for a
// refresh (or dst is new, or its retry time has come) it queues dst for the
// resolver, at most once until the resolver reports back. Called with s.mu
// held.
func (s *Sender) neighbourMAC(dst netip.Addr) ([6]byte, error) {
	e := s.neigh[dst]
	if e == nil {
		e = &neighEntry{}
		s.neigh[dst] = e
	}
	if !e.pending && !s.now().Before(e.checkAt) {
		s.requestNeigh(e, dst)
	}
	if e.ok {
		// Refresh or not, the MAC we have is the best there is until the
		// resolver says otherwise.
		return e.mac, nil
	}
	if e.err == nil {
		e.err = &NeighbourError{Peer: dst, Interface: s.ifname, Reason: "no MAC address yet, resolution started"}
	}
	return e.mac, e.err
}

// requestNeigh hands dst to the resolver without blocking. Called with s.mu
// held.
func (s *Sender) requestNeigh(e *neighEntry, dst netip.Addr) {
	if s.closed {
		return
	}
	if !s.resolving {
		s.resolving = true
		go s.resolve()
	}
	select {
	case s.neighReq <- dst:
		e.pending = true
	default: // queue full: the next advert to dst asks again
	}
}

// neighJob is one peer in the resolver.
type neighJob struct {
	probed   bool          // a probe went out; waiting for the kernel
	deadline time.Time     // probed: report failure then
	next     time.Time     // probed: read the table again then
	backoff  time.Duration // probed: the current poll interval
}

// resolve is the Sender's resolver goroutine, started by the first request.
// It reads the kernel's neighbour table (one dump per family for every peer
// due at once), probes peers that are missing or need revalidation, polls
// for probed peers with backoff without holding up the others, and reports
// each outcome into the peer's neighEntry. It owns s.nl until Close.
func (s *Sender) resolve() {
	defer close(s.resolveDone)
	jobs := map[netip.Addr]*neighJob{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(s.nextPoll(jobs))
		select {
		case <-s.quit:
			return
		case dst := <-s.neighReq:
			s.addJob(jobs, dst)
		drain:
			for {
				select {
				case dst := <-s.neighReq:
					s.addJob(jobs, dst)
				default:
					break drain
				}
			}
		case <-timer.C:
		}
		s.runJobs(jobs)
	}
}

func (s *Sender) addJob(jobs map[netip.Addr]*neighJob, dst netip.Addr) {
	if jobs[dst] == nil {
		jobs[dst] = &neighJob{}
	}
}

// nextPoll is how long the resolver may sleep: until the first probed
// peer's next look, or (nothing to poll) until a request arrives.
func (s *Sender) nextPoll(jobs map[netip.Addr]*neighJob) time.Duration {
	d := time.Hour
	now := s.now()
	for _, j := range jobs {
		if !j.probed {
			return 0
		}
		d = min(d, j.next.Sub(now))
	}
	return max(d, 0)
}

// runJobs does the work for every job that is due.
func (s *Sender) runJobs(jobs map[netip.Addr]*neighJob) {
	now := s.now()
	var need4, need6 bool
	for dst, j := range jobs {
		if !j.probed || !now.Before(j.next) {
			need4 = need4 || !dst.Is6()
			need6 = need6 || dst.Is6()
		}
	}
	if !need4 && !need6 {
		return
	}
	table := map[netip.Addr]netlink.Neigh{}
	var err4, err6 error
	if need4 {
		err4 = s.readNeighTable(netlink.FAMILY_V4, jobs, table)
	}
	if need6 {
		err6 = s.readNeighTable(netlink.FAMILY_V6, jobs, table)
	}
	now = s.now()
	for dst, j := range jobs {
		if j.probed && now.Before(j.next) {
			continue
		}
		n, present := table[dst.WithZone("")]
		dumpErr := err4
		if dst.Is6() {
			dumpErr = err6
		}
		switch {
		case present && n.State&usableNeigh != 0 && len(n.HardwareAddr) == 6:
			var mac [6]byte
			copy(mac[:], n.HardwareAddr)
			if n.State&confirmedNeigh == 0 {
				// Our AF_PACKET sends never confirm the entry, so it ages
				// to STALE; a probe has the kernel revalidate it (and learn
				// a replaced peer's MAC) while we keep using this one.
				_ = s.probeNeigh(dst)
			}
			s.neighResolved(dst, mac, now)
			delete(jobs, dst)
		case dumpErr != nil:
			s.neighFailed(dst, now, dumpErr.Error())
			delete(jobs, dst)
		case !j.probed:
			if err := s.probeNeigh(dst); err != nil {
				s.neighFailed(dst, now, err.Error())
				delete(jobs, dst)
				continue
			}
			j.probed = true
			j.deadline = now.Add(s.cfg.ResolveTimeout)
			j.backoff = neighPollFirst
			j.next = now.Add(j.backoff)
		case present && n.State&netlink.NUD_FAILED != 0, !now.Before(j.deadline):
			s.neighFailed(dst, now, fmt.Sprintf("no %s within %v (kernel neighbour state %s)",
				replyKind(dst), s.cfg.ResolveTimeout, nudName(n.State, present)))
			delete(jobs, dst)
		default:
			j.backoff = min(2*j.backoff, neighPollMax)
			j.next = now.Add(j.backoff)
			if j.next.After(j.deadline) {
				j.next = j.deadline
			}
		}
	}
}

// readNeighTable adds the entries of interest on s.ifindex of family fam
// to table.
func (s *Sender) readNeighTable(fam int, jobs map[netip.Addr]*neighJob, table map[netip.Addr]netlink.Neigh) error {
	s.neighLookups.Add(1)
	list, err := s.nl.NeighList(s.ifindex, fam)
	if err != nil {
		return fmt.Errorf("read neighbour table of %s: %v", s.ifname, err)
	}
	want := make(map[netip.Addr]bool, len(jobs))
	for dst := range jobs {
		want[dst.WithZone("")] = true
	}
	for _, n := range list {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		if a = a.Unmap(); want[a] {
			table[a] = n
		}
	}
	return nil
}

// probeNeigh asks the kernel to resolve dst (or revalidate a stale entry):
// RTM_NEWNEIGH with NTF_USE runs neigh_event_send, which sends ARP requests
// or neighbour solicitations exactly as if the stack had a packet for dst.
// ARP and NS leave through the neighbour subsystem, not the IP OUTPUT
// chain, so a firewall dropping VRRP does not stop them. The kernel
// updates the entry synchronously (to INCOMPLETE or DELAY) before it
// acknowledges, and answers immediately; resolution itself is asynchronous.
func (s *Sender) probeNeigh(dst netip.Addr) error {
	s.neighProbes.Add(1)
	fam := netlink.FAMILY_V4
	if dst.Is6() {
		fam = netlink.FAMILY_V6
	}
	n := &netlink.Neigh{
		LinkIndex: s.ifindex,
		Family:    fam,
		IP:        net.IP(dst.AsSlice()),
		Flags:     netlink.NTF_USE,
	}
	if err := s.nl.NeighSet(n); err != nil {
		return fmt.Errorf("ask the kernel to resolve it: %v", err)
	}
	return nil
}

// neighResolved records dst's MAC; it is used until the next refresh.
func (s *Sender) neighResolved(dst netip.Addr, mac [6]byte, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.neigh[dst]
	if e == nil {
		return
	}
	*e = neighEntry{mac: mac, ok: true, checkAt: now.Add(s.cfg.NeighbourRefresh)}
}

// neighFailed records that dst could not be resolved: adverts to it are
// skipped with the reason until a retry NeighbourRetry from now succeeds.
func (s *Sender) neighFailed(dst netip.Addr, now time.Time, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.neigh[dst]
	if e == nil {
		return
	}
	err := e.err
	if ne, ok := err.(*NeighbourError); !ok || ne.Reason != reason {
		err = &NeighbourError{Peer: dst, Interface: s.ifname, Reason: reason}
	}
	*e = neighEntry{checkAt: now.Add(s.cfg.NeighbourRetry), err: err}
}

func replyKind(dst netip.Addr) string {
	if dst.Is6() {
		return "neighbour advertisement"
	}
	return "ARP reply"
}

// nudName names a kernel neighbour state as `ip neigh` does.
func nudName(state int, present bool) string {
	if !present {
		return "none"
	}
	var names []string
	for _, n := range []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"},
		{netlink.NUD_STALE, "STALE"}, {netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"},
		{netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"},
	} {
		if state&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "NONE"
	}
	return strings.Join(names, ",")
}

// neighSendFailed notes a failed write to unicast dst: its entry is read
// again on the next advert.
func (s *Sender) neighSendFailed(dst netip.Addr) {
	if e := s.neigh[dst]; e != nil && e.ok {
		e.checkAt = time.Time{}
	}
}

// PrimeNeighbour starts resolving unicast peer dst in the background, as
// the first advert to it would, and returns at once; it does nothing for a
// multicast dst or a peer already resolved (or being resolved). A daemon
// calls it when it configures a unicast peer, so that the first advert after
// becoming master finds the MAC cached instead of being skipped.
func (s *Sender) PrimeNeighbour(dst netip.Addr) {
	dst = dst.Unmap()
	if dst.IsMulticast() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.neighbourMAC(dst)
}

// ForgetNeighbour drops the cached MAC of dst: adverts to it are skipped
// with ErrNeighbourUnresolved until the kernel's table is read again, which
// the next advert to dst starts (e.g. after the peer reported a changed
// address). A resolution already in flight for dst still reports back.
func (s *Sender) ForgetNeighbour(dst netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.neigh[dst.Unmap()]; e != nil {
		*e = neighEntry{pending: e.pending}
	}
}
