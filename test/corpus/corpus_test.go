// Package corpus checks real keepalived configurations, written the way the
// projects that generate them write them (each file's header names its
// source), against xvrrpd's configuration test and, where keepalived is
// installed, against `keepalived -t`.
package corpus

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/daemon"
	"github.com/xvrrp/xvrrp/test/lab"
)

var update = flag.Bool("update", false, "rewrite golden.txt from the current output")

const golden = "golden.txt"

var configIDLine = regexp.MustCompile(`(?m)^# config-id: (\S+)$`)

type result struct {
	file     string
	configID string
	exit     int
	findings []string // warnings and errors, in order
	path     string   // the materialised copy that was checked
	report   string   // xvrrpd -t's whole output, root removed
}

func corpusFiles(t *testing.T) []string {
	files, err := filepath.Glob("*.conf")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 25 {
		t.Fatalf("corpus has %d files, want at least 25", len(files))
	}
	return files
}

// scriptLine matches the keepalived.conf lines that name a command to run
// (vrrp_script script, notify_*), after an optional @id / @^id prefix.
var scriptLine = regexp.MustCompile(`^(\s*(?:@\^?\S+\s+)?(?:script|notify|notify_master|notify_backup|notify_fault|notify_stop|notify_master_rx_lower_pri)\s+"?)([^\s"]+)`)

// materialise writes file into a fresh root directory with every command a
// script or notify line names created there as an executable (absolute paths
// under the root, bare names under root/usr/bin), so xvrrpd's script checks
// give the same answer on any machine; relative paths (keepalived's
// "</dev/tcp/..." sample) are left as they are. It returns the path of the
// copy and the root, which findings have removed again.
func materialise(t *testing.T, file string, src []byte) (string, string) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		m := scriptLine.FindStringSubmatchIndex(l)
		if m == nil {
			continue
		}
		cmd := l[m[4]:m[5]]
		var target string
		switch {
		case filepath.IsAbs(cmd):
			target = filepath.Join(root, cmd)
		case !strings.Contains(cmd, "/") && !strings.HasPrefix(cmd, "$") && !strings.HasPrefix(cmd, "<"):
			target = filepath.Join(root, "usr/bin", cmd)
		default:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		lines[i] = l[:m[4]] + target + l[m[5]:]
	}
	out := filepath.Join(root, file)
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return out, root
}

func check(t *testing.T, file string) result {
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(src, []byte("# Source: ")) {
		t.Errorf("%s: first line must name its source (# Source: ...)", file)
	}
	r := result{file: file, configID: "corpus"}
	if m := configIDLine.FindSubmatch(src); m != nil {
		r.configID = string(m[1])
	}
	path, root := materialise(t, file, src)
	r.path = path
	var out bytes.Buffer
	r.exit = daemon.Check(path, config.Options{ConfigID: r.configID}, &out)
	r.report = strings.ReplaceAll(out.String(), root+"/", "")
	r.report = strings.ReplaceAll(r.report, root, "")
	for _, l := range strings.Split(r.report, "\n") {
		// The migration report and the OK line are summaries of the findings.
		if l == "" || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "migration report") || strings.Contains(l, ": configuration OK:") {
			continue
		}
		r.findings = append(r.findings, l)
	}
	return r
}

func render(rs []result) string {
	var b strings.Builder
	b.WriteString("# xvrrpd -t on each corpus file: exit code, then every warning and error.\n")
	b.WriteString("# Regenerate with: go test ./test/corpus -run TestCorpus -update\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "\n== %s (config-id %s): exit %d\n", r.file, r.configID, r.exit)
		for _, f := range r.findings {
			b.WriteString(f + "\n")
		}
	}
	return b.String()
}

// TestCorpus_XvrrpdAcceptsRealConfigurations: every corpus file passes
// `xvrrpd -t` (exit 0, or 6 where its scripts fail the script-security
// check), and the warnings each produces are pinned in golden.txt.
//
// Script ownership decides the script-security findings, so the check runs
// as root, as xvrrpd does.
func TestCorpus_XvrrpdAcceptsRealConfigurations(t *testing.T) {
	lab.RequirePrivileged(t)
	var rs []result
	for _, f := range corpusFiles(t) {
		r := check(t, f)
		if r.exit != daemon.ExitOK && r.exit != daemon.ExitConfigSecurity {
			t.Errorf("%s: xvrrpd -t exit %d, want 0 (or 6):\n%s", f, r.exit, strings.Join(r.findings, "\n"))
		}
		rs = append(rs, r)
	}
	got := render(rs)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("findings differ from %s (review, then go test ./test/corpus -update):\n%s", golden, lineDiff(string(want), got))
	}
}

// TestCorpus_AgreesWithKeepalived: where keepalived is installed, `keepalived
// -t` and `xvrrpd -t` agree on each file. keepalived -t exits 5 on any
// message, warnings included, so agreement is: what keepalived accepts
// silently (0) xvrrpd accepts; what keepalived complains about, xvrrpd warns
// about or refuses; what xvrrpd refuses, keepalived does not accept.
func TestCorpus_AgreesWithKeepalived(t *testing.T) {
	kd, err := exec.LookPath("keepalived")
	if err != nil {
		for _, p := range []string{"/usr/sbin/keepalived", "/sbin/keepalived"} {
			if _, e := os.Stat(p); e == nil {
				kd, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("keepalived is not installed; the golden file still pins xvrrpd's findings")
	}
	for _, f := range corpusFiles(t) {
		t.Run(f, func(t *testing.T) {
			r := check(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := []string{"-t", "-f", r.path}
			if r.configID != "" {
				args = append(args, "-i", r.configID)
			}
			cmd := exec.CommandContext(ctx, kd, args...)
			out, err := cmd.CombinedOutput()
			kexit := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				kexit = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("keepalived -t: %v", err)
			}
			if kexit != 0 && hostOnly(string(out)) {
				// keepalived -t also checks this host's interfaces (and exits
				// 5 when one is missing); xvrrpd -t checks the file only.
				kexit = 0
			}
			switch {
			case kexit == 0 && r.exit == daemon.ExitConfigError:
				t.Errorf("keepalived accepts it, xvrrpd refuses it:\n%s", strings.Join(r.findings, "\n"))
			case kexit != 0 && r.exit == daemon.ExitOK && len(r.findings) == 0:
				t.Errorf("keepalived -t exit %d, xvrrpd accepts it without a word; keepalived said:\n%s", kexit, out)
			case r.exit == daemon.ExitConfigError && kexit == 0:
				t.Errorf("xvrrpd refuses what keepalived accepts")
			}
			t.Logf("keepalived -t exit %d, xvrrpd -t exit %d", kexit, r.exit)
		})
	}
}

// hostLine matches keepalived -t's findings about this host rather than the
// file: interfaces that do not exist here.
var hostLine = regexp.MustCompile(`doesn't exist$|^Non-existent interface specified in configuration$|Unknown interface!$`)

// hostOnly reports whether every finding keepalived -t printed is about the
// host.
func hostOnly(out string) bool {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && !hostLine.MatchString(l) {
			return false
		}
	}
	return true
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	in := func(l string, xs []string) bool {
		for _, x := range xs {
			if x == l {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	for _, l := range w {
		if !in(l, g) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range g {
		if !in(l, w) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
