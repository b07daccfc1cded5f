package main

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// sdNotify tells the service manager about xvrrpd's state (sd_notify(3),
// through go-systemd): one datagram of the given VAR=value lines. Without
// $NOTIFY_SOCKET (not started by systemd with Type=notify) it does nothing.
// The variable is kept: scripts get a clean environment anyway.
func sdNotify(lines ...string) error {
	_, err := sddaemon.SdNotify(false, strings.Join(lines, "\n"))
	return err
}

// monotonicUsec is MONOTONIC_USEC for RELOADING=1: systemd's
// Type=notify-reload (253 and later) matches the reload's READY=1 to it.
func monotonicUsec() string {
	return strings.TrimSuffix(sddaemon.SdNotifyMonotonicUsec(), "\n")
}

// startWatchdog sends WATCHDOG=1 at half the unit's WatchdogSec= (systemd
// passes it as $WATCHDOG_USEC; sd_watchdog_enabled(3)) for as long as alive
// answers, which takes the daemon's lock: a daemon stuck holding it stops
// the pings and systemd restarts it (Restart=always). Without WatchdogSec=
// it starts nothing. The returned function stops the pings; calling it
// again does nothing.
func startWatchdog(alive func() bool, log *slog.Logger) (stop func()) {
	every, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings ignored", "err", err)
	}
	if err != nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if alive() {
					_ = sdNotify(sddaemon.SdNotifyWatchdog)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
