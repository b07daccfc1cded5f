package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/daemon"
)

// cmdCheck validates a configuration file exactly as `xvrrpd -t` does, with
// the same exit codes.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "unknown keywords are errors")
	var configID string
	fs.StringVar(&configID, "i", "", "config id selecting @ID conditional lines; default the host name's first label")
	fs.StringVar(&configID, "config-id", "", "same as -i")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: xvrrpctl check [--strict] [-i|--config-id ID] FILE")
		return 2
	}
	return daemon.Check(pos[0], config.Options{Strict: *strict, ConfigID: configID}, stdout)
}
