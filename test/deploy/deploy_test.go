// Package deploy checks the ways xvrrp is installed: `make install` with
// PREFIX and DESTDIR, the systemd unit (systemd-analyze verify) and the .deb
// (installed into a scratch root with dpkg, run from there, removed). The
// ways it runs once installed (Type=notify readiness, the container image,
// least privilege) are exercised with real daemons in test/e2e.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runIn runs a command in dir and returns its combined output, failing t
// when it fails.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// files lists the regular files under root, relative to it, with their modes.
func files(t *testing.T, root string, skip ...string) map[string]os.FileMode {
	t.Helper()
	out := map[string]os.FileMode{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			out["/"+rel] = info.Mode().Perm()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string]os.FileMode) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}

// The layout both `make install PREFIX=/usr` and the .deb produce.
var packagedFiles = map[string]os.FileMode{
	"/usr/sbin/xvrrpd":                              0o755,
	"/usr/bin/xvrrpctl":                             0o755,
	"/usr/lib/systemd/system/xvrrpd.service":        0o644,
	"/usr/lib/sysusers.d/xvrrp.conf":                0o644,
	"/usr/share/man/man8/xvrrpd.8":                  0o644,
	"/usr/share/man/man8/xvrrpctl.8":                0o644,
	"/usr/share/man/man5/xvrrp-keepalived.conf.5":   0o644,
	"/usr/share/doc/xvrrp/examples/keepalived.conf": 0o644,
	"/etc/default/xvrrpd":                           0o644,
}

func checkLayout(t *testing.T, got map[string]os.FileMode) {
	t.Helper()
	if len(got) != len(packagedFiles) {
		t.Errorf("installed %v, want %d files", keys(got), len(packagedFiles))
	}
	for p, mode := range packagedFiles {
		if m, ok := got[p]; !ok || m != mode {
			t.Errorf("%s: mode %v present %v, want %v", p, m, ok, mode)
		}
	}
}

// make install honours PREFIX and DESTDIR, points the unit at the installed
// binary, and keeps an operator's /etc/default/xvrrpd on a reinstall.
func TestMakeInstallHonoursPrefixAndDestdir(t *testing.T) {
	root := repoRoot(t)
	dest := t.TempDir()
	runIn(t, root, nil, "make", "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/usr")
	checkLayout(t, files(t, dest))
	unit, err := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/xvrrpd.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart=/usr/sbin/xvrrpd --dont-fork --pin-dir=/run/xvrrp/bpf --pid-file=/run/xvrrp/xvrrpd.pid $DAEMON_ARGS\n") {
		t.Errorf("unit's ExecStart does not run /usr/sbin/xvrrpd:\n%s", unit)
	}
	// The installed binary is the one just built: its -t accepts the
	// installed example.
	out := runIn(t, dest, nil, filepath.Join(dest, "usr/sbin/xvrrpd"), "-t", "-f", filepath.Join(dest, "usr/share/doc/xvrrp/examples/keepalived.conf"))
	if !strings.Contains(out, "configuration OK: 1 instance(s)") {
		t.Errorf("installed xvrrpd -t: %s", out)
	}

	def := filepath.Join(dest, "etc/default/xvrrpd")
	const mine = "DAEMON_ARGS=\"-D\"\n"
	if err := os.WriteFile(def, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	runIn(t, root, nil, "make", "--no-print-directory", "install", "DESTDIR="+dest, "PREFIX=/usr")
	if b, _ := os.ReadFile(def); string(b) != mine {
		t.Errorf("reinstall replaced the operator's /etc/default/xvrrpd: %q", b)
	}

	// Another prefix: the unit follows the binary.
	local := t.TempDir()
	runIn(t, root, nil, "make", "--no-print-directory", "install", "DESTDIR="+local, "PREFIX=/opt/xvrrp")
	unit, err = os.ReadFile(filepath.Join(local, "opt/xvrrp/lib/systemd/system/xvrrpd.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart=/opt/xvrrp/sbin/xvrrpd ") {
		t.Errorf("PREFIX=/opt/xvrrp: unit's ExecStart not under the prefix:\n%s", unit)
	}
	if _, err := os.Stat(filepath.Join(local, "opt/xvrrp/sbin/xvrrpd")); err != nil {
		t.Error(err)
	}
}
