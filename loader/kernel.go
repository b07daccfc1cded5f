//go:build linux

package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// ErrPrivileges is wrapped by the error Open returns when the process may not
// load BPF programs or attach XDP (a *PrivilegesError when the missing
// capabilities are known beforehand).
var ErrPrivileges = errors.New("xvrrpd needs CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN and CAP_NET_RAW (systemd: AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW), or root")

// checkPrivileges names the capabilities Open needs for pinDir that the
// calling thread's effective set lacks (NeededToOpen).
func checkPrivileges(pinDir string) error {
	return CheckCapabilities(NeededToOpen(pinDir))
}

func checkKernel() error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("kernel has no BTF (/sys/kernel/btf/vmlinux: %w): xvrrp needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (5.10 or later)", err)
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		return fmt.Errorf("kernel lacks BPF ring buffers (%w): xvrrp needs Linux 5.8 or later", err)
	}
	if err := features.HaveProgramHelper(ebpf.XDP, asm.FnXdpLoadBytes); err != nil {
		return fmt.Errorf("kernel lacks bpf_xdp_load_bytes (%w): xvrrp needs Linux 5.18 or later", err)
	}
	return nil
}

func checkRingBytes(n int) error {
	page := os.Getpagesize()
	if n < page || n&(n-1) != 0 || n > 1<<30 {
		return fmt.Errorf("ring size %d bytes: must be a power of two between the page size (%d) and 1 GiB", n, page)
	}
	return nil
}

// ensureBPFFS makes sure dir can be created on a bpffs, mounting
// /sys/fs/bpf when nothing is mounted there and dir lies under it.
func ensureBPFFS(dir string) error {
	dir = filepath.Clean(dir)
	if !onBPFFS(dir) {
		const std = "/sys/fs/bpf"
		if dir != std && !strings.HasPrefix(dir, std+"/") {
			return fmt.Errorf("pin directory %s is not on a bpffs: use a directory under /sys/fs/bpf or mount one (mount -t bpf bpf <dir>)", dir)
		}
		if err := unix.Mount("bpf", std, "bpf", 0, "mode=0700"); err != nil {
			hint := ""
			if errors.Is(err, unix.EPERM) {
				hint = ", which needs CAP_SYS_ADMIN"
			}
			return fmt.Errorf("bpffs is not mounted at %s and mounting it failed (%w%s): mount it with `mount -t bpf bpf %s` (or in /etc/fstab) before starting xvrrpd", std, err, hint, std)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pin directory %s: %w", dir, err)
	}
	return nil
}

// onBPFFS reports whether the nearest existing ancestor of dir is a bpffs.
func onBPFFS(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil {
			return st.Type == unix.BPF_FS_MAGIC
		}
		if p == "/" {
			return false
		}
	}
}

// explainErrno turns the errnos the kernel answers BPF calls with into what
// the operator can do about them.
func explainErrno(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", ErrPrivileges, err)
	case errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("%w: the kernel refused the memory (lower Options.RingBytes or raise the memory cgroup limit)", err)
	}
	return err
}
