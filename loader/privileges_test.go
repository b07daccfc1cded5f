//go:build linux

package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/bpf"
	"github.com/xvrrp/xvrrp/test/lab"
)

// The tests here run Open in a child process (this test binary again, told
// by helperEnv which scenario to play) whose credentials or mount namespace
// they change, so that the test process itself never loses a capability or
// sees bpffs unmounted.

const (
	helperEnv    = "XVRRP_LOADER_HELPER"
	helperDirEnv = "XVRRP_LOADER_HELPER_DIR"
	helperPrefix = "xvrrp-loader-helper-result: "
)

type helperResult struct {
	OpenErr    string   // Open's error, "" when it succeeded
	Privileges bool     // errors.Is(err, ErrPrivileges)
	Failures   []string // checks the child made that failed
}

// TestHelperProcess is not a test: it runs a scenario in the child process
// the tests below start, and does nothing otherwise.
func TestHelperProcess(t *testing.T) {
	scenario := os.Getenv(helperEnv)
	if scenario == "" {
		return
	}
	var res helperResult
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }
	// Capabilities are per thread: dropping them on this locked thread, on
	// which Open runs, is what the kernel checks.
	runtime.LockOSThread()
	open := func() {
		dir := os.Getenv(helperDirEnv)
		d, err := Open(Options{PinDir: dir, RingBytes: os.Getpagesize()})
		if err != nil {
			res.OpenErr, res.Privileges = err.Error(), errors.Is(err, ErrPrivileges)
			return
		}
		if _, err := os.Stat(filepath.Join(dir, bpf.XvrrpMapEvents)); err != nil {
			fail("ring not pinned after Open: %v", err)
		}
		if err := d.Close(); err != nil {
			fail("Close: %v", err)
		}
	}
	switch scenario {
	case "uid-nobody":
		// Leaving uid 0 clears the permitted and effective capabilities of
		// every thread.
		if err := syscall.Setuid(65534); err != nil {
			fail("setuid: %v", err)
			break
		}
		open()
	case "drop-net-admin":
		if err := dropEffective(CapNetAdmin.Bit); err != nil {
			fail("capset: %v", err)
			break
		}
		open()
	case "drop-bpf-sys-admin":
		if err := dropEffective(CapBPF.Bit, CapSysAdmin.Bit); err != nil {
			fail("capset: %v", err)
			break
		}
		open()
	case "drop-perfmon-sys-admin":
		if err := dropEffective(CapPerfmon.Bit, CapSysAdmin.Bit); err != nil {
			fail("capset: %v", err)
			break
		}
		open()
	case "drop-bpf":
		// CAP_SYS_ADMIN still grants what CAP_BPF does.
		if err := dropEffective(CapBPF.Bit); err != nil {
			fail("capset: %v", err)
			break
		}
		open()
	case "unmounted":
		if err := unmountBPFFS(); err != nil {
			fail("%v", err)
			break
		}
		open()
		var st unix.Statfs_t
		if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
			fail("after Open, /sys/fs/bpf is not a bpffs (statfs type %#x, %v)", st.Type, err)
		}
	case "unmounted-no-sys-admin":
		if err := unmountBPFFS(); err != nil {
			fail("%v", err)
			break
		}
		if err := dropEffective(CapSysAdmin.Bit); err != nil {
			fail("capset: %v", err)
			break
		}
		open()
	default:
		fail("unknown scenario %q", scenario)
	}
	out, _ := json.Marshal(res)
	fmt.Printf("\n%s%s\n", helperPrefix, out)
}

// dropEffective removes caps from the calling thread's effective set.
func dropEffective(caps ...uint) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	for _, c := range caps {
		data[c/32].Effective &^= 1 << (c % 32)
	}
	return unix.Capset(&hdr, &data[0])
}

// unmountBPFFS unmounts every bpffs stacked on /sys/fs/bpf, after making
// sure this process has a mount namespace of its own (exec.Cmd's
// Unshareflags, which also makes every mount private) so the host's stays.
func unmountBPFFS() error {
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return err
	}
	if self == parent {
		return fmt.Errorf("refusing to unmount /sys/fs/bpf: not in a mount namespace of its own (%s)", self)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	for range 16 {
		if !onBPFFS("/sys/fs/bpf") {
			return nil
		}
		if err := unix.Unmount("/sys/fs/bpf", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount /sys/fs/bpf: %w", err)
		}
	}
	return errors.New("/sys/fs/bpf is still a bpffs after 16 unmounts")
}

// runHelper runs scenario in a child process and returns what it reported.
func runHelper(t *testing.T, scenario string, attr *syscall.SysProcAttr) helperResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/sys/fs/bpf", lab.UniqueName("xvrrp-helper-"))
	t.Cleanup(func() { os.RemoveAll(dir) })
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), helperEnv+"="+scenario, helperDirEnv+"="+dir)
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %s: %v\n%s", scenario, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, helperPrefix); ok {
			var res helperResult
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				t.Fatalf("helper %s: %v in %q", scenario, err, js)
			}
			for _, f := range res.Failures {
				t.Errorf("helper %s: %s", scenario, f)
			}
			return res
		}
	}
	t.Fatalf("helper %s reported nothing:\n%s", scenario, out)
	return helperResult{}
}

// TestOpenWithoutCapabilities: Open names the capabilities the process
// lacks and says how to get them, instead of failing later with EPERM.
func TestOpenWithoutCapabilities(t *testing.T) {
	lab.RequirePrivileged(t)
	for _, c := range []struct {
		scenario string
		want     []string // in the error; none: Open succeeds
		not      []string
	}{
		{"uid-nobody", []string{"lacks CAP_BPF (", "CAP_PERFMON (", "CAP_NET_ADMIN (", "AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN (", "or run it as root"}, nil},
		{"drop-net-admin", []string{"lacks CAP_NET_ADMIN (", "AmbientCapabilities=CAP_NET_ADMIN ("}, []string{"CAP_BPF", "CAP_PERFMON"}},
		{"drop-bpf-sys-admin", []string{"lacks CAP_BPF (", "AmbientCapabilities=CAP_BPF ("}, []string{"CAP_NET_ADMIN", "CAP_PERFMON"}},
		{"drop-perfmon-sys-admin", []string{"lacks CAP_PERFMON (the verifier", "AmbientCapabilities=CAP_PERFMON ("}, []string{"CAP_NET_ADMIN", "CAP_BPF"}},
		{"drop-bpf", nil, nil},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			res := runHelper(t, c.scenario, nil)
			if c.want == nil {
				if res.OpenErr != "" {
					t.Fatalf("Open with CAP_SYS_ADMIN instead of CAP_BPF: %s", res.OpenErr)
				}
				return
			}
			if res.OpenErr == "" {
				t.Fatal("Open succeeded")
			}
			if !res.Privileges {
				t.Errorf("error %q does not wrap ErrPrivileges", res.OpenErr)
			}
			for _, w := range c.want {
				if !strings.Contains(res.OpenErr, w) {
					t.Errorf("error %q does not say %q", res.OpenErr, w)
				}
			}
			for _, n := range append(c.not, "operation not permitted") {
				if strings.Contains(res.OpenErr, n) {
					t.Errorf("error %q says %q", res.OpenErr, n)
				}
			}
		})
	}
}

// TestOpenMountsBPFFS: with nothing mounted on /sys/fs/bpf (in a mount
// namespace of the child's own), Open mounts bpffs there and pins under it;
// without CAP_SYS_ADMIN it says how to mount it instead.
func TestOpenMountsBPFFS(t *testing.T) {
	lab.RequirePrivileged(t)
	newNS := &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	t.Run("Mounted", func(t *testing.T) {
		if res := runHelper(t, "unmounted", newNS); res.OpenErr != "" {
			t.Errorf("Open with bpffs unmounted: %s", res.OpenErr)
		}
	})
	t.Run("MountDenied", func(t *testing.T) {
		res := runHelper(t, "unmounted-no-sys-admin", newNS)
		for _, w := range []string{"lacks CAP_SYS_ADMIN (mounting bpffs on /sys/fs/bpf)", "AmbientCapabilities=CAP_SYS_ADMIN ("} {
			if !strings.Contains(res.OpenErr, w) {
				t.Errorf("error %q does not say %q", res.OpenErr, w)
			}
		}
	})
	// The host's bpffs was never touched.
	if !onBPFFS("/sys/fs/bpf") {
		t.Fatal("/sys/fs/bpf is no longer a bpffs in the test's mount namespace")
	}
}

// TestExplainErrno: the errnos BPF calls fail with come with what to do.
func TestExplainErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
		is   error
	}{
		{unix.EPERM, "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW", ErrPrivileges},
		{unix.EACCES, "AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW", ErrPrivileges},
		{unix.ENOMEM, "lower Options.RingBytes", unix.ENOMEM},
	} {
		err := explainErrno(fmt.Errorf("create map: %w", c.err))
		if !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) || !errors.Is(err, c.err) {
			t.Errorf("explainErrno(%v) = %q, want it to say %q and wrap %v", c.err, err, c.want, c.is)
		}
	}
}
