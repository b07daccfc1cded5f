package main

import (
	"io"
	"strings"

	"github.com/xvrrp/xvrrp/packaging/man"
)

//go:generate go test -run TestManPageIsCurrent -update .

// manPage is xvrrpctl(8): its options come from the global flags and its
// commands from the usage text the command prints.
func manPage() man.Page {
	fs, _, _ := globalFlags(io.Discard)
	var u strings.Builder
	usage(&u)
	cmds := u.String()
	if i := strings.Index(cmds, "commands:\n"); i >= 0 {
		cmds = cmds[i+len("commands:\n"):]
	}
	return man.Page{
		Name:     "xvrrpctl",
		Section:  8,
		Summary:  "query and control a running xvrrpd",
		Synopsis: "[--control-socket PATH] [--timeout DURATION] COMMAND [ARGS]",
		Before: []man.Section{{Title: "Description", Paragraphs: []string{
			"xvrrpctl talks to xvrrpd over its control socket: who is master and why, reloads with their errors, and a configuration check that touches nothing (the same check as xvrrpd -t, with the same exit codes).",
		}}, {Title: "Commands", Paragraphs: []string{" " + strings.ReplaceAll(strings.TrimRight(cmds, "\n"), "\n", "\n ")}}},
		Options: man.FromFlagSet(fs, map[string]string{"control-socket": "PATH", "timeout": "DURATION"}),
		After: []man.Section{
			{Title: "Exit status", Paragraphs: []string{"0 on success, 1 when xvrrpd answered with an error or could not be reached, 2 for a usage error; check returns xvrrpd -t's codes (0, 4, 5, 6)."}},
			{Title: "See also", Paragraphs: []string{"xvrrpd(8), keepalived.conf(5)"}},
		},
	}
}
