package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// WatchdogSec= (systemd.service(5), sd_watchdog_enabled(3)): systemd passes
// $WATCHDOG_USEC (and $WATCHDOG_PID, the process it watches); xvrrpd then
// sends WATCHDOG=1 after READY=1 at half that period, and never for a
// WATCHDOG_PID that is not its own. STOPPING=1 ends the pings.
func TestSystemdWatchdogPings_WatchdogSec(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	for _, c := range []struct {
		name  string
		env   []string
		pings bool
	}{
		{"WatchdogUsec", []string{"WATCHDOG_USEC=200000"}, true},
		{"OtherProcessWatched", []string{"WATCHDOG_USEC=200000", "WATCHDOG_PID=1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sock := newNotifySocket(t)
			dir := nodeDir(t, h)
			conf := filepath.Join(dir, "keepalived.conf")
			a := inst{name: "VI_1", vrid: 52, prio: 150, vips: []string{"198.18.0.101/24"}}
			if err := os.WriteFile(conf, []byte(confOf(a)), 0o644); err != nil {
				t.Fatal(err)
			}
			n := &node{t: t, host: h, dir: dir, conf: conf, kind: "xvrrpd"}
			args := append([]string{"NOTIFY_SOCKET=" + sock.path}, c.env...)
			args = append(args, filepath.Join(binDir, "xvrrpd"), "--dont-fork", "-f", conf,
				"--pin-dir", "/sys/fs/bpf/xvrrp-"+h.Name, "--control-socket", n.socket(),
				"--pid-file", filepath.Join(dir, "pid"), "--metrics-address", "")
			n.proc = h.Start(t, "xvrrpd-"+h.Name, "env", args...)

			if msg := sock.next(t, 20*time.Second); !has(msg, "READY=1") {
				t.Fatalf("first sd_notify message %q, want READY=1", msg)
			}
			if c.pings {
				for i := 0; i < 3; i++ {
					if msg := sock.next(t, 5*time.Second); strings.Join(msg, "\n") != "WATCHDOG=1" {
						t.Fatalf("message %d after READY=1: %q, want WATCHDOG=1", i+1, msg)
					}
				}
			} else {
				// Four periods without a message: nothing pings for pid 1.
				buf := make([]byte, 4096)
				_ = sock.conn.SetReadDeadline(time.Now().Add(800 * time.Millisecond))
				if k, err := sock.conn.Read(buf); err == nil {
					t.Fatalf("WATCHDOG_PID=1: xvrrpd sent %q", buf[:k])
				}
			}
			if err := n.proc.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			for {
				msg := sock.next(t, 5*time.Second)
				if has(msg, "STOPPING=1") {
					break
				}
				if !c.pings || strings.Join(msg, "\n") != "WATCHDOG=1" {
					t.Fatalf("after SIGTERM: %q, want WATCHDOG=1 until STOPPING=1", msg)
				}
			}
			if err := n.proc.Wait(5 * time.Second); err != nil {
				t.Fatalf("xvrrpd after SIGTERM: %v", err)
			}
			// Nothing after STOPPING=1.
			buf := make([]byte, 4096)
			_ = sock.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if k, err := sock.conn.Read(buf); err == nil {
				t.Errorf("after STOPPING=1 and exit: %q", buf[:k])
			}
		})
	}
}
