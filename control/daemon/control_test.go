package daemon

import (
	"encoding/json"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
)

// failingListener's Accept fails with err for its first n calls (every
// call when n < 0), then hands out the connections of conns; it counts
// the calls.
type failingListener struct {
	err   error
	n     int
	conns chan net.Conn

	mu     sync.Mutex
	calls  int
	closed chan struct{}
	once   sync.Once
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	fail := l.n < 0 || l.calls <= l.n
	l.mu.Unlock()
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", l.err)}
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *failingListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *failingListener) Addr() net.Addr { return &net.UnixAddr{Name: "fake", Net: "unix"} }

func (l *failingListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// TestControlAcceptLoopBacksOffOnEMFILE: issue 23 item 7. A daemon out of
// descriptors spun its control socket's accept loop at 106 % CPU retrying
// EMFILE. The loop now waits 5 ms doubling to 1 s between failures: over
// 200 ms of failures it calls Accept a handful of times (5+10+20+40+80 ms:
// 6 calls), where a spinning loop makes hundreds of thousands.
func TestControlAcceptLoopBacksOffOnEMFILE(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		t.Run(errno.Error(), func(t *testing.T) {
			ln := &failingListener{err: errno, n: -1, closed: make(chan struct{})}
			s := &controlServer{ln: ln}
			s.wg.Add(1)
			go s.serve()
			time.Sleep(200 * time.Millisecond) // the window the calls are counted over
			got := ln.count()
			ln.Close()
			s.wg.Wait()
			if got < 2 || got > 8 {
				t.Fatalf("%d Accept calls in 200 ms of %v, want 2..8 (5 ms doubling backoff; a spinning loop makes thousands)", got, errno)
			}
		})
	}
}

// TestControlAcceptLoopServesAfterEMFILE: once descriptors are back, the
// loop that backed off accepts and answers again (it does not give up).
func TestControlAcceptLoopServesAfterEMFILE(t *testing.T) {
	ln := &failingListener{err: syscall.EMFILE, n: 4, conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	s := &controlServer{ln: ln}
	s.wg.Add(1)
	go s.serve()
	defer func() { ln.Close(); s.wg.Wait() }()
	client, server := net.Pipe()
	defer client.Close()
	ln.conns <- server
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(client).Encode(status.Request{Command: "nonsense"}); err != nil {
		t.Fatal(err)
	}
	var resp status.Response
	if err := json.NewDecoder(client).Decode(&resp); err != nil {
		t.Fatalf("no answer after the EMFILE failures: %v", err)
	}
	if resp.OK || resp.Error != `unknown command "nonsense" (status, reload)` {
		t.Fatalf("answer %+v, want the unknown-command error", resp)
	}
	// 4 failures, the connection, and maybe already the next Accept.
	if got := ln.count(); got != 5 && got != 6 {
		t.Fatalf("%d Accept calls, want 5 or 6 (4 failures, then the connection)", got)
	}
}
