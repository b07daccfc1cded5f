package daemon

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/sched"
	"github.com/xvrrp/xvrrp/control/track"
)

// TestNotifyPriorityChanges_FIFOLine_Keepalived: with notify_priority_changes
// a change of the effective priority writes keepalived's FIFO line
// (vrrp_track.c vrrp_set_effective_priority → send_instance_priority_notifies:
// BACKUP_PRIORITY outside MASTER); without it, nothing is written.
func TestNotifyPriorityChanges_FIFOLine_Keepalived(t *testing.T) {
	for _, tc := range []struct {
		name string
		on   bool
		want string
	}{
		{"On_BackupPriority", true, "INSTANCE \"VI_1\" BACKUP_PRIORITY 90\n"},
		{"Off_NoLine", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "notify.fifo")
			n, err := track.NewNotifier(track.NotifyOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), FIFO: fifo})
			if err != nil {
				t.Fatal(err)
			}
			rd, err := os.Open(fifo)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), ctx: context.Background(), byName: map[string]*instance{}}
			d.trackers = &trackerSet{d: d, latest: map[trackKey]track.Update{}, linkUp: map[string]bool{"up0": true},
				run: &trackerRun{notifier: n, envs: map[string]*atomic.Pointer[track.InstanceEnv]{}}}
			if d.sched, err = sched.New(4, func(time.Time, []int) {}, sched.Options{}); err != nil {
				t.Fatal(err)
			}
			ifc := &iface{name: "lan0", index: 7, up: true, readSource: func(int) (netip.Addr, error) { return netip.MustParseAddr("198.18.0.1"), nil }}
			r := addrTestInstance(t, d, "VI_1", 0, ifc, netip.Addr{})
			r.cfg.Notify.PriorityChanges = tc.on
			r.cfg.TrackInterfaces = []config.TrackInterface{{Name: "up0", Weight: -10}}
			d.trackers.linkChanged("up0", false) // priority 100 → 90
			if got := r.m.EffectivePriority(); got != 90 {
				t.Fatalf("effective priority %d, want 90", got)
			}
			// A state line after it shows what came before.
			n.Notify(track.NotifyEvent{Name: "MARK", State: "STOP"})
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(rd)
			if got, _ := br.ReadString('\n'); got != "INSTANCE \"VI_1\" BACKUP 100\n" {
				t.Fatalf("first fifo line %q, want the startup's BACKUP", got)
			}
			got, _ := br.ReadString('\n')
			if tc.want != "" {
				if got != tc.want {
					t.Fatalf("fifo line %q, want %q", got, tc.want)
				}
				got, _ = br.ReadString('\n')
			}
			if got != "INSTANCE \"MARK\" STOP 0\n" {
				t.Fatalf("fifo line %q, want only the marker", got)
			}
		})
	}
}
