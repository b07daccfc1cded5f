package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// scriptDir makes a root-owned 0755 directory outside /tmp for a test's
// scripts and flag files (it passes the script-security check).
func scriptDir(t *testing.T, name string) string {
	dir := filepath.Join("/run/xvrrp-e2e", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func writeScript(t *testing.T, path, body string) {
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestTrackScriptMovesTheVIPAndBack: a track_script that checks for a file,
// weight -30, fall 2 / rise 2. Creating the file on the master moves the VIP
// within fall × interval + Master_Down_Interval + 100 ms; removing it brings
// the VIP back.
func TestTrackScriptMovesTheVIPAndBack(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	const interval = time.Second
	var flags []string
	var nodes []*node
	for i, h := range lan.Hosts {
		dir := scriptDir(t, h.Name+"-trk")
		flag := filepath.Join(dir, "down")
		flags = append(flags, flag)
		writeScript(t, filepath.Join(dir, "check.sh"), fmt.Sprintf("[ ! -e %s ]\n", flag))
		conf := fmt.Sprintf("vrrp_script chk {\n    script %q\n    interval 1\n    weight -30\n    fall 2\n    rise 2\n}\n",
			filepath.Join(dir, "check.sh")) +
			confOf(inst{name: "VI_1", vrid: 51, prio: []int{100, 80}[i], vips: []string{"198.18.0.100/24"},
				extra: "    track_script {\n        chk\n    }\n"})
		nodes = append(nodes, startXvrrpd(t, h, conf, startOpts{}))
	}
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	if err := os.WriteFile(flags[0], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	took := waitAddr(t, lan.Hosts[1], "198.18.0.100", 15*time.Second).Sub(start)
	bound := 2*interval + masterDown(80, 100*time.Millisecond) + 100*time.Millisecond
	t.Logf("failing check: VIP moved after %s (bound fall × interval + Master_Down_Interval + 100 ms = %s)", fmtMs(took), fmtMs(bound))
	if took > bound {
		t.Fatalf("VIP moved after %s, bound %s", fmtMs(took), fmtMs(bound))
	}
	st := nodes[0].instance("VI_1")
	if st.EffectivePriority != 70 || len(st.Trackers) != 1 || st.Trackers[0].Delta != -30 || st.Trackers[0].Status != "failed" {
		t.Fatalf("host 1 after the failing check: priority %d, trackers %+v; want 70 with chk failed at -30", st.EffectivePriority, st.Trackers)
	}

	start = time.Now()
	os.Remove(flags[0])
	took = waitAddr(t, lan.Hosts[0], "198.18.0.100", 15*time.Second).Sub(start)
	t.Logf("check passing again: VIP back after %s (rise 2)", fmtMs(took))
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 5*time.Second)
}

// TestTrackersShowInTheAdvertisedPriority: track_process (weight 10),
// track_file (weight 1) and track_interface (weight 5) change the priority
// on the wire exactly as configured.
func TestTrackersShowInTheAdvertisedPriority(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	dir := scriptDir(t, h.Name+"-trk")
	// A uniquely named copy of sleep, so that no other process on the host
	// counts for the tracker.
	proc := lab.UniqueName("xvs")
	procPath := filepath.Join(dir, proc)
	copyFile(t, "/bin/sleep", procPath)
	file := filepath.Join(dir, "weight")
	h.IP("link", "add", "veth1", "type", "veth", "peer", "name", "veth1p")
	h.IP("link", "set", "veth1p", "up")
	conf := fmt.Sprintf("vrrp_track_process proc {\n    process %s\n    weight 10\n}\n"+
		"vrrp_track_file file {\n    file %s\n}\n", proc, file) +
		confOf(inst{name: "VI_1", vrid: 51, prio: 100, vips: []string{"198.18.0.100/24"},
			extra: "    track_process {\n        proc\n    }\n    track_file {\n        file weight 1\n    }\n    track_interface {\n        veth1 weight 5\n    }\n"})
	n := startXvrrpd(t, h, conf, startOpts{})
	waitHolder(t, lan.Hosts, h, "198.18.0.100", 10*time.Second)
	capt, err := lan.Bridge.StartCapture(h.Port)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(step string, want uint8) {
		t.Helper()
		since := time.Now()
		err := lab.Eventually(5*time.Second, func() error {
			got := uint8(0)
			for _, f := range capt.Frames() {
				if v, p, ok := lab.VRRPPriority(f.Data); ok && v == 51 && !f.At.Before(since) {
					got = p
				}
			}
			if got != want {
				return fmt.Errorf("%s: latest advert has priority %d, want %d", step, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\nstatus: %+v", err, n.instance("VI_1").Trackers)
		}
		t.Logf("%s: advertised priority %d", step, want)
	}
	expect("no process, no file, veth1 down", 100)
	sleeper := exec.Command(procPath, "3600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	expect("process running (+10)", 110)
	if err := os.WriteFile(file, []byte("5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("file holds 5 (× weight 1)", 115)
	h.IP("link", "set", "veth1", "up")
	expect("veth1 up (+5)", 120)
	sleeper.Process.Kill()
	sleeper.Wait()
	expect("process gone", 110)
	h.IP("link", "set", "veth1", "down")
	expect("veth1 down", 105)
}

func copyFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyScriptSeesEveryTransition: notify gets the four keepalived
// arguments (and xvrrp's environment) after each transition.
func TestNotifyScriptSeesEveryTransition(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	var logs []string
	var nodes []*node
	for i, h := range lan.Hosts {
		dir := scriptDir(t, h.Name+"-ntf")
		log := filepath.Join(dir, "log")
		logs = append(logs, log)
		writeScript(t, filepath.Join(dir, "notify.sh"), fmt.Sprintf("echo \"$* $XVRRP_INTERFACE $XVRRP_VRID\" >> %s\n", log))
		conf := confOf(inst{name: "VI_1", vrid: 51, prio: []int{100, 80}[i], vips: []string{"198.18.0.100/24"},
			extra: fmt.Sprintf("    notify %q\n", filepath.Join(dir, "notify.sh"))})
		nodes = append(nodes, startXvrrpd(t, h, conf, startOpts{}))
	}
	waitHolder(t, lan.Hosts, lan.Hosts[0], "198.18.0.100", 10*time.Second)
	waitFileContains(t, logs[0], "INSTANCE VI_1 MASTER 100 eth0 51")
	waitFileContains(t, logs[1], "INSTANCE VI_1 BACKUP 80 eth0 51")
	nodes[0].stop()
	waitFileContains(t, logs[0], "INSTANCE VI_1 STOP")
	waitFileContains(t, logs[1], "INSTANCE VI_1 MASTER 80 eth0 51")
	b, _ := os.ReadFile(logs[1])
	if lines := strings.Count(string(b), "\n"); lines != 2 {
		t.Fatalf("host 2's notify ran %d times, want 2 (BACKUP, MASTER):\n%s", lines, b)
	}
}
