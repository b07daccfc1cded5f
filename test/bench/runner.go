package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Runner runs the scenarios and collects their results.
type Runner struct {
	Lab     *Lab
	Tools   Tools
	Results *Results
	Log     io.Writer // progress lines
	RepoDir string    // where go.mod is, for the micro-benchmarks
	seq     int
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// sub makes a fresh child lab for one run, so state never leaks from one
// daemon's run into the next.
func (r *Runner) sub() (*Lab, error) {
	r.seq++
	return r.Lab.Sub(fmt.Sprintf("r%d", r.seq))
}

// pair is a master (priority 200) and a backup (priority 100) running the
// same layout on a fresh LAN.
type pair struct {
	lab            *Lab
	lan            *LAN
	master, backup *Daemon
}

// Priorities of the two nodes: the backup must never take over while the
// master is healthy.
const (
	masterPriority = 200
	backupPriority = 100
)

// startPair builds a LAN of hosts (the first two run daemons) and starts
// the master, waits until it owns every instance, then starts the backup.
// sharedRx overrides the run's Lab.SharedRx for this LAN when true.
func (r *Runner) startPair(ctx context.Context, kind Kind, ly Layout, hosts int, vlans []int, sharedRx bool) (*pair, error) {
	l, err := r.sub()
	if err != nil {
		return nil, err
	}
	l.SharedRx = l.SharedRx || sharedRx
	p := &pair{lab: l}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	if p.lan, err = l.NewLAN(hosts, vlans); err != nil {
		return nil, err
	}
	n := ly.Total()
	startTimeout := 30*time.Second + time.Duration(n)*20*time.Millisecond
	if p.master, err = l.StartDaemon(r.Tools, kind, p.lan.Hosts[0], KeepalivedConf("bench-master", ly, masterPriority)); err != nil {
		return nil, err
	}
	if err := p.master.WaitReady(ctx, n, startTimeout); err != nil {
		return nil, err
	}
	if err := p.master.WaitMasters(ctx, n, startTimeout+MasterDownInterval(ly.Interval, masterPriority)); err != nil {
		return nil, err
	}
	if p.backup, err = l.StartDaemon(r.Tools, kind, p.lan.Hosts[1], KeepalivedConf("bench-backup", ly, backupPriority)); err != nil {
		return nil, err
	}
	if err := p.backup.WaitReady(ctx, n, startTimeout); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

func (p *pair) close() {
	if p.backup != nil {
		_ = p.backup.Stop(5 * time.Second)
	}
	if p.master != nil {
		_ = p.master.Stop(5 * time.Second)
	}
	p.lab.Close()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// settle is how long the initial election is given before measuring: a few
// Master_Down_Intervals, at least 2 s.
func settle(interval time.Duration) time.Duration {
	return max(2*time.Second, 5*MasterDownInterval(interval, backupPriority))
}
