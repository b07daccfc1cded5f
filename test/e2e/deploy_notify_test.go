package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// notifySocket is the service manager's end of sd_notify(3), owned by the
// test: a unixgram socket whose datagrams it reads in order.
type notifySocket struct {
	conn *net.UnixConn
	path string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join("/run", lab.UniqueName("xvrrp-notify-")+".sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); os.Remove(path) })
	return &notifySocket{conn: conn, path: path}
}

// next returns the next datagram's lines, failing t after d.
func (s *notifySocket) next(t *testing.T, d time.Duration) []string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify message within %v: %v", d, err)
	}
	return strings.Split(strings.TrimRight(string(buf[:n]), "\n"), "\n")
}

func has(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// Type=notify (systemd.service(5), sd_notify(3)): the first message is
// READY=1, sent only once the receive program is attached and the instance
// runs; a SIGHUP reload is bracketed by RELOADING=1 (with MONOTONIC_USEC)
// and READY=1 after the new configuration is in force; SIGTERM says
// STOPPING=1 and xvrrpd exits 0.
func TestSystemdNotifyReadyAfterAttach_TypeNotify(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	sock := newNotifySocket(t)
	dir := nodeDir(t, h)
	conf := filepath.Join(dir, "keepalived.conf")
	a := inst{name: "VI_1", vrid: 51, prio: 150, vips: []string{"198.18.0.100/24"}}
	if err := os.WriteFile(conf, []byte(confOf(a)), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	n := &node{t: t, host: h, dir: dir, conf: conf, kind: "xvrrpd"}
	// keepalived's unit runs `keepalived --dont-fork $DAEMON_ARGS`; so does
	// xvrrpd.service.
	n.proc = h.Start(t, "xvrrpd-"+h.Name, "env", "NOTIFY_SOCKET="+sock.path,
		filepath.Join(binDir, "xvrrpd"), "--dont-fork", "-D", "-f", conf,
		"--pin-dir", "/sys/fs/bpf/xvrrp-"+h.Name, "--control-socket", n.socket(),
		"--pid-file", filepath.Join(dir, "pid"), "--metrics-address", "", "--ready-file", ready)

	msg := sock.next(t, 20*time.Second)
	if !has(msg, "READY=1") {
		t.Fatalf("first sd_notify message %q, want READY=1", msg)
	}
	// At READY=1 the daemon is up: its ready file is there, the receive
	// program is on eth0 and the instance has left INIT.
	if _, err := os.Stat(ready); err != nil {
		t.Errorf("READY=1 before the ready file: %v", err)
	}
	if link := run(t, h, "ip", "-d", "link", "show", "dev", "eth0"); !strings.Contains(link, "prog/xdp") {
		t.Errorf("READY=1 before the XDP program was attached to eth0:\n%s", link)
	}
	if st := n.instance("VI_1"); st.State == "INIT" || st.BasePriority != 150 {
		t.Errorf("at READY=1: VI_1 %s priority %d, want it running with priority 150", st.State, st.BasePriority)
	}

	a.prio = 120
	if err := os.WriteFile(conf, []byte(confOf(a)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	msg = sock.next(t, 10*time.Second)
	if !has(msg, "RELOADING=1") || !strings.HasPrefix(msg[len(msg)-1], "MONOTONIC_USEC=") {
		t.Fatalf("after SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", msg)
	}
	msg = sock.next(t, 10*time.Second)
	if !has(msg, "READY=1") || !has(msg, "STATUS=reloaded "+conf) {
		t.Fatalf("after the reload: %q, want READY=1 and STATUS=reloaded", msg)
	}
	if st := n.instance("VI_1"); st.BasePriority != 120 {
		t.Errorf("READY=1 after the reload, but VI_1's priority is %d, want 120", st.BasePriority)
	}

	if err := n.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if msg = sock.next(t, 5*time.Second); !has(msg, "STOPPING=1") {
		t.Fatalf("after SIGTERM: %q, want STOPPING=1", msg)
	}
	if err := n.proc.Wait(5 * time.Second); err != nil {
		t.Fatalf("xvrrpd after SIGTERM: %v", err)
	}
}
