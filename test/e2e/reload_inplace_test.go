package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// keepalived's reload rule: an instance whose identity is
// unchanged keeps its state, VIPs and notifications; a priority change is
// only a priority change. A reload that lowers the master's priority from
// 200 to 190 (backup 100) runs no notify script, never drops the VIP, and
// the next adverts carry 190.
func TestReloadPriorityChangeKeepsStateAndNotifies_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	dir := scriptDir(t, lan.Hosts[0].Name+"-rl")
	log := filepath.Join(dir, "log")
	writeScript(t, filepath.Join(dir, "notify.sh"), fmt.Sprintf("echo \"$*\" >> %s\n", log))
	a := inst{name: "VI_1", vrid: 51, prio: 200, vips: []string{"198.18.0.100/24"},
		extra: fmt.Sprintf("    notify %q\n", filepath.Join(dir, "notify.sh"))}
	b := inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"}}
	n1 := startXvrrpd(t, lan.Hosts[0], confOf(a), startOpts{})
	n2 := startXvrrpd(t, lan.Hosts[1], confOf(b), startOpts{})
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	waitFileContains(t, log, "INSTANCE VI_1 MASTER 200")
	before, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	st := n1.instance("VI_1")

	// Watch the VIP on both hosts through the reload.
	stop := make(chan struct{})
	lost := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(lost)
				return
			default:
			}
			if hs := holders(t, lan.Hosts, "198.18.0.100"); len(hs) != 1 || hs[0] != lan.Hosts[0].Name {
				lost <- fmt.Sprintf("VIP held by %v during the reload", hs)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	a.prio = 190
	if err := os.WriteFile(n1.conf, []byte(confOf(a)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	// The backup hears the new priority in the master's adverts.
	err = lab.Eventually(5*time.Second, func() error {
		if got := n2.instance("VI_1"); got.MasterPriority != 190 {
			return fmt.Errorf("backup hears master priority %d, want 190", got.MasterPriority)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a notify would have run by now
	close(stop)
	if msg, ok := <-lost; ok {
		t.Fatal(msg)
	}
	after := n1.instance("VI_1")
	if after.State != "MASTER" || after.EffectivePriority != 190 || len(after.Transitions) != len(st.Transitions) || !after.Since.Equal(st.Since) {
		t.Fatalf("master after the reload: %s at %d, %d transitions since %v; want MASTER at 190, still %d since %v",
			after.State, after.EffectivePriority, len(after.Transitions), after.Since, len(st.Transitions), st.Since)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(before) {
		t.Fatalf("notify ran on a priority-only reload: %q", strings.TrimPrefix(string(got), string(before)))
	}
	if bst := n2.instance("VI_1"); bst.State != "BACKUP" {
		t.Fatalf("backup is %s", bst.State)
	}
}
