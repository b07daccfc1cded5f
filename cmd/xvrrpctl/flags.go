package main

import "flag"

// parseInterspersed parses a subcommand's flags wherever they stand among
// its arguments, so `status VI_1 --json` works like `status --json VI_1`
// (the flag package alone stops at the first non-flag). A "--" ends the
// flags: everything after it is an argument. It returns the arguments in
// order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// Parse stopped either at a "--" it consumed or at an argument.
		// The subcommands' flags are all booleans, so a "--" just before
		// rest cannot be a flag's value.
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
