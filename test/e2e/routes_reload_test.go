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

// keepalived vrrp_daemon.c reload (clear_diff_vrrp → clear_diff_routes,
// clear_diff_rules; clear_diff_static_*): a reload of a MASTER whose
// instance is unchanged apart from its virtual_routes applies only the
// difference (the route the new file drops is removed, the one it adds is
// added) without a transition: no notify line, the VIP never leaves. A
// static route the new file drops is removed from the host.
func TestReloadAppliesRouteDifferenceWithoutTransition_Keepalived(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	h1 := lan.Hosts[0]
	dir := scriptDir(t, h1.Name+"-rr")
	log := filepath.Join(dir, "log")
	writeScript(t, filepath.Join(dir, "notify.sh"), fmt.Sprintf("echo \"$*\" >> %s\n", log))
	const (
		kept    = "198.18.20.0/24 via 198.18.0.1 dev eth0"
		dropped = "198.18.21.0/24 via 198.18.0.1 dev eth0"
		added   = "198.18.22.0/24 via 198.18.0.1 dev eth0"
		static  = "198.18.23.0/24 via 198.18.0.1 dev eth0"
	)
	conf := func(routes []string, withStatic bool) string {
		a := inst{name: "VI_1", vrid: 81, prio: 150, state: "MASTER", vips: []string{"198.18.0.100/24"},
			extra: fmt.Sprintf("    notify %q\n    virtual_routes {\n        %s\n    }\n",
				filepath.Join(dir, "notify.sh"), strings.Join(routes, "\n        "))}
		c := confOf(a)
		if withStatic {
			c = strings.Replace(c, "vrrp_instance", "static_routes {\n    "+static+"\n}\nvrrp_instance", 1)
		}
		return c
	}
	route := func(r string) hostObject {
		return hostObject{[]string{"-4", "route", "show", "table", "main"}, r + " proto keepalived"}
	}
	n1 := startXvrrpd(t, h1, conf([]string{kept, dropped}, true), startOpts{})
	startXvrrpd(t, lan.Hosts[1], confOf(inst{name: "VI_1", vrid: 81, prio: 100, vips: []string{"198.18.0.100/24"}}), startOpts{})
	waitHolder(t, lan.Hosts, h1, "198.18.0.100", 10*time.Second)
	waitFileContains(t, log, "INSTANCE VI_1 MASTER 150")
	waitObjects(t, h1, []hostObject{route(kept), route(dropped), route(static)}, true, "routes before the reload")
	before, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	st := n1.instance("VI_1")

	stop := make(chan struct{})
	lost := make(chan string, 1)
	go func() {
		defer close(lost)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if !hasAddr(t, h1, "198.18.0.100") {
				lost <- "the VIP left the master during the reload"
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if err := os.WriteFile(n1.conf, []byte(conf([]string{kept, added}, false)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := n1.ctl("reload"); code != 0 {
		t.Fatalf("reload: exit %d\n%s", code, out)
	}
	waitObjects(t, h1, []hostObject{route(kept), route(added)}, true, "routes the new file has")
	waitObjects(t, h1, []hostObject{route(dropped)}, false, "the virtual route the new file dropped")
	waitObjects(t, h1, []hostObject{route(static)}, false, "the static route the new file dropped")
	close(stop)
	if msg, ok := <-lost; ok {
		t.Fatal(msg)
	}
	after := n1.instance("VI_1")
	if after.State != "MASTER" || len(after.Transitions) != len(st.Transitions) || !after.Since.Equal(st.Since) || after.VirtualRoutes != 2 || !after.RoutesHeld {
		t.Fatalf("master after the reload: %s, %d transitions since %v, %d routes held %v; want MASTER, still %d since %v, 2 routes held",
			after.State, len(after.Transitions), after.Since, after.VirtualRoutes, after.RoutesHeld, len(st.Transitions), st.Since)
	}
	if s := n1.status().Static; s.Routes != 0 {
		t.Fatalf("static routes in status after the reload: %d, want 0", s.Routes)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(before) {
		t.Fatalf("notify ran on a routes-only reload: %q", strings.TrimPrefix(string(got), string(before)))
	}
}
