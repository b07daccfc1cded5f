package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
)

// unitDirectives reads a unit file's Key=value lines per section
// ("Service.Type" → values in order).
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("%s: line %q is not Key=value", path, l)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// The unit says what a keepalived user expects (Debian's keepalived.service:
// Type=notify, SIGHUP reload, /etc/default), with capabilities instead of
// root's full set and the hardening a keepalived unit's users expect.
func TestSystemdUnitIsKeepalivedShaped(t *testing.T) {
	d := unitDirectives(t, filepath.Join(repoRoot(t), "packaging/systemd/xvrrpd.service"))
	want := map[string]string{
		"Service.Type":                    "notify",
		"Service.ExecStart":               "/usr/sbin/xvrrpd --dont-fork --pin-dir=/run/xvrrp/bpf --pid-file=/run/xvrrp/xvrrpd.pid $DAEMON_ARGS",
		"Service.User":                    "xvrrp",
		"Service.Group":                   "xvrrp",
		"Service.BindPaths":               "/sys/fs/bpf/xvrrp:/run/xvrrp/bpf",
		"Service.ExecReload":              "/bin/kill -HUP $MAINPID",
		"Service.EnvironmentFile":         "-/etc/default/xvrrpd",
		"Service.Restart":                 "always",
		"Service.WatchdogSec":             "30s",
		"Service.LimitMEMLOCK":            "infinity",
		"Service.ProtectSystem":           "full",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.RestrictAddressFamilies": "AF_NETLINK AF_PACKET AF_INET AF_INET6 AF_UNIX",
		"Service.CapabilityBoundingSet":   "CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID",
		"Service.AmbientCapabilities":     "CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW",
		"Service.RuntimeDirectory":        "xvrrp",
		"Unit.ConditionFileNotEmpty":      "/etc/keepalived/keepalived.conf",
		"Unit.Conflicts":                  "keepalived.service",
		"Install.WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		if got := d[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// The pin directory is made xvrrp's by root ("+": unsandboxed) before
	// xvrrpd starts, in the order given.
	pre := []string{"+/usr/bin/install -d -o xvrrp -g xvrrp -m 0700 /sys/fs/bpf/xvrrp", "+/usr/bin/chown -R xvrrp:xvrrp /sys/fs/bpf/xvrrp"}
	if got := d["Service.ExecStartPre"]; strings.Join(got, "\n") != strings.Join(pre, "\n") {
		t.Errorf("ExecStartPre = %q, want %q", got, pre)
	}
	// The user the unit names is the one the shipped sysusers.d file
	// creates: systemd-sysusers applied to a scratch root creates xvrrp.
	if _, err := exec.LookPath("systemd-sysusers"); err == nil {
		sr := t.TempDir()
		if err := os.MkdirAll(filepath.Join(sr, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("systemd-sysusers", "--root="+sr, filepath.Join(repoRoot(t), "packaging/systemd/xvrrp.sysusers")).CombinedOutput(); err != nil {
			t.Fatalf("systemd-sysusers: %v\n%s", err, out)
		}
		passwd, _ := os.ReadFile(filepath.Join(sr, "etc/passwd"))
		group, _ := os.ReadFile(filepath.Join(sr, "etc/group"))
		if !strings.HasPrefix(string(passwd), "xvrrp:x:") || !strings.Contains(string(passwd), ":/usr/sbin/nologin") || !strings.HasPrefix(string(group), "xvrrp:x:") {
			t.Errorf("sysusers.d file created passwd %q group %q, want a nologin xvrrp user and group", passwd, group)
		}
	} else if os.Getenv("XVRRP_REQUIRE_PRIVILEGED") != "" {
		t.Error("systemd-sysusers not installed (Debian's systemd package)")
	}
	if caps := d["Service.CapabilityBoundingSet"]; len(caps) == 1 && strings.Contains(caps[0], "CAP_SYS_ADMIN") {
		t.Errorf("the unit grants CAP_SYS_ADMIN, which only mounting bpffs needs (systemd mounts it)")
	}
}

// systemd-analyze verify (Debian's systemd) accepts the unit as installed by
// make install: syntax, every command executable, the man pages of its
// Documentation= found. A unit with a misspelt key fails the same check, so
// a pass means something.
func TestSystemdUnitVerifies(t *testing.T) {
	lab.RequireTool(t, "systemd-analyze")
	lab.RequireTool(t, "man")
	root := repoRoot(t)
	// Installed outside /tmp: ProtectSystem and PrivateTmp make no
	// difference to verify, but a prefix under /tmp could be cleaned
	// under the test by systemd-tmpfiles.
	prefix, err := os.MkdirTemp("/run", "xvrrp-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	runIn(t, root, nil, "make", "--no-print-directory", "install", "PREFIX="+prefix+"/usr", "SYSCONFDIR="+prefix+"/etc")
	unit := filepath.Join(prefix, "usr/lib/systemd/system/xvrrpd.service")
	env := []string{"MANPATH=" + filepath.Join(prefix, "usr/share/man")}
	out := runIn(t, prefix, env, "systemd-analyze", "verify", unit)
	if strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify printed:\n%s", out)
	}

	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(prefix, "usr/lib/systemd/system/xvrrpd-bad.service")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), "ExecReload=", "ExecReloda=", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", bad)
	cmd.Env = append(os.Environ(), env...)
	badOut, _ := cmd.CombinedOutput()
	if !strings.Contains(string(badOut), "Unknown key 'ExecReloda'") {
		t.Errorf("verify of a unit with a misspelt key printed %q, want the unknown key named", badOut)
	}
}
