package loader

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/xvrrp/xvrrp/bpf"
)

// Verdict is an XDP action; a TC entry's verdict is translated to the XDP
// one that means the same (TCX_NEXT: pass, TCX_DROP: drop), so both hooks
// are checked against one table.
type Verdict uint32

const (
	VerdictAborted Verdict = 0
	VerdictDrop    Verdict = 1
	VerdictPass    Verdict = 2
)

func (v Verdict) String() string {
	switch v {
	case VerdictAborted:
		return "XDP_ABORTED"
	case VerdictDrop:
		return "XDP_DROP"
	case VerdictPass:
		return "XDP_PASS"
	}
	return fmt.Sprintf("XDP_%d", uint32(v))
}

// Result is what the XDP program did with one frame.
type Result struct {
	Verdict Verdict
	// Reason is the counter the frame moved.
	Reason Reason
	// HasEvent says whether the frame produced a ring record; Event holds
	// it (with its own copy of the payload).
	HasEvent bool
	Event    Event
}

// RunFrame runs one Ethernet frame through the XDP program with
// BPF_PROG_TEST_RUN, as if received on ifindex (which must exist in the
// caller's network namespace; 1, the loopback, always does), with the
// program copy of the interface attached at ifindex or, when none is, a
// copy with default IfaceOptions. It uses the real instance table and rate
// buckets. It reads the ring, so it fails while an EventReader is open.
func (d *Dataplane) RunFrame(frame []byte, ifindex uint32) (Result, error) {
	return d.runFrame(frame, ifindex, nil, hookXDP)
}

// RunFrameWith is RunFrame with a program copy built with the given
// options (cached per options value, not attached anywhere).
func (d *Dataplane) RunFrameWith(frame []byte, ifindex uint32, o IfaceOptions) (Result, error) {
	return d.runFrame(frame, ifindex, &o, hookXDP)
}

// RunFrameHook is RunFrameWith for the entry point of hook h.
func (d *Dataplane) RunFrameHook(frame []byte, ifindex uint32, o IfaceOptions, h hook) (Result, error) {
	return d.runFrame(frame, ifindex, &o, h)
}

func (d *Dataplane) probeHookLocked(o IfaceOptions, h hook, ifindex uint32) (*ifaceProg, error) {
	k := probeKey{o, h, ifindex}
	if p := d.probes[k]; p != nil {
		return p, nil
	}
	stats, err := ebpf.NewMap(d.spec.Maps[bpf.XvrrpMapStats])
	if err != nil {
		return nil, fmt.Errorf("create probe counters: %w", explainErrno(err))
	}
	prog, err := d.loadProg(o, stats, h, ifindex)
	if err != nil {
		stats.Close()
		return nil, err
	}
	p := &ifaceProg{name: "probe", opts: o, prog: prog, stats: stats, hook: h}
	d.probes[k] = p
	return p, nil
}

func (d *Dataplane) runFrame(frame []byte, ifindex uint32, o *IfaceOptions, h hook) (Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res Result
	if d.closed {
		return res, errClosed
	}
	if d.reader != nil {
		return res, fmt.Errorf("run frame: %w", ErrEventsBusy)
	}
	p, err := d.testProgLocked(ifindex, o)
	if h != hookXDP {
		p, err = d.probeHookLocked(*o, h, ifindex)
	}
	if err != nil {
		return res, err
	}
	rd, err := d.ringLocked()
	if err != nil {
		return res, err
	}
	if res.Verdict, res.Reason, err = runProg(p, frame, ifindex); err != nil {
		return res, err
	}
	// The record, if any, was committed before the run returned.
	rd.SetDeadline(time.Now())
	var rec ringbuf.Record
	err = rd.ReadInto(&rec)
	rd.SetDeadline(time.Time{})
	switch {
	case err == nil:
		if err := decodeEvent(rec.RawSample, &res.Event); err != nil {
			return res, err
		}
		res.HasEvent = true
	case errors.Is(err, os.ErrDeadlineExceeded):
	default:
		return res, fmt.Errorf("read event ring: %w", err)
	}
	return res, nil
}

// testProgLocked picks the program copy a test run uses: with o nil, the
// one attached at ifindex or else the default probe; otherwise the probe
// built with *o.
func (d *Dataplane) testProgLocked(ifindex uint32, o *IfaceOptions) (*ifaceProg, error) {
	if o == nil {
		for _, ip := range d.ifaces {
			if uint32(ip.index) == ifindex {
				return ip, nil
			}
		}
		o = &IfaceOptions{}
	}
	return d.probeHookLocked(*o, hookXDP, ifindex)
}

// runProg runs one frame through p and returns the verdict and the one
// counter that moved. It leaves the ring alone.
func runProg(p *ifaceProg, frame []byte, ifindex uint32) (Verdict, Reason, error) {
	// The kernel wants at least an Ethernet header's worth of input.
	if len(frame) < 14 {
		return 0, 0, fmt.Errorf("run frame: %d bytes, the kernel needs at least 14", len(frame))
	}
	before, err := readCounters(p.stats)
	if err != nil {
		return 0, 0, err
	}
	opts := &ebpf.RunOptions{Data: frame, Context: bpf.XvrrpXdpMd{DataEnd: uint32(len(frame)), IngressIfindex: ifindex}}
	if p.hook == hookTCX {
		opts.Context = skbContext{Ifindex: ifindex}
	}
	ret, err := p.prog.Run(opts)
	if err != nil {
		return 0, 0, fmt.Errorf("run frame through the %s program (ifindex %d must exist in this network namespace): %w", p.hook, ifindex, err)
	}
	if p.hook == hookTCX {
		switch int32(ret) {
		case -1: // TCX_NEXT
			ret = uint32(VerdictPass)
		case 2: // TCX_DROP
			ret = uint32(VerdictDrop)
		default:
			return 0, 0, fmt.Errorf("TCX program returned %d, neither TCX_NEXT nor TCX_DROP", int32(ret))
		}
	}
	after, err := readCounters(p.stats)
	if err != nil {
		return 0, 0, err
	}
	var reason Reason
	moved := 0
	for i := range after {
		if after[i] != before[i] {
			reason = Reason(i)
			moved++
		}
	}
	if moved != 1 {
		return 0, 0, fmt.Errorf("run frame: %d counters moved, want exactly 1 (before %v, after %v)", moved, before, after)
	}
	return Verdict(ret), reason, nil
}

// skbContext is the head of struct __sk_buff up to ifindex, the last field
// before cb that BPF_PROG_TEST_RUN lets a caller set for the device the
// frame arrives on (the loopback when 0 or 1).
type skbContext struct {
	Len, PktType, Mark, QueueMapping, Protocol, VlanPresent, VlanTCI, VlanProto, Priority, IngressIfindex, Ifindex uint32
}
