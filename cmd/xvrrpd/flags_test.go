package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func parse(t *testing.T, args ...string) *settings {
	t.Helper()
	var s settings
	var errb bytes.Buffer
	c := newCLI(&s, &errb)
	if err := c.fs.Parse(args); err != nil {
		t.Fatalf("xvrrpd %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	if c.fs.NArg() != 0 {
		t.Fatalf("xvrrpd %s: arguments left: %q", strings.Join(args, " "), c.fs.Args())
	}
	return &s
}

// Each keepalived 2.2.7 option (keepalived --help) under its short and long
// name: those of VRRP set what keepalived's set, the rest leave a warning
// naming the option and change nothing else.
func TestKeepalivedOptionsKeepTheirMeaning_Keepalived(t *testing.T) {
	def := parse(t)
	tests := []struct {
		name  string
		args  []string
		check func(s *settings) string // what is wrong, "" if nothing
		warn  string                   // the one warning expected, "" for none
	}{
		{"use-file -f", []string{"-f", "/x.conf"}, confIs("/x.conf"), ""},
		{"use-file --use-file", []string{"--use-file=/x.conf"}, confIs("/x.conf"), ""},
		{"config-test -t", []string{"-t"}, func(s *settings) string { return unless(s.test, "-t did not select the check") }, ""},
		{"config-test --config-test", []string{"--config-test"}, func(s *settings) string { return unless(s.test, "--config-test did not select the check") }, ""},
		{"pid -p", []string{"-p", "/run/k.pid"}, pidIs("/run/k.pid"), ""},
		{"pid --pid", []string{"--pid", "/run/k.pid"}, pidIs("/run/k.pid"), ""},
		{"vrrp_pid -r", []string{"-r", "/run/v.pid"}, vrrpPIDIs("/run/v.pid"), ""},
		{"vrrp_pid --vrrp_pid", []string{"--vrrp_pid=/run/v.pid"}, vrrpPIDIs("/run/v.pid"), ""},
		{"vrrp -P", []string{"-P"}, func(s *settings) string { return unless(s.vrrpOnly, "-P not recorded") }, ""},
		{"vrrp --vrrp", []string{"--vrrp"}, func(s *settings) string { return unless(s.vrrpOnly, "--vrrp not recorded") }, ""},
		{"dont-fork -n", []string{"-n"}, sameAsDefault(def), ""},
		{"dont-fork --dont-fork", []string{"--dont-fork"}, sameAsDefault(def), ""},
		{"log-console -l", []string{"-l"}, sameAsDefault(def), ""},
		{"log-console --log-console", []string{"--log-console"}, sameAsDefault(def), ""},
		{"log-detail -D", []string{"-D"}, sameAsDefault(def), ""},
		{"log-detail --log-detail", []string{"--log-detail"}, sameAsDefault(def), ""},
		{"no-syslog -G", []string{"-G"}, sameAsDefault(def), ""},
		{"no_bfd -B", []string{"-B"}, sameAsDefault(def), ""},
		{"no_bfd --no_bfd", []string{"--no_bfd"}, sameAsDefault(def), ""},
		{"dont-respawn -R", []string{"-R"}, sameAsDefault(def), ""},
		{"umask -u", []string{"-u", "027"}, umaskIs(0o027), ""},
		{"umask --umask", []string{"--umask=077"}, umaskIs(0o077), ""},
		{"version -v", []string{"-v"}, func(s *settings) string { return unless(s.showVersion, "-v did not select the version") }, ""},
		{"check -C with -P", []string{"-P", "-C"}, func(s *settings) string { return unless(s.checkOnly && s.vrrpOnly, "-P -C not recorded") }, ""},
		{"namespace -s", []string{"-s", "blue"}, func(s *settings) string { return unless(s.namespace == "blue", "namespace not recorded") }, ""},
		{"log-facility -S", []string{"-S", "local1"}, sameAsDefault(def), "keepalived option -S local1 ignored: xvrrpd does not log to syslog"},
		{"log-facility --log-facility", []string{"--log-facility=daemon"}, sameAsDefault(def), "keepalived option --log-facility daemon ignored"},
		{"log-file -g", []string{"-g", "/var/log/k.log"}, sameAsDefault(def), "keepalived option -g /var/log/k.log ignored: xvrrpd logs to stderr only"},
		{"checkers_pid -c", []string{"-c", "/run/c.pid"}, sameAsDefault(def), "keepalived option -c /run/c.pid ignored: xvrrpd has no health checker process"},
		{"checkers_pid --checkers_pid", []string{"--checkers_pid", "/run/c.pid"}, sameAsDefault(def), "--checkers_pid /run/c.pid ignored"},
		{"bfd_pid -b", []string{"-b", "/run/b.pid"}, sameAsDefault(def), "keepalived option -b /run/b.pid ignored: xvrrpd has no BFD process"},
		{"dont-release-ipvs -I", []string{"-I"}, sameAsDefault(def), "keepalived option -I ignored: xvrrpd has no LVS"},
		{"all --all", []string{"--all"}, sameAsDefault(def), "keepalived option --all ignored"},
		{"release-vips -X", []string{"-X"}, sameAsDefault(def), "keepalived option -X ignored"},
		{"dont-release-vrrp -V", []string{"-V"}, sameAsDefault(def), "keepalived option -V ignored: xvrrpd always removes its VIPs on stop"},
		{"dump-conf -d", []string{"-d"}, sameAsDefault(def), "keepalived option -d ignored"},
		{"address-monitoring -a", []string{"-a"}, sameAsDefault(def), "keepalived option -a ignored"},
		{"snmp -x", []string{"-x"}, sameAsDefault(def), "keepalived option -x ignored: xvrrpd has no SNMP subsystem"},
		{"snmp-agent-socket -A", []string{"-A", "/run/agentx"}, sameAsDefault(def), "keepalived option -A /run/agentx ignored"},
		{"core-dump -m", []string{"-m"}, sameAsDefault(def), "keepalived option -m ignored"},
		{"core-dump-pattern -M", []string{"-M", "core"}, sameAsDefault(def), "keepalived option -M core ignored"},
		{"all-config -e", []string{"-e"}, sameAsDefault(def), "keepalived option -e ignored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, tt.args...)
			if msg := tt.check(s); msg != "" {
				t.Error(msg)
			}
			switch {
			case tt.warn == "" && len(s.warnings) != 0:
				t.Errorf("warnings %q, want none", s.warnings)
			case tt.warn != "" && (len(s.warnings) != 1 || !strings.Contains(s.warnings[0], tt.warn)):
				t.Errorf("warnings %q, want one containing %q", s.warnings, tt.warn)
			}
		})
	}
}

func unless(ok bool, msg string) string {
	if ok {
		return ""
	}
	return msg
}

func confIs(p string) func(*settings) string {
	return func(s *settings) string {
		return unless(s.o.ConfigFile == p, "config file "+s.o.ConfigFile+", want "+p)
	}
}

func pidIs(p string) func(*settings) string {
	return func(s *settings) string { return unless(s.o.PIDFile == p, "pid file "+s.o.PIDFile+", want "+p) }
}

func vrrpPIDIs(p string) func(*settings) string {
	return func(s *settings) string {
		return unless(s.vrrpPIDFile == p, "vrrp pid file "+s.vrrpPIDFile+", want "+p)
	}
}

func umaskIs(m int) func(*settings) string {
	return func(s *settings) string {
		return unless(s.umask.set && s.umask.mask == m, "umask "+s.umask.String())
	}
}

// sameAsDefault: the option leaves every setting as no option does.
func sameAsDefault(def *settings) func(*settings) string {
	return func(s *settings) string {
		if s.o.ConfigFile != def.o.ConfigFile || s.o.PIDFile != def.o.PIDFile || s.o.PinDir != def.o.PinDir ||
			s.o.ControlSocket != def.o.ControlSocket || s.o.MetricsAddr != def.o.MetricsAddr ||
			s.logLevel != def.logLevel || s.logFormat != def.logFormat || s.test || s.vrrpPIDFile != "" || s.umask.set {
			return "settings differ from the defaults"
		}
		return ""
	}
}

// Command lines of keepalived units and /etc/default files with the command
// renamed (sed s/keepalived/xvrrpd/) parse, and name the same files.
func TestKeepalivedUnitCommandLinesRunRenamed_Keepalived(t *testing.T) {
	tests := []struct {
		name, cmdline string
		conf, pid     string
	}{
		// Debian 12's keepalived.service: ExecStart=/usr/sbin/keepalived --dont-fork $DAEMON_ARGS.
		{"debian unit, empty DAEMON_ARGS", "--dont-fork", "/etc/keepalived/keepalived.conf", "/run/xvrrpd.pid"},
		{"debian unit, DAEMON_ARGS -D", "--dont-fork -D", "/etc/keepalived/keepalived.conf", "/run/xvrrpd.pid"},
		// keepalived's own keepalived.service: --dont-fork $KEEPALIVED_OPTIONS, with -D.
		{"upstream unit", "--dont-fork -D -P", "/etc/keepalived/keepalived.conf", "/run/xvrrpd.pid"},
		// Red Hat's sysconfig: KEEPALIVED_OPTIONS="-D", init scripts pass -f and pid files.
		{"init script", "-D -P -f /etc/keepalived/vrrp.conf -p /run/keepalived.pid -r /run/keepalived_vrrp.pid -c /run/checkers.pid", "/etc/keepalived/vrrp.conf", "/run/keepalived.pid"},
		{"kubeadm static pod", "--dont-fork --log-console --log-detail --use-file=/etc/keepalived/keepalived.conf", "/etc/keepalived/keepalived.conf", "/run/xvrrpd.pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parse(t, strings.Fields(tt.cmdline)...)
			if s.o.ConfigFile != tt.conf || s.o.PIDFile != tt.pid {
				t.Fatalf("config %s pid %s, want %s %s", s.o.ConfigFile, s.o.PIDFile, tt.conf, tt.pid)
			}
		})
	}
}

// The options that would make xvrrpd do something else than asked are
// refused; --signum answers as keepalived does; -t checks the file.
func TestKeepalivedOptionsRefusedOrAnswered_Keepalived(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte("vrrp_instance VI_1 {\n state BACKUP\n interface lo\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  198.18.0.100/24\n }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderrOK string
	}{
		{"-C alone runs only checkers: refused", []string{"-C", "-f", conf}, 2, "", "-C/--check runs only keepalived's LVS health checkers"},
		{"-s namespace: refused", []string{"-s", "blue", "-f", conf}, 2, "", "ip netns exec blue xvrrpd"},
		{"--signum=RELOAD is SIGHUP", []string{"--signum=RELOAD"}, 0, "1\n", ""},
		{"--signum=STOP is SIGTERM", []string{"--signum=STOP"}, 0, "15\n", ""},
		{"--signum=DATA is SIGUSR1", []string{"--signum=DATA"}, 0, "10\n", ""},
		{"--signum=STATS is SIGUSR2", []string{"--signum=STATS"}, 0, "12\n", ""},
		{"--signum=JSON not served", []string{"--signum=JSON"}, 1, "", "serves STOP, RELOAD, DATA and STATS"},
		{"-t with ignored options warns and checks", []string{"-t", "-S", "local0", "-f", conf}, 0, "", "keepalived option -S local0 ignored"},
		{"a positional argument is an error", []string{"-f", conf, "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if tt.stdout != "" && out.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errb.String(), tt.stderrOK) {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), tt.stderrOK)
			}
		})
	}
	// keepalived's --signum numbers are the signals xvrrpd handles.
	for name, want := range map[string]syscall.Signal{"STOP": syscall.SIGTERM, "RELOAD": syscall.SIGHUP, "DATA": syscall.SIGUSR1, "STATS": syscall.SIGUSR2} {
		if signalNumbers[name] != int(want) {
			t.Errorf("--signum=%s = %d, want %d (%v)", name, signalNumbers[name], int(want), want)
		}
	}
}

// -u sets the process umask, as keepalived's does.
func TestUmaskOptionSetsProcessUmask_Keepalived(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	missing := filepath.Join(t.TempDir(), "none.conf")
	if code := run([]string{"-u", "077", "-t", "-f", missing}, io.Discard, io.Discard); code != 4 {
		t.Fatalf("exit %d, want 4 (unreadable file)", code)
	}
	if got := syscall.Umask(0o022); got != 0o077 {
		t.Fatalf("umask %#o after -u 077", got)
	}
}
