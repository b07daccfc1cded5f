package daemon

import (
	"fmt"
	"io"
	"os"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/track"
)

// Exit codes of a configuration test, keepalived's (keepalived -t:
// KEEPALIVED_EXIT_CONFIG, _CONFIG_TEST, _CONFIG_TEST_SECURITY), so scripts
// written for keepalived keep working.
const (
	ExitOK             = 0
	ExitConfigMissing  = 4
	ExitConfigError    = 5
	ExitConfigSecurity = 6
)

// Check validates the configuration at path without touching the host:
// syntax, values, references, and the script-security rule for every script
// when enable_script_security is set. It prints one line per finding to w
// and returns keepalived's exit code for a config test.
func Check(path string, opts config.Options, w io.Writer) int {
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(w, "%s: cannot read the configuration: %v\n", path, err)
		return ExitConfigMissing
	}
	cfg, warns, err := config.Load(path, opts)
	for _, wr := range warns {
		fmt.Fprintf(w, "warning: %s\n", wr)
	}
	if err != nil {
		fmt.Fprintln(w, err)
		return ExitConfigError
	}
	insecure := track.SecurityFindings(cfg)
	for _, f := range insecure {
		if cfg.Global.EnableScriptSecurity {
			fmt.Fprintf(w, "%s\n", f)
		} else {
			fmt.Fprintf(w, "warning: %s (runs anyway: enable_script_security is off)\n", f)
		}
	}
	if !cfg.Global.EnableScriptSecurity && track.RunsScriptsAsRoot(cfg) {
		// keepalived vrrp.c check_vrrp_script_security reports this (and
		// keepalived -t exits 6 on it) but runs the scripts; so does xvrrpd.
		fmt.Fprintln(w, "warning: SECURITY VIOLATION - scripts are being executed but script_security not enabled (keepalived's warning; the scripts run as root, as in keepalived; set enable_script_security to check them)")
	}
	fmt.Fprint(w, config.MigrationReport(cfg, warns))
	if len(insecure) > 0 && cfg.Global.EnableScriptSecurity {
		return ExitConfigSecurity
	}
	fmt.Fprintf(w, "%s: configuration OK: %d instance(s), %d sync group(s), %d script(s)\n",
		path, len(cfg.Instances), len(cfg.SyncGroups), len(cfg.Scripts))
	return ExitOK
}
