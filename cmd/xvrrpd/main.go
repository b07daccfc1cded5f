// Command xvrrpd is a VRRP daemon whose receive path is an XDP program. It
// runs an unchanged keepalived.conf:
//
//	xvrrpd -f /etc/keepalived/keepalived.conf
//	xvrrpd -t -f /etc/keepalived/keepalived.conf   # check it, touch nothing
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xvrrp/xvrrp/control/daemon"
	"github.com/xvrrp/xvrrp/loader"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xvrrpd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o daemon.Options
	fs.StringVar(&o.ConfigFile, "f", "/etc/keepalived/keepalived.conf", "keepalived.conf to run")
	test := fs.Bool("t", false, "check the configuration and exit (keepalived's exit codes: 0 ok, 4 unreadable, 5 errors, 6 insecure scripts)")
	fs.BoolVar(&o.Strict, "strict", false, "unknown keywords are errors, not warnings")
	fs.StringVar(&o.PinDir, "pin-dir", "/sys/fs/bpf/xvrrp", "bpffs directory for the XDP maps and links")
	attach := fs.String("attach", "auto", "where the receive program runs: auto (XDP when the interface's XDP slot is free, else TCX ingress), xdp, or tcx (Linux 6.6)")
	fs.StringVar(&o.ControlSocket, "control-socket", "/run/xvrrp/xvrrpd.sock", "unix socket for xvrrpctl (\"\" disables)")
	fs.StringVar(&o.PIDFile, "pid-file", "/run/xvrrpd.pid", "pid file (\"\" disables)")
	fs.StringVar(&o.MetricsAddr, "metrics-address", "127.0.0.1:9650", "Prometheus /metrics and /healthz listener (\"\" disables)")
	fs.StringVar(&o.ReadyFile, "ready-file", "", "file written once every instance runs (for supervisors and tests)")
	fs.StringVar(&o.DataDumpFile, "data-dump-file", daemon.DefaultDataDumpFile, "written on SIGUSR1 (keepalived.data style)")
	fs.StringVar(&o.StatsDumpFile, "stats-dump-file", daemon.DefaultStatsDumpFile, "written on SIGUSR2 (keepalived.stats style)")
	logFormat := fs.String("log-format", "text", "text or json")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "xvrrpd", version)
		return 0
	}
	if *test {
		return daemon.Check(o.ConfigFile, o.Strict, stdout)
	}
	var err error
	if o.Attach, err = loader.ParseHook(*attach); err != nil {
		fmt.Fprintf(stderr, "xvrrpd: --attach: %v\n", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "xvrrpd: --log-level %q: use debug, info, warn or error\n", *logLevel)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch *logFormat {
	case "text":
		o.Logger = slog.New(slog.NewTextHandler(stderr, hopts))
	case "json":
		o.Logger = slog.New(slog.NewJSONHandler(stderr, hopts))
	default:
		fmt.Fprintf(stderr, "xvrrpd: --log-format %q: use text or json\n", *logFormat)
		return 2
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
	for sig := range sigs {
		switch sig {
		case syscall.SIGTERM, syscall.SIGINT:
			o.Logger.Info("stopping", "signal", sig.String())
			start := time.Now()
			d.Stop()
			o.Logger.Info("stopped", "took", time.Since(start).String())
			return 0
		case syscall.SIGHUP:
			_ = d.Reload() // logged by Reload; the old configuration keeps running on error
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
