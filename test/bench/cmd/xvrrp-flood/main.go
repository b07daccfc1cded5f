// Command xvrrp-flood floods one interface with VRRP adverts (random
// sources, broken checksums, unknown VRIDs, spoofed copies of a master's
// adverts) for the benchmark's scenario 3. It refuses to run anywhere but
// inside a network namespace the benchmark created:
//
//	ip netns exec xvbench… xvrrp-flood --netns xvbench… --iface eth0 --dst-mac … --master-ip 198.18.0.11
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xvrrp/xvrrp/test/bench/flood"
)

func main() {
	var (
		nsName   = flag.String("netns", "", "the benchmark namespace this runs in (must start with "+flood.NSPrefix+")")
		iface    = flag.String("iface", "eth0", "interface to send on")
		dstMAC   = flag.String("dst-mac", "", "victim's MAC address")
		masterIP = flag.String("master-ip", "", "master's address (198.18.0.0/15), for spoofed copies")
		prio     = flag.Int("master-priority", 200, "master's priority, for spoofed copies")
		vipNet   = flag.String("vip-base", "198.18.2.0", "VIP of VRID n is this address + n")
		maxVRID  = flag.Int("vrids", 255, "VRIDs 1..n run on the victim")
		interval = flag.Duration("interval", 100*time.Millisecond, "victim's advert interval")
		duration = flag.Duration("duration", 30*time.Second, "how long to flood")
		workers  = flag.Int("workers", 1, "sending threads")
		nframes  = flag.Int("frames", 4096, "distinct frames to cycle through")
		cpu      = flag.Int("cpu", -1, "pin the sending threads to this CPU (-1: anywhere)")
	)
	flag.Parse()
	if err := flood.CheckNamespace(*nsName); err != nil {
		fmt.Fprintln(os.Stderr, "xvrrp-flood:", err)
		os.Exit(2)
	}
	dst, err := net.ParseMAC(*dstMAC)
	master := net.ParseIP(*masterIP).To4()
	base := net.ParseIP(*vipNet).To4()
	if err != nil || master == nil || base == nil || *maxVRID < 1 || *maxVRID > 255 || *workers < 1 || *nframes < 4 {
		fmt.Fprintln(os.Stderr, "xvrrp-flood: need --dst-mac, an IPv4 --master-ip and --vip-base, 1 ≤ --vrids ≤ 255, --workers ≥ 1, --frames ≥ 4")
		os.Exit(2)
	}
	for _, ip := range []net.IP{master, base} {
		if !(ip[0] == 198 && (ip[1] == 18 || ip[1] == 19)) {
			fmt.Fprintf(os.Stderr, "xvrrp-flood: %v is outside 198.18.0.0/15, the only range the benchmark uses\n", ip)
			os.Exit(2)
		}
	}
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xvrrp-flood:", err)
		os.Exit(1)
	}
	o := flood.Options{SrcMAC: ifi.HardwareAddr, DstMAC: dst, MasterIP: master, MasterPriority: uint8(*prio),
		VIPs: func(vrid int) net.IP {
			return net.IPv4(base[0], base[1], base[2], base[3]+byte(vrid))
		},
		MaxVRID: *maxVRID, Interval: *interval, Frames: *nframes, Seed: uint64(time.Now().UnixNano())}
	frames := flood.Frames(o)
	type result struct {
		sent, failed uint64
		err          error
	}
	results := make(chan result, *workers)
	start := time.Now()
	deadline := start.Add(*duration)
	for w := 0; w < *workers; w++ {
		go func() {
			runtime.LockOSThread()
			if *cpu >= 0 {
				var set unix.CPUSet
				set.Set(*cpu)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					results <- result{err: fmt.Errorf("pin to CPU %d: %w", *cpu, err)}
					return
				}
			}
			s, err := flood.NewSender(*iface)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer s.Close()
			sent, failed, err := s.Run(frames, deadline, 64)
			results <- result{sent, failed, err}
		}()
	}
	var total, failed uint64
	for w := 0; w < *workers; w++ {
		r := <-results
		if r.err != nil {
			fmt.Fprintln(os.Stderr, "xvrrp-flood:", r.err)
			os.Exit(1)
		}
		total += r.sent
		failed += r.failed
	}
	secs := time.Since(start).Seconds()
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"sent": total, "failed_batches": failed, "seconds": secs, "pps": float64(total) / secs,
	})
}
