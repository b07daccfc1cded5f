package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/xvrrp/xvrrp/control/daemon"
	"github.com/xvrrp/xvrrp/packaging/man"
)

// settings is everything xvrrpd's command line sets.
type settings struct {
	o           daemon.Options
	test        bool
	logFormat   string
	logLevel    string
	attach      string
	showVersion bool
	// vrrpPIDFile is keepalived's -r/--vrrp_pid: xvrrpd is one process, so
	// its pid goes there as well as into the main pid file.
	vrrpPIDFile string
	umask       umaskValue
	signum      string
	vrrpOnly    bool // keepalived -P: VRRP only, which is all xvrrpd runs
	checkOnly   bool // keepalived -C: health checkers only, which xvrrpd has not
	namespace   string
	// warnings are one line per keepalived flag xvrrpd accepted but does
	// not serve, logged once the logger exists.
	warnings []string
}

// cli is xvrrpd's flag set with each option's names grouped, so that the
// help text and the man page (packaging/man) list `-f, --use-file FILE` as
// one option. It is the one definition of the command line.
type cli struct {
	fs   *flag.FlagSet
	opts []man.Option
	s    *settings
}

func newCLI(s *settings, stderr io.Writer) *cli {
	c := &cli{fs: flag.NewFlagSet("xvrrpd", flag.ContinueOnError), s: s}
	c.fs.SetOutput(stderr)
	c.fs.Usage = func() { c.usage(stderr) }
	o := &s.o

	// xvrrpd's own options. Where keepalived has the same option its names
	// are aliases (keepalived --help, 2.2.7).
	c.str(&o.ConfigFile, "/etc/keepalived/keepalived.conf", "FILE", "keepalived.conf to run", "f", "use-file")
	c.boolean(&s.test, "check the configuration and exit (keepalived's exit codes: 0 ok, 4 unreadable, 5 errors, 6 insecure scripts)", "t", "config-test")
	c.boolean(&o.Strict, "unknown keywords are errors, not warnings", "strict")
	c.str(&o.ConfigID, "", "ID", "config id selecting @ID conditional lines; default the host name's first label", "i", "config-id")
	c.str(&o.PinDir, "/sys/fs/bpf/xvrrp", "DIR", "bpffs directory for the XDP maps and links", "pin-dir")
	c.str(&s.attach, "auto", "MODE", "where the receive program runs: auto (XDP when the interface's XDP slot is free, else TCX ingress), xdp, or tcx (Linux 6.6)", "attach")
	c.str(&o.ControlSocket, "/run/xvrrp/xvrrpd.sock", "PATH", "unix socket for xvrrpctl (\"\" disables)", "control-socket")
	c.str(&o.PIDFile, "/run/xvrrpd.pid", "FILE", "pid file (\"\" disables); keepalived's -p, the parent's pid file", "pid-file", "p", "pid")
	c.str(&s.vrrpPIDFile, "", "FILE", "a second pid file with the same pid: keepalived's VRRP child pid file (xvrrpd is one process)", "r", "vrrp_pid")
	c.str(&o.MetricsAddr, "127.0.0.1:9650", "ADDR", "Prometheus /metrics and /healthz listener (\"\" disables)", "metrics-address")
	c.str(&o.ReadyFile, "", "FILE", "file written once every instance runs (for supervisors and tests; systemd's Type=notify is served too)", "ready-file")
	c.str(&o.DataDumpFile, daemon.DefaultDataDumpFile, "FILE", "written on SIGUSR1 (keepalived.data style)", "data-dump-file")
	c.str(&o.StatsDumpFile, daemon.DefaultStatsDumpFile, "FILE", "written on SIGUSR2 (keepalived.stats style)", "stats-dump-file")
	c.str(&s.logFormat, "text", "FORMAT", "text or json", "log-format")
	c.str(&s.logLevel, "info", "LEVEL", "debug, info, warn or error", "log-level")
	c.boolean(&s.showVersion, "print the version and exit", "version", "v")

	// keepalived's options whose meaning is what xvrrpd always does.
	c.boolean(&s.vrrpOnly, "keepalived: run only VRRP; xvrrpd runs nothing else", "P", "vrrp")
	c.boolean(new(bool), "keepalived: do not fork; xvrrpd never forks", "n", "dont-fork")
	c.boolean(new(bool), "keepalived: log to the console; xvrrpd always logs to stderr (journald keeps it under systemd)", "l", "log-console")
	c.boolean(new(bool), "keepalived: detailed log messages; xvrrpd's log always gives each transition its reason (--log-level debug for more)", "D", "log-detail")
	c.boolean(new(bool), "keepalived: no syslog; xvrrpd never uses syslog", "G", "no-syslog")
	c.boolean(new(bool), "keepalived: no BFD; xvrrpd has none", "B", "no_bfd")
	c.boolean(new(bool), "keepalived: do not respawn children; xvrrpd has no child processes", "R", "dont-respawn")
	c.fs.Var(&s.umask, "u", "")
	c.fs.Var(&s.umask, "umask", "")
	c.add(man.Option{Names: []string{"u", "umask"}, Arg: "MASK", Usage: "keepalived: umask for the files xvrrpd creates (octal)"})
	c.str(&s.signum, "", "SIGFUNC", "keepalived: print the signal number of STOP, RELOAD, DATA or STATS and exit", "signum")
	c.boolean(&s.checkOnly, "keepalived: run only the LVS health checkers, which xvrrpd has not: refused unless -P is given too", "C", "check")
	c.str(&s.namespace, "", "NAME", "keepalived: run in network namespace NAME; refused: start xvrrpd with `ip netns exec NAME xvrrpd ...`", "s", "namespace")

	// keepalived's options xvrrpd does not serve: accepted so that a
	// keepalived unit runs unchanged, each warned about in one line.
	c.ignoredBool("has no LVS, IPVS topology is not managed", "I", "dont-release-ipvs")
	c.ignoredBool("has no other subsystems to force", "all")
	c.ignoredBool("does not drop VIPs on a signal's transition", "X", "release-vips")
	c.ignoredBool("always removes its VIPs on stop (RFC 5798 §6.4.3 shutdown)", "V", "dont-release-vrrp")
	c.ignoredBool("does not dump its configuration at start (xvrrpctl status --json, SIGUSR1)", "d", "dump-conf")
	c.ignoredBool("does not log every address change", "a", "address-monitoring")
	c.ignoredBool("has no SNMP subsystem (Prometheus metrics on --metrics-address)", "x", "snmp")
	c.ignoredBool("leaves core dumps to the system's settings", "m", "core-dump")
	c.ignoredBool("does not check included files for existence beyond its loader", "e", "all-config")
	c.ignoredValue("FILE", "has no health checker process", "c", "checkers_pid")
	c.ignoredValue("FILE", "has no BFD process", "b", "bfd_pid")
	c.ignoredValue("FACILITY", "does not log to syslog (stderr, kept by journald)", "S", "log-facility")
	c.ignoredValue("FILE", "logs to stderr only", "g", "log-file")
	c.ignoredValue("FILE", "has no SNMP subsystem", "A", "snmp-agent-socket")
	c.ignoredValue("PATTERN", "does not set kernel.core_pattern", "M", "core-dump-pattern")
	return c
}

func (c *cli) add(o man.Option) { c.opts = append(c.opts, o) }

func (c *cli) str(p *string, def, arg, usage string, names ...string) {
	for _, n := range names {
		c.fs.StringVar(p, n, def, usage)
	}
	c.add(man.Option{Names: names, Arg: arg, Default: def, Usage: usage})
}

func (c *cli) boolean(p *bool, usage string, names ...string) {
	for _, n := range names {
		c.fs.BoolVar(p, n, false, usage)
	}
	c.add(man.Option{Names: names, Usage: usage})
}

func (c *cli) ignoredBool(why string, names ...string) {
	for _, n := range names {
		c.fs.Var(&ignored{s: c.s, name: n, why: why, isBool: true}, n, "")
	}
	c.add(man.Option{Names: names, Usage: "keepalived: accepted and ignored with a warning: xvrrpd " + why})
}

func (c *cli) ignoredValue(arg, why string, names ...string) {
	for _, n := range names {
		c.fs.Var(&ignored{s: c.s, name: n, why: why}, n, "")
	}
	c.add(man.Option{Names: names, Arg: arg, Usage: "keepalived: accepted and ignored with a warning: xvrrpd " + why})
}

// usage prints the options grouped by name, as the man page does.
func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: xvrrpd [options]   (keepalived's command line is accepted; see xvrrpd(8))")
	for _, o := range c.opts {
		fmt.Fprintf(w, "  %s\n    \t%s", o.Synopsis(), o.Usage)
		if o.Default != "" {
			fmt.Fprintf(w, " (default %q)", o.Default)
		}
		fmt.Fprintln(w)
	}
}

// ignored is a keepalived flag xvrrpd accepts without serving it.
type ignored struct {
	s      *settings
	name   string
	why    string
	isBool bool
}

func (f *ignored) String() string { return "" }

func (f *ignored) Set(v string) error {
	dash := "--"
	if len(f.name) == 1 {
		dash = "-"
	}
	arg := ""
	if !f.isBool {
		arg = " " + v
	}
	f.s.warnings = append(f.s.warnings, fmt.Sprintf("keepalived option %s%s%s ignored: xvrrpd %s", dash, f.name, arg, f.why))
	return nil
}

func (f *ignored) IsBoolFlag() bool { return f.isBool }

// umaskValue is keepalived's -u/--umask: an octal mask.
type umaskValue struct {
	set  bool
	mask int
}

func (u *umaskValue) String() string {
	if u == nil || !u.set {
		return ""
	}
	return fmt.Sprintf("%#o", u.mask)
}

func (u *umaskValue) Set(v string) error {
	m, err := strconv.ParseUint(v, 8, 32)
	if err != nil || m > 0o777 {
		return fmt.Errorf("umask %q: want an octal number from 0 to 0777, such as 022", v)
	}
	u.set, u.mask = true, int(m)
	return nil
}

// signalNumbers is keepalived's --signum: which signal does what. STATS_CLEAR
// and JSON have no xvrrpd signal (xvrrpctl status --json serves the latter).
var signalNumbers = map[string]int{"STOP": 15, "RELOAD": 1, "DATA": 10, "STATS": 12}
