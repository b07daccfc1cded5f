package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// VIPsKernel measures what the kernel alone needs for one cell's
// addresses, in the same run as the daemons: `ip -batch` adding all N to
// a veth in a fresh namespace (one request per address, as iproute2
// sends them), then deleting them, nothing else running in it. It is the
// ceiling a daemon's handover cannot beat on this machine: in the lab
// both hosts share this kernel, so a handover's adds also wait for the
// old master's deletes.
func (r *Runner) VIPsKernel(ctx context.Context, c VIPsCase) error {
	scen := c.Name()
	l, err := r.sub()
	if err != nil {
		return err
	}
	defer l.Close()
	ns, err := l.NewNS("k")
	if err != nil {
		return err
	}
	if err := ns.IP("link", "add", "name", "eth0", "type", "veth", "peer", "name", "peer0"); err != nil {
		return err
	}
	_ = ns.Sysctl("net.ipv6.conf.eth0.accept_dad", "0")
	for _, dev := range []string{"eth0", "peer0"} {
		if err := ns.IP("link", "set", "dev", dev, "up"); err != nil {
			return err
		}
	}
	var add, del strings.Builder
	for _, a := range c.Addrs() {
		bits, flags := 32, ""
		if a.Is6() {
			bits, flags = 128, " nodad"
		}
		fmt.Fprintf(&add, "address add %s/%d dev eth0%s\n", a, bits, flags)
		fmt.Fprintf(&del, "address del %s/%d dev eth0\n", a, bits)
	}
	run := func(name, script string) (time.Duration, error) {
		f := filepath.Join(l.Dir, name)
		if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
			return 0, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if out, err := ns.Run("ip", "-batch", f); err != nil {
			return 0, fmt.Errorf("ip -batch %s: %v: %s", name, err, out)
		}
		return time.Since(t0), nil
	}
	tAdd, err := run("add", add.String())
	if err != nil {
		return err
	}
	tDel, err := run("del", del.String())
	if err != nil {
		return err
	}
	note := fmt.Sprintf("ip -batch alone: add %.0f ms, delete %.0f ms", ms(tAdd), ms(tDel))
	res := r.Results
	res.Note(scen, "new master: decision → all addresses in", note)
	r.logf("%s: kernel alone (ip -batch in a fresh namespace): add %v, delete %v", scen, tAdd.Round(time.Millisecond), tDel.Round(time.Millisecond))
	return nil
}
