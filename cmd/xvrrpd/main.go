// Command xvrrpd is a VRRP daemon whose receive path is an XDP program. It
// runs an unchanged keepalived.conf:
//
//	xvrrpd -f /etc/keepalived/keepalived.conf
//	xvrrpd -t -f /etc/keepalived/keepalived.conf   # check it, touch nothing
//
// keepalived's command line is accepted too (keepalived -D -n -P -f FILE
// becomes xvrrpd -D -n -P -f FILE): flags.go says what each one does here.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/daemon"
	"github.com/xvrrp/xvrrp/loader"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var s settings
	c := newCLI(&s, stderr)
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "xvrrpd: unexpected argument %q (options only; the configuration is -f FILE)\n", c.fs.Arg(0))
		return 2
	}
	o := s.o
	if s.showVersion {
		fmt.Fprintln(stdout, "xvrrpd", version)
		return 0
	}
	if s.signum != "" {
		n, ok := signalNumbers[strings.ToUpper(s.signum)]
		if !ok {
			fmt.Fprintf(stderr, "xvrrpd: --signum=%s: xvrrpd serves STOP, RELOAD, DATA and STATS\n", s.signum)
			return 1
		}
		fmt.Fprintln(stdout, n)
		return 0
	}
	// keepalived -C alone runs only the health checkers; xvrrpd running VRRP
	// instead would make a second VRRP speaker beside the -P unit.
	if s.checkOnly && !s.vrrpOnly {
		fmt.Fprintln(stderr, "xvrrpd: -C/--check runs only keepalived's LVS health checkers, which xvrrpd does not have: nothing to run (drop -C, or keep keepalived for LVS)")
		return 2
	}
	if s.namespace != "" {
		fmt.Fprintf(stderr, "xvrrpd: -s/--namespace is not served: run it as `ip netns exec %s xvrrpd ...`\n", s.namespace)
		return 2
	}
	if s.umask.set {
		syscall.Umask(s.umask.mask)
	}
	if s.test {
		for _, w := range s.warnings {
			fmt.Fprintln(stderr, "xvrrpd: "+w)
		}
		return daemon.Check(o.ConfigFile, config.Options{Strict: o.Strict, ConfigID: o.ConfigID}, stdout)
	}
	var err error
	if o.Attach, err = loader.ParseHook(s.attach); err != nil {
		fmt.Fprintf(stderr, "xvrrpd: --attach: %v\n", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.logLevel)); err != nil {
		fmt.Fprintf(stderr, "xvrrpd: --log-level %q: use debug, info, warn or error\n", s.logLevel)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch s.logFormat {
	case "text":
		o.Logger = slog.New(slog.NewTextHandler(stderr, hopts))
	case "json":
		o.Logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	default:
		fmt.Fprintf(stderr, "xvrrpd: --log-format %q: use text or json\n", s.logFormat)
		return 2
	}
	for _, w := range s.warnings {
		o.Logger.Warn(w)
	}
	o.Version = version

	d, err := daemon.New(o)
	if err != nil {
		fmt.Fprintf(stderr, "xvrrpd: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	if err := d.Start(); err != nil {
		fmt.Fprintf(stderr, "xvrrpd: %v\n", err)
		return 1
	}
	if s.vrrpPIDFile != "" {
		if err := writePIDFile(s.vrrpPIDFile); err != nil {
			fmt.Fprintf(stderr, "xvrrpd: -r/--vrrp_pid: %v\n", err)
			d.Stop()
			return 1
		}
		defer os.Remove(s.vrrpPIDFile)
	}
	// Start returned: the receive program is attached and every instance
	// runs, which is what a unit ordered After=xvrrpd.service waits for.
	if err := sdNotify("READY=1", "STATUS=running "+o.ConfigFile); err != nil {
		o.Logger.Warn("telling systemd xvrrpd is ready", "err", err)
	}
	stopWatchdog := startWatchdog(d.Alive, o.Logger)
	defer stopWatchdog()
	for sig := range sigs {
		switch sig {
		case syscall.SIGTERM, syscall.SIGINT:
			o.Logger.Info("stopping", "signal", sig.String())
			stopWatchdog()
			_ = sdNotify("STOPPING=1")
			start := time.Now()
			d.Stop()
			o.Logger.Info("stopped", "took", time.Since(start).String())
			return 0
		case syscall.SIGHUP:
			// Off this loop, so that SIGTERM during a long parse is served
			// at once; logged by Reload, the old configuration keeps
			// running on error. systemd hears RELOADING=1 now and READY=1
			// when the reload is over, either way.
			_ = sdNotify("RELOADING=1", monotonicUsec())
			go func() {
				status := "STATUS=reloaded " + o.ConfigFile
				if err := d.Reload(); err != nil {
					status = "STATUS=reload failed, the previous configuration runs: " + firstLine(err.Error())
				}
				_ = sdNotify("READY=1", status)
			}()
		case syscall.SIGUSR1:
			if err := d.WriteDataDump(); err != nil {
				o.Logger.Error("data dump", "err", err)
			}
		case syscall.SIGUSR2:
			if err := d.WriteStatsDump(); err != nil {
				o.Logger.Error("stats dump", "err", err)
			}
		}
	}
	return 0
}

func writePIDFile(path string) error {
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
