package daemon

// Alive reports whether the daemon runs and its lock, under which every
// event is handled, can be taken: the systemd watchdog's liveness probe.
// It blocks while another holder keeps the lock, which is the point.
func (d *Daemon) Alive() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.stopped
}
