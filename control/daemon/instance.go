package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/xvrrp/xvrrp/control/advert"
	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/loader"
	"github.com/xvrrp/xvrrp/vip"
)

// recentTransitions is how many transitions an instance remembers for
// `xvrrpctl status NAME`.
const recentTransitions = 16

// instance is one running vrrp_instance. Its state is grouped by concern:
// what the protocol engine and its adverts need (protocol), what the XDP
// program is told (instDataplane, dataplane.go), the host objects it
// drives (hostObjects) and what status reports (record).
type instance struct {
	id  int
	cfg *config.Instance
	ifc *iface

	protocol
	instDataplane
	hostObjects
	record
}

// protocol is the instance's engine and what it sends and decodes.
type protocol struct {
	m      *fsm.Machine
	group  *syncGroup
	member int // index in group

	src  netip.Addr   // advert source address
	dsts []netip.Addr // multicast group, or the unicast peers

	tmpl    advert.Advert // what we send, Priority set per send
	encOpts advert.EncodeOptions
	policy  advert.Policy // what we accept (receive.go)
	buf     []byte
	rx      advert.Advert // decode scratch

	// The trackers' inputs to the engine (trackers.go).
	delta         int
	trackerFaults map[string]bool // tracker fault reasons set on the engine
	waitingInit   bool            // held in INIT until weight-0 trackers report
}

// hostObjects are what the instance drives on the host: its advert sender,
// announcer and addresses.
type hostObjects struct {
	sender *vip.Sender    // the interface's, or the instance's own with use_vmac
	ann    *vip.Announcer // the interface's, or the VMAC's with use_vmac
	vmac   *vip.VMAC      // use_vmac: the macvlan in place (vmac.go)
	// sendErr is the last send error per destination: a failing peer is
	// logged when its error changes and when it recovers, not per advert.
	sendErr []error

	vips     []hostVIP
	vipsHeld bool
	garp     *garpRun
	// lowerPrio cancels the pending re-announcement after a lower-priority
	// advert (garp.go); reannounced counts them for metrics.
	lowerPrio   context.CancelFunc
	reannounced uint64
}

// record is what status and metrics report of the instance.
type record struct {
	since       time.Time
	reason      string
	transitions []status.Transition
	counts      map[transitionKey]uint64
	errs        [numErrKinds]uint64       // send errors
	refused     [advert.NumReasons]uint64 // receive errors
	lastAdvert  time.Time
}

type transitionKey struct{ from, to, cause string }

// Send error kinds counted per instance (metrics:
// xvrrp_instance_errors_total); the receive errors are advert.Reason's.
type errKind int

const (
	errUnresolvedPeer errKind = iota // an advert not sent: the unicast peer's MAC is unknown
	errSend                          // an advert the kernel refused
	numErrKinds
)

var errKindNames = [numErrKinds]string{"unresolved_peer", "send"}

// fsmConfig maps keepalived's instance settings onto the engine's.
func fsmConfig(in *config.Instance, src netip.Addr) fsm.Config {
	st := fsm.StateBackup
	if in.State == config.StateMaster {
		st = fsm.StateMaster
	}
	c := fsm.Config{
		Name:                 in.Name,
		VRID:                 uint8(in.VRID),
		Version:              uint8(in.Version),
		Priority:             uint8(in.Priority),
		AdvertInterval:       in.AdvertInterval,
		InitialState:         st,
		NoPreempt:            in.Nopreempt,
		PreemptDelay:         in.PreemptDelay,
		DownTimerAdverts:     in.DownTimerAdverts,
		LowerPrioNoAdvert:    in.LowerPrioNoAdvert,
		HigherPrioSendAdvert: in.HigherPrioSendAdvert,
		DontTrackPrimary:     in.DontTrackPrimary,
		PrimaryAddr:          src,
	}
	return c
}

// checksumOptions maps keepalived's checksum compatibility keywords onto the
// advert encoder (what the instance sends) and decoder (what it accepts).
// The advert package applies both only where they mean something: VRRPv3
// over IPv4.
func checksumOptions(in *config.Instance) (advert.EncodeOptions, advert.DecodeOptions) {
	// keepalived.conf(5) vrrp_instance v3_checksum_as_v2: "turns off
	// including the pseudo-header in the checksum calculation for VRRPv3
	// IPv4", for the adverts sent and the adverts verified alike.
	enc := advert.EncodeOptions{ChecksumAsV2: in.V3ChecksumAsV2}
	dec := advert.DecodeOptions{ChecksumAsV2: in.V3ChecksumAsV2}
	if in.Unicast() {
		// keepalived.conf(5) vrrp_instance old_unicast_checksum: "Setting
		// this flag forces the old checksum algorithm to be used" (224.0.0.18
		// as the pseudo-header destination of unicast adverts).
		enc.LegacyUnicastChecksum = in.OldUnicastChecksum == config.UnicastChecksumOld
		// keepalived.conf(5): "keepalived will attempt to maintain
		// compatibility anyway if it sees an old version checksum.
		// Specifying never will turn off auto detection of old checksums."
		// keepalived retries with the old form only for instances with
		// unicast peers (vrrp.c vrrp_check_packet).
		dec.LegacyUnicastChecksum = in.OldUnicastChecksum != config.UnicastChecksumNever
	}
	return enc, dec
}

// newInstance builds the runtime of one configured instance on ifc. It
// changes nothing on the host.
func (d *Daemon) newInstance(in *config.Instance, ifc *iface) (*instance, error) {
	if len(in.UnicastPeers) > loader.MaxPeers {
		return nil, fmt.Errorf("%s: vrrp_instance %s: %d unicast peers, the XDP peer filter holds at most %d: split the peers over several instances",
			in.Pos, in.Name, len(in.UnicastPeers), loader.MaxPeers)
	}
	src := in.SrcIP
	if !src.IsValid() {
		src, _ = ifc.sourceAddr(in.Family) // none yet: the engine starts in FAULT and address events follow
	}
	m, err := fsm.New(fsmConfig(in, src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Pos, err)
	}
	for _, w := range m.Warnings() {
		d.log.Warn(fmt.Sprintf("%s: %s", in.Pos, w))
	}
	r := &instance{
		cfg: in,
		ifc: ifc,
		protocol: protocol{
			m:             m,
			src:           src,
			buf:           make([]byte, 0, 1500),
			trackerFaults: map[string]bool{},
			rx:            advert.Advert{Addrs: make([]netip.Addr, 0, 16)},
		},
		instDataplane: instDataplane{
			key: loader.InstanceKey{Ifindex: uint32(ifc.index), VRID: uint8(in.VRID), Family: familyOf(in.Family)},
		},
		record: record{
			counts: map[transitionKey]uint64{},
			reason: "not started",
		},
	}
	if in.Unicast() {
		for _, p := range in.UnicastPeers {
			r.dsts = append(r.dsts, p.Addr)
		}
	} else {
		r.dsts = []netip.Addr{in.McastGroup}
	}
	r.sendErr = make([]error, len(r.dsts))
	r.encOpts, r.policy.Decode = checksumOptions(in)
	r.tmpl = advert.Advert{Version: uint8(in.Version), Type: 1, VRID: uint8(in.VRID), Priority: uint8(in.Priority)}
	if in.Version == 2 {
		// RFC 3768 §5.3.7: Adver Int in whole seconds.
		r.tmpl.Interval = uint16(max(1, in.AdvertInterval/time.Second))
	} else {
		// RFC 5798 §5.2.7: Max Adver Int in centiseconds, 12 bits.
		r.tmpl.Interval = uint16(min(4095, max(1, in.AdvertInterval/(10*time.Millisecond))))
	}
	if in.Auth != nil && in.Version == 2 {
		// RFC 2338 §5.3.6.1 simple text password; AH is not supported (the
		// parser refuses it), so only PASS reaches here.
		r.tmpl.AuthType = advert.AuthPass
		r.tmpl.AuthData = advert.Password(in.Auth.Pass)
	}
	vipDev := in.Interface
	if in.UseVMAC {
		// keepalived (vrrp.c vrrp_complete_instance): the VIPs on the
		// instance's interface go on the VMAC, whose MAC the GARPs/NAs
		// announce; those given another dev stay there.
		vipDev = vmacConfig(in).IfName()
	}
	onVMAC := func(v config.VIP) config.VIP {
		if in.UseVMAC && (v.Dev == "" || v.Dev == in.Interface) {
			v.Dev = vipDev
		}
		return v
	}
	for _, v := range in.VIPs {
		hv, err := hostVIPFromConfig(onVMAC(v), vipDev)
		if err != nil {
			return nil, err
		}
		r.vips = append(r.vips, hv)
		// RFC 5798 §5.2.9: the advert lists the instance's own-family
		// addresses; excluded VIPs are never advertised.
		if v.Prefix.Addr().Is4() == (in.Family == 4) {
			r.tmpl.Addrs = append(r.tmpl.Addrs, v.Prefix.Addr())
		}
	}
	r.policy = receivePolicy(in, r.tmpl, r.policy.Decode)
	for _, v := range in.ExcludedVIPs {
		hv, err := hostVIPFromConfig(onVMAC(v), vipDev)
		if err != nil {
			return nil, err
		}
		r.vips = append(r.vips, hv)
	}
	r.sender, r.ann = ifc.sender, ifc.ann
	if in.UseVMAC && !in.VMACXmitBase {
		// use_vmac: adverts leave with the virtual router MAC as source
		// (RFC 5798 §7.3), as keepalived sends them from the VMAC. They go
		// out on the parent's AF_PACKET socket, which puts the same frame
		// on the wire as the macvlan would (mode private: a macvlan's
		// frames leave through its parent), below netfilter like every
		// advert. vmac_xmit_base: from the parent, with its own MAC.
		mac := vip.VirtualMAC(uint8(in.VRID), in.Family == 6)
		var err error
		if r.sender, err = vip.NewSender(vip.SenderConfig{Ifindex: ifc.index, SourceMAC: mac}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func familyOf(f int) loader.Family {
	if f == 6 {
		return loader.IPv6
	}
	return loader.IPv4
}

func (r *instance) familyName() string {
	if r.cfg.Family == 6 {
		return "inet6"
	}
	return "inet"
}

// handle delivers ev to the instance (through its sync group if it has one),
// executes the resulting actions and reschedules the timers. The master's
// repeats the XDP program recorded before ev go to the engine first, so it
// sees every advert in the order they arrived.
func (d *Daemon) handle(r *instance, ev fsm.Event, now time.Time) {
	d.takeRepeats(r, now)
	d.deliver(r, ev, now)
}

// deliver is handle without the repeats.
func (d *Daemon) deliver(r *instance, ev fsm.Event, now time.Time) {
	if g := r.group; g != nil {
		before := g.g.State()
		d.gacts = g.g.Handle(r.member, ev, now, d.gacts[:0])
		for _, ga := range d.gacts {
			d.do(g.members[ga.Member], ga.Action, now)
		}
		for _, mem := range g.members {
			d.schedule(mem, now)
		}
		if after := g.g.State(); after != before {
			d.groupTransition(g, before, after)
		}
		return
	}
	d.acts = r.m.Handle(ev, now, d.acts[:0])
	for _, a := range d.acts {
		d.do(r, a, now)
	}
	d.schedule(r, now)
}

func (d *Daemon) schedule(r *instance, now time.Time) {
	if r.rep.on() && !d.repeatsHold(r) {
		d.stopRepeats(r)
	}
	t := r.m.NextDeadline()
	if t.IsZero() {
		d.sched.Remove(r.id)
		return
	}
	if r.rep.on() {
		t = repeatsCheckAt(t, now, r.rep.adv.Interval)
	}
	d.sched.Reset(r.id, t)
}

// do executes one action of the engine.
func (d *Daemon) do(r *instance, a fsm.Action, now time.Time) {
	switch a.Kind {
	case fsm.ActionSendAdvert:
		d.sendAdvert(r, a.Priority)
	case fsm.ActionAddVIPs:
		d.addVIPs(r)
	case fsm.ActionRemoveVIPs:
		d.removeVIPs(r)
	case fsm.ActionSendGratuitous:
		d.startGARP(r)
	case fsm.ActionTransition:
		d.transition(r, a, now)
	case fsm.ActionMasterRxLowerPri:
		d.masterRxLowerPri(r)
	}
}

// transition logs, records and notifies one state change.
func (d *Daemon) transition(r *instance, a fsm.Action, now time.Time) {
	from, to := a.From.String(), a.To.String()
	cause := string(a.Cause)
	args := []any{"instance", r.cfg.Name, "from", from, "to", to, "cause", cause, "priority", r.m.EffectivePriority()}
	if a.Cause == fsm.CauseMasterDown {
		args = append(args, d.takeoverEvidence(r, now)...)
	}
	d.log.Info(fmt.Sprintf("%s: %s → %s: %s", r.cfg.Name, from, to, a.Reason), args...)
	r.since, r.reason = now, a.Reason
	if len(r.transitions) == recentTransitions {
		copy(r.transitions, r.transitions[1:])
		r.transitions = r.transitions[:recentTransitions-1]
	}
	r.transitions = append(r.transitions, status.Transition{Time: now, From: from, To: to, Cause: cause, Reason: a.Reason})
	r.counts[transitionKey{from, to, cause}]++
	if a.From == fsm.StateMaster {
		d.stopGARP(r)
	}
	d.trackers.notifyInstance(r, a.To)
}

// shutdownInstance is SIGTERM or removal by reload for one instance.
func (d *Daemon) shutdownInstance(r *instance, now time.Time) {
	d.handle(r, fsm.Event{Kind: fsm.EventShutdown}, now)
	d.sched.Remove(r.id)
	d.stopGARP(r)
	d.releaseSender(r)
	d.removeVMAC(r)
}

// releaseSender closes the instance's own advert sender (use_vmac
// instances have one; others share the interface's).
func (d *Daemon) releaseSender(r *instance) {
	if r.sender != nil && r.sender != r.ifc.sender {
		_ = r.sender.Close()
		r.sender = nil
	}
	if r.ann != nil && r.ann != r.ifc.ann {
		_ = r.ann.Close()
		r.ann = r.ifc.ann
	}
}
