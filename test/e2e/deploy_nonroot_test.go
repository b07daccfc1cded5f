package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/test/lab"
)

// nonRootUID is the uid (and gid) the tests below run xvrrpd as: one with
// no passwd entry, so nothing on the machine owns it.
var nonRootUID = 61000 + os.Getpid()%4000

// binDirReadable lets a non-root uid run the binaries TestMain built (its
// directory is MkdirTemp's 0700).
var binDirReadable sync.Once

// nonRootStart says how the wrapper prepares what systemd prepares for
// xvrrpd.service before it runs xvrrpd as uid with exactly caps.
type nonRootStart struct {
	caps        string // setpriv's list, e.g. leastCaps
	noBPFFS     bool   // leave /sys/fs/bpf unmounted (and pin there)
	extraConfig string // appended to the configuration
}

// startNonRoot runs xvrrpd on h as nonRootUID the way packaging/systemd's
// unit does: bpffs mounted mode 0700 for root (systemd's mount), the pin
// directory created for the uid by root (ExecStartPre=+install -d -o),
// bind-mounted where the uid can reach it (BindPaths=), the node's
// directory (its RuntimeDirectory) owned by the uid; then setpriv drops to
// the uid with caps in the bounding, inheritable and ambient sets.
func startNonRoot(t *testing.T, h *lab.Host, conf string, o nonRootStart) *node {
	t.Helper()
	lab.RequireTool(t, "setpriv")
	binDirReadable.Do(func() {
		if err := os.Chmod(binDir, 0o755); err != nil {
			t.Fatal(err)
		}
	})
	dir := nodeDir(t, h)
	if err := os.MkdirAll(filepath.Join(dir, "bpf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nonRootUID, nonRootUID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf+o.extraConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, host: h, dir: dir, conf: path, kind: "xvrrpd"}
	id := fmt.Sprint(nonRootUID)
	pin := filepath.Join(dir, "bpf")
	prep := `mount -t bpf -o mode=0700 bpf /sys/fs/bpf && install -d -o "$1" -g "$1" -m 0700 /sys/fs/bpf/xvrrp && mount --bind /sys/fs/bpf/xvrrp "$2" && `
	if o.noBPFFS {
		prep, pin = "", "/sys/fs/bpf/xvrrp"
	}
	n.proc = h.Start(t, "xvrrpd-"+h.Name, "sh", "-c",
		prep+`caps=$3; shift 3; exec setpriv --reuid="$0" --regid="$0" --clear-groups --inh-caps=-all,"$caps" --ambient-caps=-all,"$caps" --bounding-set=-all,"$caps" "$@"`,
		id, id, filepath.Join(dir, "bpf"), o.caps,
		filepath.Join(binDir, "xvrrpd"), "-f", path, "--pin-dir", pin, "--control-socket", n.socket(),
		"--pid-file", filepath.Join(dir, "pid"), "--metrics-address", "", "--ready-file", filepath.Join(dir, "ready"))
	return n
}

// With only CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW as a
// non-root uid, xvrrpd becomes master, runs its track_script as its own
// uid without any capability (keepalived's script_user default is the
// daemon's user; the ambient set is not handed on), keeps its control
// socket 0600 for root and itself, reloads on SIGHUP and fails over.
func TestNonRootUIDWithCapabilitiesFailoverAndReload(t *testing.T) {
	lan := lab.NewLAN(t, 2)
	h1, h2 := lan.Hosts[0], lan.Hosts[1]
	dir1 := filepath.Join("/run/xvrrp-e2e", h1.Name)
	out := filepath.Join(dir1, "script.out")
	script := filepath.Join(dir1, "chk.sh")
	chk := fmt.Sprintf("vrrp_script chk {\n    script %q\n    interval 1\n    weight 0\n}\n", script)
	a := inst{name: "VI_1", vrid: 72, prio: 150, vips: []string{"198.18.0.172/24"}, extra: "    track_script {\n        chk\n    }\n"}
	b := inst{name: "VI_1", vrid: 72, prio: 100, vips: []string{"198.18.0.172/24"}}
	if err := os.MkdirAll(dir1, 0o755); err != nil {
		t.Fatal(err)
	}
	// Owned by root, so only root could change what the daemon runs.
	body := fmt.Sprintf("#!/bin/sh\n{ id -u; id -g; grep -E '^Cap(Prm|Eff|Amb):' /proc/self/status; } > %[1]s.tmp && mv %[1]s.tmp %[1]s\n", out)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	n1 := startNonRoot(t, h1, confOf(a), nonRootStart{caps: leastCaps, extraConfig: chk})
	n2 := startNonRoot(t, h2, confOf(b), nonRootStart{caps: leastCaps})
	for _, n := range []*node{n1, n2} {
		if err := n.proc.WaitFile(filepath.Join(n.dir, "ready"), 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	waitHolder(t, lan.Hosts, h1, "198.18.0.172", 15*time.Second)

	// The daemon is the uid, not root.
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n1.proc.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("\nUid:\t%d\t%d\t%d\t%d\n", nonRootUID, nonRootUID, nonRootUID, nonRootUID); !strings.Contains(string(st), want) {
		t.Fatalf("xvrrpd's /proc status has no %q:\n%s", want, st)
	}

	// The track_script ran as the daemon's uid, with no capability.
	if err := lab.Eventually(10*time.Second, func() error {
		_, err := os.Stat(out)
		return err
	}); err != nil {
		t.Fatalf("track_script never ran: %s", n1.proc.Log())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d\n%d\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n", nonRootUID, nonRootUID)
	if string(got) != want {
		t.Errorf("track_script's identity:\n%s\nwant:\n%s", got, want)
	}

	// The control socket: 0600, the daemon's uid; root reaches it (the
	// status calls here), another uid does not.
	fi, err := os.Stat(n1.socket())
	if err != nil {
		t.Fatal(err)
	}
	if sys := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o600 || sys.Uid != uint32(nonRootUID) {
		t.Errorf("control socket mode %v uid %d, want 0600 uid %d", fi.Mode().Perm(), sys.Uid, nonRootUID)
	}
	other := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
		filepath.Join(binDir, "xvrrpctl"), "--control-socket", n1.socket(), "status")
	if b, err := other.CombinedOutput(); err == nil || !strings.Contains(string(b), "permission denied") {
		t.Errorf("xvrrpctl as uid 65534: err %v, output %q; want permission denied", err, b)
	}

	a.prio = 140
	reloadThenCut(t, lan, n1, n2, confOf(a)+chk, "198.18.0.172", "as a non-root uid")
	// SIGTERM as the uid: a clean exit, the pins it made removed.
	if err := n2.proc.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, n2.proc.Log())
	}
}

// Started as a non-root uid with one capability missing, xvrrpd refuses
// before touching the host, with one line naming exactly that capability,
// why it is needed and the systemd line that grants it.
func TestNonRootUIDNamesEachMissingCapability(t *testing.T) {
	lan := lab.NewLAN(t, 1)
	h := lan.Hosts[0]
	conf := confOf(inst{name: "VI_1", vrid: 73, prio: 150, vips: []string{"198.18.0.173/24"}})
	all := []string{"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"}
	for _, c := range []struct {
		name string
		o    nonRootStart
		conf string
		want []string // the missing capabilities, in the order named
		why  string
	}{
		{"NoBPF", nonRootStart{caps: "+perfmon,+net_admin,+net_raw"}, conf, []string{"CAP_BPF"}, "loading the XDP program"},
		{"NoPerfmon", nonRootStart{caps: "+bpf,+net_admin,+net_raw"}, conf, []string{"CAP_PERFMON"}, "packet-pointer arithmetic"},
		{"NoNetAdmin", nonRootStart{caps: "+bpf,+perfmon,+net_raw"}, conf, []string{"CAP_NET_ADMIN"}, "attaching XDP"},
		{"NoNetRaw", nonRootStart{caps: "+bpf,+perfmon,+net_admin"}, conf, []string{"CAP_NET_RAW"}, "AF_PACKET"},
		{"BPFFSUnmountedNoSysAdmin", nonRootStart{caps: leastCaps, noBPFFS: true}, conf, []string{"CAP_SYS_ADMIN"}, "mounting bpffs"},
		{"ScriptUserOtherNoSetuid", nonRootStart{caps: leastCaps, extraConfig: "vrrp_script chk {\n    script /bin/true\n}\n"},
			strings.Replace(confOf(inst{name: "VI_1", vrid: 73, prio: 150, vips: []string{"198.18.0.173/24"}, extra: "    track_script {\n        chk\n    }\n"}),
				"router_id xvrrp_e2e\n", "router_id xvrrp_e2e\n    script_user nobody\n", 1),
			[]string{"CAP_SETUID", "CAP_SETGID"}, "scripts run as nobody"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := startNonRoot(t, h, c.conf, c.o)
			err := n.proc.Wait(20 * time.Second)
			var ee *exec.ExitError
			if !asExit(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("xvrrpd: %v, want exit status 1\n%s", err, n.proc.Log())
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(n.proc.Log()), "\n") {
				if strings.HasPrefix(l, "xvrrpd: ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("want one error line, got %q", lines)
			}
			msg := lines[0]
			for _, w := range append([]string{c.why, "AmbientCapabilities=" + strings.Join(c.want, " ") + " ("}, c.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("%q does not say %q", msg, w)
				}
			}
			for _, cp := range all {
				named := strings.Contains(msg, cp+" ")
				if named != containsStr(c.want, cp) {
					t.Errorf("%q: %s named %v, want %v", msg, cp, named, !named)
				}
			}
			if _, err := os.Stat(filepath.Join(n.dir, "ready")); err == nil {
				t.Error("ready file written")
			}
		})
	}
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}
