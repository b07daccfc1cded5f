package track

import (
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startWithoutAmbient starts cmd from a thread whose ambient capability set
// is cleared. A non-root xvrrpd gets its capabilities as ambient ones
// (systemd's AmbientCapabilities=, setpriv --ambient-caps), and the kernel
// hands the ambient set on across execve: without this, every script would
// run with CAP_NET_ADMIN, CAP_BPF... Keepalived's scripts, run by a root
// daemon as a non-root script_user, get no capabilities either (the uid
// change from 0 clears them; from a non-root uid it does not). The daemon
// itself keeps its permitted and effective sets; the ambient set matters
// only across execve, so the cleared thread may serve the runtime again.
func startWithoutAmbient(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// EINVAL: a kernel before 4.3 has no ambient set, so nothing to clear.
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	return cmd.Start()
}
