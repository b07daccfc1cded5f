package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// scenarioHost is one lab host running an example's nodeN configuration,
// with a private /tmp holding the scripts and files the example names.
type scenarioHost struct {
	*lab.Host
	n   *node
	tmp string // the host's /tmp, seen from the test
}

func (s *scenarioHost) file(rel string) string { return filepath.Join(s.tmp, rel) }

func (s *scenarioHost) write(t *testing.T, rel, content string, mode os.FileMode) {
	t.Helper()
	p := s.file(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// exampleScripts are the scripts the examples name, written on every host:
// each succeeds unless its trigger file exists in the host's /tmp.
var exampleScripts = map[string]string{
	"xvrrp-example/down.sh":   "#!/bin/sh\n[ ! -e /tmp/xvrrp-down ]\n",
	"xvrrp-example/alive.sh":  "#!/bin/sh\n[ ! -e /tmp/xvrrp-dead ]\n",
	"xvrrp-example/check.sh":  "#!/bin/sh\n[ ! -e /tmp/xvrrp-check-fail ]\n",
	"xvrrp-example/notify.sh": "#!/bin/sh\nprintf '%s\\n' \"$*\" >> /tmp/xvrrp-notify-$1\n",
}

// scenario is an example's end-to-end check, as its top comment describes.
type scenario struct {
	// veth1 creates a second interface "veth1" on each host, up or down.
	veth1 string
	// before runs after the hosts' /tmp is prepared, before the daemons.
	before func(t *testing.T, lan *lab.LAN, hs []*scenarioHost)
	check  func(t *testing.T, lan *lab.LAN, hs []*scenarioHost)
}

var scenarios = map[string]scenario{
	"basic": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkHandover(t, lan, hs, "198.18.0.100", "eth0:0")
	}},
	"basic-auth": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkHandover(t, lan, hs, "198.18.0.120", "eth0:vip")
	}},
	"unicast-include": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkHandover(t, lan, hs, "198.18.0.110", "eth0:uni")
	}},
	"unicast-script": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		waitHolder(t, lan.Hosts, hs[0].Host, "198.18.0.100", 15*time.Second)
		// The check fails twice (interval 2, fall 2): 100-30 = 70 < 80.
		hs[0].write(t, "xvrrp-down", "", 0o644)
		waitHolder(t, lan.Hosts, hs[1].Host, "198.18.0.100", 20*time.Second)
		if st := hs[0].n.instance("WEB1"); st.EffectivePriority != 70 || st.State != "BACKUP" {
			t.Fatalf("host 1 with a failing check: %s at %d, want BACKUP at 70", st.State, st.EffectivePriority)
		}
		os.Remove(hs[0].file("xvrrp-down"))
		waitHolder(t, lan.Hosts, hs[0].Host, "198.18.0.100", 20*time.Second)
	}},
	"trackers": {
		veth1: "up",
		before: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
			startSleep(t)
			hs[0].write(t, "xvrrp-track-1", "5\n", 0o644)
		},
		check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
			// Host 2 advertises 240+10+0+5 = 255 → 254 too; with its veth1
			// down (250) host 1 must be master and advertise 254.
			hs[1].IP("link", "set", "veth1", "down")
			waitHolder(t, lan.Hosts, hs[0].Host, "198.18.0.101", 15*time.Second)
			if p := wirePriority(t, lan, hs[0], 52); p != 254 {
				t.Fatalf("host 1 advertises priority %d, want 244+10+5+5 clamped to 254", p)
			}
			waitFileContains(t, hs[0].file("xvrrp-notify-1"), "1 INSTANCE VI_1 MASTER 254")
		}},
	"users/no-track": {veth1: "down", check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkNoTrack(t, lan, hs, "198.18.0.102")
	}},
	// users/script-security: scripts run as nobody, so only
	// "executable by nobody" guards them (keepalived checks the path of
	// scripts that gain root only); a weight-0 tracker failing, or a script
	// nobody may execute, is FAULT and the VIP moves.
	"users/script-security": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		addr := "198.18.0.103"
		waitHolder(t, lan.Hosts, hs[0].Host, addr, 15*time.Second)
		hs[0].write(t, "xvrrp-dead", "", 0o644)
		waitHolder(t, lan.Hosts, hs[1].Host, addr, 15*time.Second)
		if st := hs[0].n.instance("VI_1"); st.State != "FAULT" {
			t.Fatalf("host 1 with its weight-0 script failing: %s, want FAULT", st.State)
		}
		os.Remove(hs[0].file("xvrrp-dead"))
		waitHolder(t, lan.Hosts, hs[0].Host, addr, 15*time.Second)
		if err := os.Chmod(hs[0].file("xvrrp-example/alive.sh"), 0o700); err != nil {
			t.Fatal(err)
		}
		waitHolder(t, lan.Hosts, hs[1].Host, addr, 15*time.Second)
		waitTrackerDetail(t, hs[0], "VI_1", "FAULT", "mode 0700 does not let user nobody (uid 65534) execute it")
	}},
	// test/examples/script-security: scripts run as root, so the path is
	// checked; a world-writable directory fails the tracker closed.
	"xvrrp/script-security": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		addr := "198.18.0.122"
		waitHolder(t, lan.Hosts, hs[0].Host, addr, 15*time.Second)
		if err := os.Chmod(hs[0].file("xvrrp-example"), 0o777); err != nil {
			t.Fatal(err)
		}
		waitHolder(t, lan.Hosts, hs[1].Host, addr, 15*time.Second)
		waitTrackerDetail(t, hs[0], "VI_SEC", "FAULT", "/tmp/xvrrp-example is mode 0777 (world-writable)")
	}},
	"v3-fast": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkSyncGroupFailover(t, lan, hs, "198.18.0.104", "2001:db8::104")
	}},
	"sync-group-v3": {check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkSyncGroupFailover(t, lan, hs, "198.18.0.112", "2001:db8::113")
		waitFileContains(t, hs[1].file("xvrrp-notify-GROUP"), "GROUP 2 GROUP SG_V3 MASTER")
	}},
	"xvrrp/no-track": {veth1: "down", check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
		checkNoTrack(t, lan, hs, "198.18.0.121")
	}},
	"trackers-notify": {
		veth1:  "up",
		before: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) { startSleep(t) },
		check: func(t *testing.T, lan *lab.LAN, hs []*scenarioHost) {
			waitHolder(t, lan.Hosts, hs[0].Host, "198.18.0.111", 20*time.Second)
			waitFileContains(t, hs[0].file("xvrrp-notify-MASTER"), "MASTER 1")
			hs[0].write(t, "xvrrp-check-fail", "", 0o644)
			waitHolder(t, lan.Hosts, hs[1].Host, "198.18.0.111", 20*time.Second)
			waitFileContains(t, hs[0].file("xvrrp-notify-ANY"), "ANY 1 INSTANCE VI_TRK BACKUP")
		}},
}

// checkNoTrack: with the down veth1's VIP marked no_track, host 1 holds addr
// and stays MASTER with no fault reason.
func checkNoTrack(t *testing.T, lan *lab.LAN, hs []*scenarioHost, addr string) {
	waitHolder(t, lan.Hosts, hs[0].Host, addr, 15*time.Second)
	holdsFor(t, lan.Hosts, hs[0].Host, addr, 2*time.Second)
	for _, in := range hs[0].n.status().Instances {
		if in.State != "MASTER" || len(in.FaultReasons) > 0 {
			t.Fatalf("host 1 %s: %s %v, want MASTER with no fault (the down veth1 is no_track)", in.Name, in.State, in.FaultReasons)
		}
	}
}

// waitTrackerDetail waits for instance name on h to be in state with a
// tracker whose detail contains want.
func waitTrackerDetail(t *testing.T, h *scenarioHost, name, state, want string) {
	t.Helper()
	err := lab.Eventually(10*time.Second, func() error {
		st := h.n.instance(name)
		detail := ""
		for _, tr := range st.Trackers {
			detail += tr.Detail + "; "
		}
		if st.State != state || !strings.Contains(detail, want) {
			return fmt.Errorf("%s is %s with trackers %q, want %s with %q", name, st.State, detail, state, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startSleep runs a "sleep" process for track_process for the test's life.
func startSleep(t *testing.T) {
	cmd := exec.Command("sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// checkHandover: host 1 holds addr (with label, if given); SIGTERM it and
// host 2 takes over.
func checkHandover(t *testing.T, lan *lab.LAN, hs []*scenarioHost, addr, label string) {
	waitHolder(t, lan.Hosts, hs[0].Host, addr, 15*time.Second)
	if label != "" {
		if out := hs[0].IP("-4", "addr", "show", "dev", "eth0"); !strings.Contains(out, label) {
			t.Fatalf("%s lacks label %s:\n%s", addr, label, out)
		}
	}
	hs[0].n.stop()
	waitHolder(t, lan.Hosts, hs[1].Host, addr, 10*time.Second)
}

// checkSyncGroupFailover: host 1 holds both VIPs; cut it, host 2 holds both,
// and never only one of them.
func checkSyncGroupFailover(t *testing.T, lan *lab.LAN, hs []*scenarioHost, v4, v6 string) {
	waitHolder(t, lan.Hosts, hs[0].Host, v4, 15*time.Second)
	waitHolder(t, lan.Hosts, hs[0].Host, v6, 5*time.Second)
	cut := time.Now()
	lan.Cut(hs[0].Host)
	waitAddr(t, hs[1].Host, v4, 10*time.Second)
	waitAddr(t, hs[1].Host, v6, 10*time.Second)
	t.Logf("sync group moved to host 2 %v after the cut", time.Since(cut).Round(time.Millisecond))
}

// wirePriority reads the priority of host h's adverts for vrid from the
// bridge.
func wirePriority(t *testing.T, lan *lab.LAN, h *scenarioHost, vrid uint8) uint8 {
	t.Helper()
	capt, err := lan.Bridge.StartCapture(h.Port)
	if err != nil {
		t.Fatal(err)
	}
	var prio uint8
	err = lab.Eventually(5*time.Second, func() error {
		for _, f := range capt.Frames() {
			if v, p, ok := lab.VRRPPriority(f.Data); ok && v == vrid {
				prio = p
				return nil
			}
		}
		return fmt.Errorf("no advert for VRID %d from %s", vrid, h.Name)
	})
	if err != nil {
		t.Fatal(err)
	}
	return prio
}

func waitFileContains(t *testing.T, path, want string) {
	t.Helper()
	err := lab.Eventually(10*time.Second, func() error {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return nil
		}
		return fmt.Errorf("%s has %q, want a line with %q", path, b, want)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exampleDirs lists the scenario folders: the project's own (test/examples)
// and the ones keepalived users gave the project (test/examples/users),
// both inside the repository so that a clone anywhere runs them all.
func exampleDirs(t *testing.T) map[string]string {
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	own := filepath.Join(root, "test", "examples")
	for prefix, dir := range map[string]string{"xvrrp": own, "users": filepath.Join(own, "users")} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("examples in %s: %v", dir, err)
		}
		for _, e := range ents {
			if e.IsDir() && !(prefix == "xvrrp" && e.Name() == "users") {
				out[prefix+"/"+e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	return out
}

// nodeConfig returns the configuration file of host n in an example folder:
// nodeN.conf, or nodeN/keepalived.conf (with its includes beside it).
func nodeConfig(dir string, n int) (string, bool) {
	for _, p := range []string{filepath.Join(dir, fmt.Sprintf("node%d.conf", n)), filepath.Join(dir, fmt.Sprintf("node%d", n), "keepalived.conf")} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// TestExampleScenarios runs every example configuration unchanged on two
// hosts and checks what the comment at its top says.
func TestExampleScenarios(t *testing.T) {
	dirs := exampleDirs(t)
	if len(dirs) == 0 {
		t.Fatal("no example folders found")
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			sc, ok := scenarios[name] // a folder of one collection
			if !ok {
				sc, ok = scenarios[filepath.Base(dir)]
			}
			if !ok {
				t.Fatalf("no end-to-end check for example %s: add one to scenarios", dir)
			}
			lan := lab.NewLAN(t, 2)
			var hs []*scenarioHost
			for i, h := range lan.Hosts {
				conf, ok := nodeConfig(dir, i+1)
				if !ok {
					t.Fatalf("%s has no node%d configuration", dir, i+1)
				}
				tmp := filepath.Join("/run/xvrrp-e2e", h.Name+"-tmp")
				if err := os.MkdirAll(tmp, 0o755); err != nil {
					t.Fatal(err)
				}
				// Like /tmp: world-writable and sticky.
				if err := os.Chmod(tmp, 0o1777|os.ModeSticky); err != nil {
					t.Fatal(err)
				}
				syscall.Chmod(tmp, 0o1777)
				t.Cleanup(func() { os.RemoveAll(tmp) })
				s := &scenarioHost{Host: h, tmp: tmp}
				for rel, body := range exampleScripts {
					s.write(t, rel, body, 0o755)
				}
				if sc.veth1 != "" {
					h.IP("link", "add", "veth1", "type", "veth", "peer", "name", "veth1p")
					h.IP("link", "set", "veth1p", "up")
					h.IP("link", "set", "veth1", sc.veth1)
				}
				s.n = &node{t: t, host: h, conf: conf}
				hs = append(hs, s)
			}
			if sc.before != nil {
				sc.before(t, lan, hs)
			}
			for i, s := range hs {
				conf, _ := nodeConfig(dir, i+1)
				s.n = startXvrrpdFile(t, s.Host, conf, startOpts{privateTmp: s.tmp})
			}
			sc.check(t, lan, hs)
		})
	}
}
