//go:build linux

package loader

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/bpf"
)

// coarseTick is the length of a jiffy: the resolution of
// CLOCK_MONOTONIC_COARSE, one timer tick (1-10 ms with CONFIG_HZ 1000-100).
func coarseTick() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		return 0, fmt.Errorf("resolution of CLOCK_MONOTONIC_COARSE: %w", err)
	}
	if ts.Nano() <= 0 {
		return 0, fmt.Errorf("resolution of CLOCK_MONOTONIC_COARSE is %v", time.Duration(ts.Nano()))
	}
	return time.Duration(ts.Nano()), nil
}

// setClock fixes the constants of the program's drop-path clock (now() in
// xvrrp.bpf.c) into spec: one reading of jiffies and CLOCK_MONOTONIC taken
// together by the program xvrrp_clock, and the length of a jiffy.
func setClock(spec *ebpf.CollectionSpec) error {
	tick, err := coarseTick()
	if err != nil {
		return err
	}
	prog, err := loadClockProbe(spec)
	if err != nil {
		return err
	}
	defer prog.Close()
	jiffies, mono, err := readClocks(prog)
	if err != nil {
		return err
	}
	for name, v := range map[string]uint64{
		bpf.XvrrpVarXvrrpClockJiffies: jiffies,
		bpf.XvrrpVarXvrrpClockMonoNs:  mono,
		bpf.XvrrpVarXvrrpTickNs:       uint64(tick),
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// loadClockProbe loads spec's program xvrrp_clock, for readClocks.
func loadClockProbe(spec *ebpf.CollectionSpec) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(spec.Programs["xvrrp_clock"])
	if err != nil {
		return nil, fmt.Errorf("load the clock probe: %w", explainErrno(err))
	}
	return prog, nil
}

// readClocks runs the clock probe once: the kernel's jiffies count and its
// CLOCK_MONOTONIC in nanoseconds, read back to back.
func readClocks(prog *ebpf.Program) (jiffies, monoNs uint64, err error) {
	in := make([]byte, 64) // the kernel wants at least an Ethernet header
	out := make([]byte, len(in))
	ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		return 0, 0, fmt.Errorf("read the kernel's clocks: %w", err)
	}
	if ret != 2 { // XDP_PASS
		return 0, 0, fmt.Errorf("read the kernel's clocks: the probe returned %d", ret)
	}
	return binary.NativeEndian.Uint64(out[0:]), binary.NativeEndian.Uint64(out[8:]), nil
}
