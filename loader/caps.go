//go:build linux

package loader

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Capability is one Linux capability xvrrpd may need, with what it is for,
// so that a missing one is named with its reason.
type Capability struct {
	Bit  uint
	Name string // CAP_..., as systemd's AmbientCapabilities= spells it
	For  string
}

// The capabilities xvrrpd uses (capabilities(7)); docs/install.md has the
// table of measurements behind each.
var (
	CapSetgid   = Capability{6, "CAP_SETGID", "running scripts as script_user"}
	CapSetuid   = Capability{7, "CAP_SETUID", "running scripts as script_user"}
	CapNetAdmin = Capability{12, "CAP_NET_ADMIN", "attaching XDP/TCX, VIPs, VMACs, net sysctls"}
	CapNetRaw   = Capability{13, "CAP_NET_RAW", "the AF_PACKET socket for adverts, GARP and NA"}
	CapSysAdmin = Capability{21, "CAP_SYS_ADMIN", "mounting bpffs on /sys/fs/bpf"}
	CapPerfmon  = Capability{38, "CAP_PERFMON", "the verifier's packet-pointer arithmetic in the XDP program"}
	CapBPF      = Capability{39, "CAP_BPF", "loading the XDP program and its maps"}
)

// PrivilegesError names every capability the process lacks; it matches
// ErrPrivileges with errors.Is.
type PrivilegesError struct{ Missing []Capability }

func (e *PrivilegesError) Error() string {
	why := make([]string, len(e.Missing))
	names := make([]string, len(e.Missing))
	for i, c := range e.Missing {
		why[i] = c.Name + " (" + c.For + ")"
		names[i] = c.Name
	}
	return fmt.Sprintf("the process lacks %s: grant it with the systemd line AmbientCapabilities=%s (and the same in CapabilityBoundingSet=), or run it as root",
		strings.Join(why, ", "), strings.Join(names, " "))
}

// Is makes errors.Is(err, ErrPrivileges) hold.
func (e *PrivilegesError) Is(target error) bool { return target == ErrPrivileges }

// NeededToOpen is what Open needs with pinDir ("" = DefaultPinDir):
// CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, and CAP_SYS_ADMIN only when bpffs is
// not mounted where Open would mount it.
func NeededToOpen(pinDir string) []Capability {
	if pinDir == "" {
		pinDir = DefaultPinDir
	}
	need := []Capability{CapBPF, CapPerfmon, CapNetAdmin}
	dir := filepath.Clean(pinDir)
	if !onBPFFS(dir) && (dir == "/sys/fs/bpf" || strings.HasPrefix(dir, "/sys/fs/bpf/")) {
		need = append(need, CapSysAdmin)
	}
	return need
}

// CheckCapabilities returns a *PrivilegesError naming each capability of
// need missing from the calling thread's effective set. CAP_SYS_ADMIN
// stands in for CAP_BPF and CAP_PERFMON, as in the kernel (bpf_capable,
// perfmon_capable).
func CheckCapabilities(need []Capability) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read process capabilities: %w", err)
	}
	eff := func(bit uint) bool { return data[bit/32].Effective&(1<<(bit%32)) != 0 }
	var missing []Capability
	for _, c := range need {
		if eff(c.Bit) || ((c.Bit == CapBPF.Bit || c.Bit == CapPerfmon.Bit) && eff(CapSysAdmin.Bit)) {
			continue
		}
		if !containsCap(missing, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &PrivilegesError{Missing: missing}
}

func containsCap(cs []Capability, c Capability) bool {
	for _, x := range cs {
		if x.Bit == c.Bit {
			return true
		}
	}
	return false
}
