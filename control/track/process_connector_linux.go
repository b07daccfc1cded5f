package track

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's process-events connector: a NETLINK_CONNECTOR socket bound
// to the CN_IDX_PROC multicast group receives one struct cn_msg carrying a
// struct proc_event per fork, exec, exit (and uid/gid/sid/comm/ptrace/
// coredump) of every task, once the socket has sent PROC_CN_MCAST_LISTEN.
// References: include/uapi/linux/connector.h, include/uapi/linux/cn_proc.h,
// drivers/connector/cn_proc.c, Documentation/driver-api/connector.rst.
// keepalived's track_process uses the same interface (track_process.c).
//
// The kernel's connector socket exists only in the initial network
// namespace (drivers/connector/connector.c creates it in init_net), so
// elsewhere sending PROC_CN_MCAST_LISTEN fails with ECONNREFUSED —
// keepalived's "Failed to set/clear process event listen - errno 111 -
// Connection refused". cn_proc_mcast_ctl also ignores, without an answer,
// subscriptions from outside the initial user and pid namespaces, and
// answers EPERM without CAP_NET_ADMIN.

// From include/uapi/linux/connector.h.
const (
	cnIdxProc = 0x1 // CN_IDX_PROC: the cb_id.idx, and the multicast group
	cnValProc = 0x1 // CN_VAL_PROC
)

// From include/uapi/linux/cn_proc.h.
const (
	procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN (enum proc_cn_mcast_op)
	procCnMcastIgnore = 2 // PROC_CN_MCAST_IGNORE

	// enum what (struct proc_event); only these are used.
	procEventNone = 0x00000000 // PROC_EVENT_NONE: the answer to a LISTEN/IGNORE
	procEventFork = 0x00000001 // PROC_EVENT_FORK
	procEventExec = 0x00000002 // PROC_EVENT_EXEC
	procEventExit = 0x80000000 // PROC_EVENT_EXIT
)

// cnMsg mirrors struct cn_msg (include/uapi/linux/connector.h), 20 bytes in
// host byte order:
//
//	struct cb_id  { __u32 idx; __u32 val; };
//	struct cn_msg { struct cb_id id; __u32 seq; __u32 ack;
//	                __u16 len; __u16 flags; __u8 data[0]; };
//
// len is the length of data, which follows.
type cnMsg struct {
	Idx, Val uint32
	Seq, Ack uint32
	Len      uint16
	Flags    uint16
}

const cnMsgLen = 20

// procEventHdr mirrors the head of struct proc_event
// (include/uapi/linux/cn_proc.h), 16 bytes:
//
//	struct proc_event {
//		enum what what;          // __u32
//		__u32 cpu;
//		__u64 __attribute__((aligned(8))) timestamp_ns;
//		union { ... } event_data;  // at offset 16
//	};
type procEventHdr struct {
	What        uint32
	CPU         uint32
	TimestampNS uint64
}

const procEventHdrLen = 16

// The event_data union members used, from include/uapi/linux/cn_proc.h
// (__kernel_pid_t is int).

// ackProcEvent mirrors struct { __u32 err; } ack (PROC_EVENT_NONE).
type ackProcEvent struct{ Err uint32 }

// forkProcEvent mirrors struct fork_proc_event.
type forkProcEvent struct {
	ParentPID, ParentTGID int32
	ChildPID, ChildTGID   int32
}

// execProcEvent mirrors struct exec_proc_event.
type execProcEvent struct{ ProcessPID, ProcessTGID int32 }

// exitProcEvent mirrors the first four fields of struct exit_proc_event,
// those every kernel sends (parent_pid and parent_tgid follow since 4.19).
type exitProcEvent struct {
	ProcessPID, ProcessTGID int32
	ExitCode, ExitSignal    uint32
}

// cnEvent is one decoded process event.
type cnEvent struct {
	What     uint32 // PROC_EVENT_*; other values are decoded as What only
	Seq, Ack uint32 // the cn_msg's: an answer carries the request's ack+1
	// PID and TGID: EXEC and EXIT the process_pid/process_tgid, FORK the
	// child_pid/child_tgid. A thread has PID != TGID.
	PID, TGID int32
	Parent    int32  // FORK: parent_tgid
	Err       uint32 // NONE: ack.err, an errno
}

// parseConnectorDatagram decodes one datagram from the connector socket:
// netlink messages (struct nlmsghdr, NLMSG_ALIGNed), each carrying a
// cn_msg. It returns the events decoded before the first malformed message
// and an error for that message; it never panics on any input.
func parseConnectorDatagram(b []byte) ([]cnEvent, error) {
	var out []cnEvent
	for len(b) > 0 {
		var h unix.NlMsghdr
		if _, err := binary.Decode(b, binary.NativeEndian, &h); err != nil {
			return out, fmt.Errorf("netlink header truncated: %d bytes", len(b))
		}
		if h.Len < unix.NLMSG_HDRLEN || uint64(h.Len) > uint64(len(b)) {
			return out, fmt.Errorf("netlink message length %d, %d bytes left", h.Len, len(b))
		}
		body := b[unix.NLMSG_HDRLEN:h.Len]
		next := (int(h.Len) + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
		b = b[min(next, len(b)):]
		switch h.Type {
		case unix.NLMSG_NOOP, unix.NLMSG_ERROR, unix.NLMSG_OVERRUN:
			continue
		}
		// The connector sends its messages as NLMSG_DONE (cn_netlink_send_mult).
		ev, err := parseCnMsg(body)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// parseCnMsg decodes one cn_msg carrying a proc_event. A proc_event of a
// type it does not use is returned with What only; a message that is not
// a process event, or that is shorter than its type's fields, is an error.
func parseCnMsg(b []byte) (cnEvent, error) {
	var m cnMsg
	if _, err := binary.Decode(b, binary.NativeEndian, &m); err != nil {
		return cnEvent{}, fmt.Errorf("cn_msg truncated: %d of %d bytes", len(b), cnMsgLen)
	}
	if m.Idx != cnIdxProc || m.Val != cnValProc {
		return cnEvent{}, fmt.Errorf("not a process event: connector id %d:%d", m.Idx, m.Val)
	}
	data := b[cnMsgLen:]
	if int(m.Len) > len(data) {
		return cnEvent{}, fmt.Errorf("cn_msg says %d data bytes, has %d", m.Len, len(data))
	}
	data = data[:m.Len]
	var h procEventHdr
	if _, err := binary.Decode(data, binary.NativeEndian, &h); err != nil {
		return cnEvent{}, fmt.Errorf("proc_event truncated: %d of %d header bytes", len(data), procEventHdrLen)
	}
	ev := cnEvent{What: h.What, Seq: m.Seq, Ack: m.Ack}
	u := data[procEventHdrLen:]
	var err error
	switch h.What {
	case procEventNone:
		var a ackProcEvent
		_, err = binary.Decode(u, binary.NativeEndian, &a)
		ev.Err = a.Err
	case procEventFork:
		var f forkProcEvent
		_, err = binary.Decode(u, binary.NativeEndian, &f)
		ev.PID, ev.TGID, ev.Parent = f.ChildPID, f.ChildTGID, f.ParentTGID
	case procEventExec:
		var x execProcEvent
		_, err = binary.Decode(u, binary.NativeEndian, &x)
		ev.PID, ev.TGID = x.ProcessPID, x.ProcessTGID
	case procEventExit:
		var x exitProcEvent
		_, err = binary.Decode(u, binary.NativeEndian, &x)
		ev.PID, ev.TGID = x.ProcessPID, x.ProcessTGID
	}
	if err != nil {
		return cnEvent{}, fmt.Errorf("proc_event 0x%x truncated: %d event_data bytes", h.What, len(u))
	}
	return ev, nil
}

// marshalMcastOp builds the request that (un)subscribes: an nlmsghdr, a
// cn_msg for CN_IDX_PROC/CN_VAL_PROC and the enum proc_cn_mcast_op (the
// 4-byte form every kernel accepts; 6.6's struct proc_input adds an event
// filter). The kernel's answer (cn_proc_ack) is multicast to every
// listener with cn_msg.ack = ack+1; its seq is the kernel's own per-CPU
// counter (send_msg overwrites it), so ack is what identifies our answer.
func marshalMcastOp(seq, ack, op uint32) []byte {
	const total = unix.NLMSG_HDRLEN + cnMsgLen + 4
	b := make([]byte, 0, total)
	b, _ = binary.Append(b, binary.NativeEndian, unix.NlMsghdr{Len: total, Type: unix.NLMSG_DONE, Seq: seq})
	b, _ = binary.Append(b, binary.NativeEndian, cnMsg{Idx: cnIdxProc, Val: cnValProc, Seq: seq, Ack: ack, Len: 4})
	return binary.NativeEndian.AppendUint32(b, op)
}

// connAckTimeout bounds the wait for the kernel's answer to
// PROC_CN_MCAST_LISTEN. The answer is queued before sendto returns; none
// comes from outside the initial user or pid namespace.
const connAckTimeout = time.Second

// connRcvBuf is the socket's receive buffer: each event takes one skb
// (~1 KiB of buffer accounting), so this holds a few thousand events
// before the kernel drops them and reports ENOBUFS.
const connRcvBuf = 4 << 20

// procConnector is a NETLINK_CONNECTOR socket subscribed to process events.
// It is non-blocking and in the runtime poller, so Close wakes a reader.
type procConnector struct {
	f      *os.File
	rc     syscall.RawConn
	seq    uint32 // the last request's nlmsg/cn_msg seq
	nonce  uint32 // the last request's cn_msg ack; the answer has nonce+1
	closed atomic.Bool
}

func openProcConnector(ackTimeout time.Duration) (*procConnector, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_NETLINK, NETLINK_CONNECTOR): %w", err)
	}
	// SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN, which subscribing
	// needs anyway.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, connRcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, connRcvBuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind to group CN_IDX_PROC: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-connector")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	c := &procConnector{f: f, rc: rc, nonce: uint32(time.Now().UnixNano()) ^ uint32(os.Getpid())<<16}
	if err := c.mcast(procCnMcastListen); err != nil {
		f.Close()
		if errors.Is(err, unix.ECONNREFUSED) {
			return nil, fmt.Errorf("PROC_CN_MCAST_LISTEN: %w (the proc connector only answers in the initial network namespace)", err)
		}
		return nil, fmt.Errorf("PROC_CN_MCAST_LISTEN: %w", err)
	}
	if err := c.waitAck(ackTimeout); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// mcast sends PROC_CN_MCAST_LISTEN or PROC_CN_MCAST_IGNORE to the kernel.
func (c *procConnector) mcast(op uint32) error {
	c.seq++
	c.nonce++
	msg := marshalMcastOp(c.seq, c.nonce, op)
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// waitAck reads until the kernel's PROC_EVENT_NONE answer to the last
// request. Events before it are dropped: the start-up scan follows.
func (c *procConnector) waitAck(timeout time.Duration) error {
	if err := c.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	defer c.f.SetReadDeadline(time.Time{})
	buf := make([]byte, 8192)
	for {
		n, err := c.read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("no answer to PROC_CN_MCAST_LISTEN within %s (the kernel ignores subscriptions from outside the initial user and pid namespaces)", timeout)
		}
		if errors.Is(err, unix.ENOBUFS) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		evs, _ := parseConnectorDatagram(buf[:n])
		for _, ev := range evs {
			if ev.What != procEventNone || ev.Ack != c.nonce+1 {
				continue
			}
			if ev.Err != 0 {
				return fmt.Errorf("PROC_CN_MCAST_LISTEN refused: %w (needs CAP_NET_ADMIN)", unix.Errno(ev.Err))
			}
			return nil
		}
	}
}

// read returns the next datagram from the kernel (port id 0), skipping any
// other sender's. ENOBUFS means the socket overran and events were lost.
func (c *procConnector) read(buf []byte) (int, error) {
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			for {
				n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
				if rerr != unix.EINTR {
					return rerr != unix.EAGAIN
				}
			}
		})
		if err != nil {
			return 0, err
		}
		if rerr != nil {
			return 0, rerr
		}
		if sa, ok := from.(*unix.SockaddrNetlink); ok && sa.Pid == 0 {
			return n, nil
		}
	}
}

// Close unsubscribes (so the kernel stops building events when no one else
// listens) and closes the socket, waking a reader.
func (c *procConnector) Close() {
	_ = c.mcast(procCnMcastIgnore)
	c.closed.Store(true)
	c.f.Close()
}

// loopConnector is SourceConnector's reader.
func (e *ProcessEvents) loopConnector() {
	defer e.wg.Done()
	buf := make([]byte, 8192)
	for {
		n, err := e.conn.read(buf)
		if e.conn.closed.Load() {
			return
		}
		if errors.Is(err, unix.ENOBUFS) {
			lost := e.lost.Add(1)
			e.log.Warn("track_process: process events lost (proc connector socket overrun); rescanning /proc", "overruns_total", lost)
			if err := e.rescan("events lost", slog.LevelInfo); err != nil {
				e.log.Error("track_process: rescan failed", "err", err)
			}
			continue
		}
		if err != nil {
			e.log.Error("track_process: read proc connector", "err", err)
			select {
			case <-e.done:
				return
			case <-time.After(lostPoll):
			}
			continue
		}
		evs, perr := parseConnectorDatagram(buf[:n])
		for _, ev := range evs {
			e.events.Add(1)
			e.handleConnector(ev)
		}
		if perr != nil {
			e.log.Error("track_process: malformed proc connector message", "err", perr, "len", n)
		}
	}
}

// handleConnector maps a connector event onto the tracker: only processes
// (thread-group leaders), not threads, start and end.
func (e *ProcessEvents) handleConnector(ev cnEvent) {
	switch ev.What {
	case procEventExec:
		e.handle(procExec, int(ev.TGID), 0)
	case procEventFork:
		if ev.PID == ev.TGID {
			e.handle(procFork, int(ev.PID), int(ev.Parent))
		}
	case procEventExit:
		if ev.PID == ev.TGID {
			e.handle(procExit, int(ev.PID), 0)
		}
	}
}
