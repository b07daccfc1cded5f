package track

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/test/lab"
)

// cnDatagram hand-builds what the kernel sends for one process event
// (cn_proc.c send_msg): nlmsghdr (16 bytes, type NLMSG_DONE), cn_msg
// (include/uapi/linux/connector.h: idx, val, seq, ack u32; len, flags u16)
// and struct proc_event (include/uapi/linux/cn_proc.h: what, cpu u32,
// timestamp_ns u64, then event_data), all in host byte order.
func cnDatagram(what uint32, data ...uint32) []byte {
	ne := binary.NativeEndian
	var ev []byte
	ev = ne.AppendUint32(ev, what)
	ev = ne.AppendUint32(ev, 1)         // cpu
	ev = ne.AppendUint64(ev, 123456789) // timestamp_ns
	for _, d := range data {
		ev = ne.AppendUint32(ev, d)
	}
	var cn []byte
	cn = ne.AppendUint32(cn, 1) // CN_IDX_PROC
	cn = ne.AppendUint32(cn, 1) // CN_VAL_PROC
	cn = ne.AppendUint32(cn, 7) // seq
	cn = ne.AppendUint32(cn, 8) // ack
	cn = ne.AppendUint16(cn, uint16(len(ev)))
	cn = ne.AppendUint16(cn, 0) // flags
	cn = append(cn, ev...)
	var b []byte
	b = ne.AppendUint32(b, uint32(16+len(cn)))
	b = ne.AppendUint16(b, 3) // NLMSG_DONE
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint32(b, 7) // nlmsg_seq
	b = ne.AppendUint32(b, 0) // nlmsg_pid: the kernel
	return append(b, cn...)
}

func TestParseConnectorDatagram(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want cnEvent
	}{
		// exec_proc_event: process_pid, process_tgid.
		{"Exec", cnDatagram(0x2, 4242, 4242), cnEvent{What: procEventExec, Seq: 7, Ack: 8, PID: 4242, TGID: 4242}},
		// exit_proc_event: process_pid, process_tgid, exit_code,
		// exit_signal, parent_pid, parent_tgid.
		{"Exit", cnDatagram(0x80000000, 4242, 4242, 9, 17, 1, 1), cnEvent{What: procEventExit, Seq: 7, Ack: 8, PID: 4242, TGID: 4242}},
		{"Exit_PreParentFieldsKernel", cnDatagram(0x80000000, 4242, 4242, 0, 17), cnEvent{What: procEventExit, Seq: 7, Ack: 8, PID: 4242, TGID: 4242}},
		{"Exit_Thread", cnDatagram(0x80000000, 4243, 4242, 0, 0, 1, 1), cnEvent{What: procEventExit, Seq: 7, Ack: 8, PID: 4243, TGID: 4242}},
		// fork_proc_event: parent_pid, parent_tgid, child_pid, child_tgid.
		{"Fork", cnDatagram(0x1, 100, 100, 200, 200), cnEvent{What: procEventFork, Seq: 7, Ack: 8, PID: 200, TGID: 200, Parent: 100}},
		// The answer to PROC_CN_MCAST_LISTEN: PROC_EVENT_NONE, ack.err.
		{"Ack_EPERM", cnDatagram(0x0, 1), cnEvent{What: procEventNone, Seq: 7, Ack: 8, Err: 1}},
		// PROC_EVENT_COMM and friends are decoded as their type only.
		{"UnknownType_Comm", cnDatagram(0x200, 4242, 4242, 0x6c6c6568, 0x6f), cnEvent{What: 0x200, Seq: 7, Ack: 8}},
		{"UnknownType_NoData", cnDatagram(0x12345678), cnEvent{What: 0x12345678, Seq: 7, Ack: 8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := parseConnectorDatagram(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0] != tc.want {
				t.Fatalf("got %+v, want [%+v]", evs, tc.want)
			}
		})
	}
	t.Run("TwoMessages_Unaligned_Last", func(t *testing.T) {
		in := append(cnDatagram(0x2, 1, 1), cnDatagram(0x80000000, 1, 1, 0, 0, 0, 0)...)
		evs, err := parseConnectorDatagram(in)
		if err != nil || len(evs) != 2 || evs[0].What != procEventExec || evs[1].What != procEventExit {
			t.Fatalf("%+v %v", evs, err)
		}
	})
	t.Run("OtherConnector_Error", func(t *testing.T) {
		in := cnDatagram(0x2, 1, 1)
		binary.NativeEndian.PutUint32(in[16:], 2) // CN_IDX_CIFS
		if evs, err := parseConnectorDatagram(in); err == nil || len(evs) != 0 {
			t.Fatalf("%+v %v", evs, err)
		}
	})
	t.Run("CnMsgLenBeyondData_Error", func(t *testing.T) {
		in := cnDatagram(0x2, 1, 1)
		binary.NativeEndian.PutUint16(in[16+16:], 200)
		if _, err := parseConnectorDatagram(in); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("Truncated_Error_NeverPanics", func(t *testing.T) {
		for _, full := range [][]byte{cnDatagram(0x2, 1, 1), cnDatagram(0x1, 1, 1, 2, 2), cnDatagram(0x80000000, 1, 1, 0, 0), cnDatagram(0x0, 0)} {
			for n := 1; n < len(full); n++ {
				// Cut the datagram, and also keep the headers' lengths
				// consistent with the cut so the inner checks are reached.
				cut := bytes.Clone(full[:n])
				if _, err := parseConnectorDatagram(cut); err == nil {
					t.Fatalf("%d of %d bytes: no error", n, len(full))
				}
				if n >= 16 {
					binary.NativeEndian.PutUint32(cut, uint32(n))
					if n >= 16+18 {
						binary.NativeEndian.PutUint16(cut[16+16:], uint16(n-16-20))
					}
					if evs, err := parseConnectorDatagram(cut); err == nil {
						t.Fatalf("%d of %d bytes, lengths fixed: no error, %+v", n, len(full), evs)
					}
				}
			}
		}
	})
	t.Run("McastOp_Layout", func(t *testing.T) {
		b := marshalMcastOp(99, 41, procCnMcastListen)
		ne := binary.NativeEndian
		if len(b) != 40 || ne.Uint32(b) != 40 || ne.Uint16(b[4:]) != unix.NLMSG_DONE || ne.Uint32(b[8:]) != 99 {
			t.Fatalf("nlmsghdr % x", b)
		}
		cn := b[16:]
		if ne.Uint32(cn) != 1 || ne.Uint32(cn[4:]) != 1 || ne.Uint32(cn[8:]) != 99 || ne.Uint32(cn[12:]) != 41 || ne.Uint16(cn[16:]) != 4 || ne.Uint32(cn[20:]) != 1 {
			t.Fatalf("cn_msg % x", cn)
		}
	})
}

func FuzzParseConnectorDatagram(f *testing.F) {
	f.Add(cnDatagram(0x2, 1, 1))
	f.Add(cnDatagram(0x1, 1, 1, 2, 2))
	f.Add(append(cnDatagram(0x80000000, 1, 1, 0, 0, 0, 0), cnDatagram(0x0, 0)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseConnectorDatagram(b)
	})
}

// startSleep starts bin (a uniqueSleep copy) for 30 s and reaps it when
// the test ends.
func startSleep(t *testing.T, bin string) *exec.Cmd {
	t.Helper()
	c := exec.Command(bin, "30")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c
}

// waitUpdate waits for an update with OK=ok and count=value, and returns it.
func waitUpdate(t *testing.T, up *updates, ok bool, value int) Update {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case u := <-up.ch:
			if u.OK == ok && u.Value == value {
				return u
			}
		case <-deadline:
			t.Fatalf("no update with OK=%v count=%d", ok, value)
		}
	}
}

// testSourceFollowsSleep checks that src counts a process started after it
// started and sees its exit.
func testSourceFollowsSleep(t *testing.T, opts ProcessEventsOptions, desc string) *ProcessEvents {
	t.Helper()
	bin, comm := uniqueSleep(t)
	up := newUpdates()
	tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: comm, Params: []string{"30"}}}, nil, quiet, up.emit)
	ev, err := StartProcessEventsWith(tr, "/proc", quiet, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ev.Close() })
	if ev.Source() != opts.Sources[0] {
		t.Fatalf("source %q, want %q", ev.Source(), opts.Sources[0])
	}
	if u := waitUpdate(t, up, false, 0); !strings.Contains(u.Reason, desc) {
		t.Fatalf("start-up reason %q does not name the source %q", u.Reason, desc)
	}
	c := startSleep(t, bin)
	if u := waitUpdate(t, up, true, 1); !strings.Contains(u.Reason, fmt.Sprint(c.Process.Pid)) && opts.Sources[0] != SourcePoll {
		t.Fatalf("reason %q does not name pid %d", u.Reason, c.Process.Pid)
	}
	if cur := tr.Current(); len(cur) != 1 || !strings.Contains(cur[0].Reason, desc) {
		t.Fatalf("status %+v does not name the source %q", cur, desc)
	}
	_ = c.Process.Kill()
	_ = c.Wait()
	waitUpdate(t, up, false, 0)
	return ev
}

func TestProcessEventsConnector_CountsExecAndExit(t *testing.T) {
	lab.RequirePrivileged(t)
	ev := testSourceFollowsSleep(t, ProcessEventsOptions{Sources: []ProcessSource{SourceConnector}}, "(via proc connector)")
	// Counted and uncounted by events, not by rescans (one at start-up,
	// one per socket overrun).
	if st := ev.Stats(); st.Events == 0 || st.Rescans != 1+st.Lost {
		t.Fatalf("stats %+v", st)
	}
}

func TestProcessEventsPoll_CountsExecAndExit(t *testing.T) {
	ev := testSourceFollowsSleep(t, ProcessEventsOptions{Sources: []ProcessSource{SourcePoll}, PollInterval: 50 * time.Millisecond}, "(polling /proc every 50ms)")
	if st := ev.Stats(); st.Rescans < 3 || st.Events != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// syncBuffer is a log destination safe for the sources' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Inside a network namespace the connector refuses (keepalived's "errno
// 111 - Connection refused"); the next source takes over, and one warning
// says which and why.
func TestProcessEventsConnector_RefusedInNetworkNamespace_FallsBack(t *testing.T) {
	lab.RequirePrivileged(t)
	ns := lab.NewNS(t, "pcn")
	tr := NewProcessTracker([]ProcessConfig{{Name: "p", Process: "nothing-runs-this"}}, nil, quiet, nil)
	err := ns.Do(func() error {
		ev, err := StartProcessEventsWith(tr, "/proc", quiet, ProcessEventsOptions{Sources: []ProcessSource{SourceConnector}})
		if err == nil {
			ev.Close()
		}
		return err
	})
	if !errors.Is(err, unix.ECONNREFUSED) || !strings.Contains(err.Error(), "initial network namespace") {
		t.Fatalf("connector in a netns: err %v, want ECONNREFUSED naming the namespace", err)
	}

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var ev *ProcessEvents
	if err := ns.Do(func() error {
		var err error
		ev, err = StartProcessEventsWith(tr, "/proc", log, ProcessEventsOptions{Sources: []ProcessSource{SourceConnector, SourcePoll}, PollInterval: 50 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	if ev.Source() != SourcePoll {
		t.Fatalf("source %q", ev.Source())
	}
	deadline := time.Now().Add(15 * time.Second)
	for ev.Stats().Rescans < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("not polling: %+v", ev.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := logs.String()
	if strings.Count(got, "level=WARN") != 1 || !strings.Contains(got, "source=poll") || !strings.Contains(got, "connection refused") {
		t.Fatalf("want one warning naming the poll source and the connector's error, got:\n%s", got)
	}
}
