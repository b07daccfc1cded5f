package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// sdNotify tells the service manager about xvrrpd's state, following
// sd_notify(3): one datagram of newline-separated VAR=value lines on the
// unix socket $NOTIFY_SOCKET names ("@..." is an abstract socket). Without
// the variable (not started by systemd with Type=notify) it does nothing.
// The protocol is small and stable, so xvrrpd speaks it itself rather than
// bringing in a library for one sendto.
func sdNotify(lines ...string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// monotonicUsec is MONOTONIC_USEC for RELOADING=1: systemd's
// Type=notify-reload (253 and later) matches the reload's READY=1 to it.
func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("MONOTONIC_USEC=%d", ts.Sec*1_000_000+ts.Nsec/1000)
}
