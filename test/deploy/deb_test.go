package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
)

// The .deb (make deb, nfpm) installs with dpkg into a scratch root with the
// same layout as make install, has no maintainer script (so it starts and
// enables nothing), runs from the installed path, and removes cleanly: the
// conffile stays until purge, then nothing is left.
func TestDebInstallsRunsAndRemovesCleanly(t *testing.T) {
	lab.RequirePrivileged(t) // dpkg --root writes its database as root
	lab.RequireTool(t, "dpkg")
	root := repoRoot(t)
	out := t.TempDir()
	runIn(t, root, nil, "make", "--no-print-directory", "deb", "BIN="+out)
	debs, _ := filepath.Glob(filepath.Join(out, "xvrrp_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v, want one xvrrp_*.deb", debs)
	}
	deb := debs[0]

	// Control members: no preinst/postinst/prerm/postrm at all.
	info := runIn(t, out, nil, "dpkg-deb", "--info", deb)
	for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
		if strings.Contains(info, " "+script) {
			t.Errorf("package has a %s script:\n%s", script, info)
		}
	}
	if !strings.Contains(info, "Package: xvrrp") {
		t.Errorf("dpkg-deb --info:\n%s", info)
	}

	sr := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		if err := os.MkdirAll(filepath.Join(sr, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sr, "var/lib/dpkg/status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := func(args ...string) string {
		return runIn(t, sr, nil, "dpkg", append([]string{"--root=" + sr, "--log=/dev/null", "--force-script-chrootless"}, args...)...)
	}
	dpkg("-i", deb)
	checkLayout(t, files(t, sr, "var"))
	if st := dpkg("-s", "xvrrp"); !strings.Contains(st, "Status: install ok installed") {
		t.Errorf("dpkg -s after install:\n%s", st)
	}
	if cf := dpkg("-s", "xvrrp"); !strings.Contains(cf, "/etc/default/xvrrpd") {
		t.Errorf("/etc/default/xvrrpd is not a conffile:\n%s", cf)
	}
	got := runIn(t, sr, nil, filepath.Join(sr, "usr/sbin/xvrrpd"), "-t", "-f", filepath.Join(sr, "usr/share/doc/xvrrp/examples/keepalived.conf"))
	if !strings.Contains(got, "configuration OK: 1 instance(s)") {
		t.Errorf("installed xvrrpd -t: %s", got)
	}
	if v := runIn(t, sr, nil, filepath.Join(sr, "usr/sbin/xvrrpd"), "--version"); !strings.HasPrefix(v, "xvrrpd ") || strings.Contains(v, "dev") {
		t.Errorf("installed xvrrpd --version = %q, want the build's version", v)
	}
	got = runIn(t, sr, nil, filepath.Join(sr, "usr/bin/xvrrpctl"), "check", filepath.Join(sr, "usr/share/doc/xvrrp/examples/keepalived.conf"))
	if !strings.Contains(got, "configuration OK") {
		t.Errorf("installed xvrrpctl check: %s", got)
	}

	dpkg("-r", "xvrrp")
	if left := files(t, sr, "var"); len(left) != 1 || left["/etc/default/xvrrpd"] == 0 {
		t.Errorf("after dpkg -r: %v, want only the conffile /etc/default/xvrrpd", keys(left))
	}
	dpkg("-P", "xvrrp")
	if left := files(t, sr, "var"); len(left) != 0 {
		t.Errorf("after dpkg -P: %v left", keys(left))
	}
}
