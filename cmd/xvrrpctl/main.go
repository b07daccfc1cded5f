// Command xvrrpctl is the operator's CLI for xvrrpd: status (who is master
// and why), reload, and a configuration check that touches nothing.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/xvrrp/xvrrp/control/status"
)

const defaultSocket = "/run/xvrrp/xvrrpd.sock"

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: xvrrpctl [--control-socket PATH] COMMAND

commands:
  status [--json] [INSTANCE]   who is master and why; one instance in detail
  reload                       reload the configuration (like SIGHUP), report errors
  check [--strict] FILE        validate a keepalived.conf without touching the host
`)
}

// globalFlags are the options before the command; xvrrpctl(8) lists them.
func globalFlags(stderr io.Writer) (fs *flag.FlagSet, sock *string, timeout *time.Duration) {
	fs = flag.NewFlagSet("xvrrpctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	sock = fs.String("control-socket", defaultSocket, "xvrrpd's control socket")
	timeout = fs.Duration("timeout", 5*time.Second, "how long to wait for xvrrpd")
	return fs, sock, timeout
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs, sock, timeout := globalFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		usage(stderr)
		return 2
	}
	switch rest[0] {
	case "status":
		return cmdStatus(rest[1:], *sock, *timeout, stdout, stderr)
	case "reload":
		return cmdReload(rest[1:], *sock, *timeout, stdout, stderr)
	case "check":
		return cmdCheck(rest[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "xvrrpctl: unknown command %q\n", rest[0])
		usage(stderr)
		return 2
	}
}

func cmdStatus(args []string, sock string, timeout time.Duration, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the full status document as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 1 {
		fmt.Fprintln(stderr, "usage: xvrrpctl status [--json] [INSTANCE]")
		return 2
	}
	resp, err := status.Call(sock, status.Request{Command: status.CmdStatus}, timeout)
	if err != nil {
		fmt.Fprintln(stderr, "xvrrpctl:", err)
		return 1
	}
	if !resp.OK || resp.Status == nil {
		fmt.Fprintln(stderr, "xvrrpctl: status:", resp.Error)
		return 1
	}
	doc := resp.Status
	if len(pos) == 1 {
		name := pos[0]
		in := findInstance(doc, name)
		if in == nil {
			fmt.Fprintf(stderr, "xvrrpctl: no instance %q (have: %s)\n", name, instanceNames(doc))
			return 1
		}
		if *asJSON {
			return printJSON(stdout, stderr, in)
		}
		if err := writeInstance(stdout, doc, in); err != nil {
			fmt.Fprintln(stderr, "xvrrpctl:", err)
			return 1
		}
		return 0
	}
	if *asJSON {
		return printJSON(stdout, stderr, doc)
	}
	if err := writeTable(stdout, doc); err != nil {
		fmt.Fprintln(stderr, "xvrrpctl:", err)
		return 1
	}
	return 0
}

func cmdReload(args []string, sock string, timeout time.Duration, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: xvrrpctl reload (it takes no arguments; global flags such as --timeout go before it)")
		return 2
	}
	resp, err := status.Call(sock, status.Request{Command: status.CmdReload}, timeout)
	if err != nil {
		fmt.Fprintln(stderr, "xvrrpctl:", err)
		return 1
	}
	if !resp.OK {
		fmt.Fprintln(stderr, "xvrrpctl: reload failed; the previous configuration keeps running:")
		for _, e := range resp.Errors {
			fmt.Fprintln(stderr, "  "+e)
		}
		if resp.Error != "" && len(resp.Errors) == 0 {
			fmt.Fprintln(stderr, "  "+resp.Error)
		}
		return 1
	}
	fmt.Fprintln(stdout, "reloaded")
	return 0
}

func findInstance(doc *status.Document, name string) *status.Instance {
	for i := range doc.Instances {
		if doc.Instances[i].Name == name {
			return &doc.Instances[i]
		}
	}
	return nil
}

func instanceNames(doc *status.Document) string {
	names := make([]string, 0, len(doc.Instances))
	for _, in := range doc.Instances {
		names = append(names, in.Name)
	}
	return strings.Join(names, ", ")
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "xvrrpctl:", err)
		return 1
	}
	return 0
}
