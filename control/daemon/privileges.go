package daemon

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/xvrrp/xvrrp/control/track"
	"github.com/xvrrp/xvrrp/loader"
)

// checkPrivileges names, in one line, every capability xvrrpd lacks for
// this configuration, before anything on the host changes. It replaces a
// uid 0 check: a non-root xvrrpd with these capabilities works.
//   - CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, and CAP_SYS_ADMIN only when bpffs
//     must be mounted: what loading and attaching the XDP program needs
//     (loader.NeededToOpen);
//   - CAP_NET_RAW: the AF_PACKET socket adverts, GARP and NA are sent on;
//   - CAP_SETUID and CAP_SETGID only when a script runs as another user than
//     xvrrpd's (script_user, a script's user line, keepalived_script).
func (d *Daemon) checkPrivileges() error {
	need := append(loader.NeededToOpen(d.opts.PinDir), loader.CapNetRaw)
	var others []string
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	for _, ra := range track.ScriptIdentities(d.cfg) {
		if ra.UID == uid && ra.GID == gid {
			continue
		}
		name := ra.Name
		if name == "" {
			name = "uid " + strconv.FormatUint(uint64(ra.UID), 10)
		}
		if !slices.Contains(others, name) {
			others = append(others, name)
		}
	}
	if len(others) > 0 {
		why := "scripts run as " + strings.Join(others, ", ") + ", not xvrrpd's own user: drop script_user to run them as xvrrpd's user"
		need = append(need, loader.Capability{Bit: loader.CapSetuid.Bit, Name: loader.CapSetuid.Name, For: why},
			loader.Capability{Bit: loader.CapSetgid.Bit, Name: loader.CapSetgid.Name, For: why})
	}
	return loader.CheckCapabilities(need)
}
