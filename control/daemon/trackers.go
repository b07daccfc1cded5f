package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/track"
)

// trackerSet runs every tracker of the configuration (vrrp_script,
// track_file, vrrp_track_process, track_interface) and the notify scripts,
// and turns tracker results into each instance's priority delta and fault
// reasons (keepalived's rules: track.Contribute).
//
// Trackers report on their own goroutines. Their updates are parked in a
// map and applied by one goroutine under the daemon's lock, so a tracker
// never waits for the engine, and the engine never waits for a tracker.
type trackerSet struct {
	d *Daemon

	// Guarded by d.mu.
	latest map[trackKey]track.Update
	linkUp map[string]bool

	// The running trackers of the current configuration; replaced whole on
	// reload (outside d.mu).
	run *trackerRun

	pmu     sync.Mutex
	pending map[trackKey]track.Update
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

type trackKey struct {
	kind track.Kind
	name string
}

// trackerRun is one configuration's trackers.
type trackerRun struct {
	scripts  map[string]*track.Script
	stats    map[string]*scriptStats
	files    *track.FileWatcher
	procs    *track.ProcessTracker
	procEv   *track.ProcessEvents
	notifier *track.Notifier
	envs     map[string]*atomic.Pointer[track.InstanceEnv] // per instance, for scripts and notify
}

// scriptStats counts one script's failed runs by reason, for metrics.
type scriptStats struct {
	timeout, exitCode, execError atomic.Uint64
}

func newTrackerSet(d *Daemon) *trackerSet {
	t := &trackerSet{
		d:       d,
		latest:  map[trackKey]track.Update{},
		linkUp:  map[string]bool{},
		pending: map[trackKey]track.Update{},
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	t.wg.Add(1)
	go t.applyLoop()
	return t
}

// emit is every tracker's callback: it never blocks.
func (t *trackerSet) emit(u track.Update) {
	t.pmu.Lock()
	t.pending[trackKey{u.Kind, u.Name}] = u
	t.pmu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *trackerSet) applyLoop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.done:
			return
		case <-t.kick:
		}
		t.pmu.Lock()
		batch := t.pending
		t.pending = map[trackKey]track.Update{}
		t.pmu.Unlock()
		t.d.mu.Lock()
		if !t.d.stopped {
			for k, u := range batch {
				if old, ok := t.latest[k]; ok && old.Insecure == "" && u.Insecure != "" {
					t.d.log.Error(fmt.Sprintf("%s %s: %s", k.kind, k.name, u.Insecure))
				}
				t.latest[k] = u
			}
			for _, r := range t.d.byName {
				for k := range batch {
					if r.tracks(k) {
						t.recompute(r)
						break
					}
				}
			}
		}
		t.d.mu.Unlock()
	}
}

// start stops the previous configuration's trackers and starts cfg's.
func (t *trackerSet) start(cfg *config.Config) error {
	old := t.run
	run := &trackerRun{scripts: map[string]*track.Script{}, stats: map[string]*scriptStats{},
		envs: map[string]*atomic.Pointer[track.InstanceEnv]{}}
	log := t.d.log
	g := cfg.Global

	used := track.UsedBy(cfg)
	for _, in := range cfg.Instances {
		p := &atomic.Pointer[track.InstanceEnv]{}
		p.Store(&track.InstanceEnv{Instance: in.Name, Group: in.SyncGroup, VRID: in.VRID, Interface: in.Interface, State: "INIT", Priority: in.Priority})
		run.envs[in.Name] = p
	}
	for name, users := range used.Scripts {
		sc := cfg.Scripts[name]
		ra, err := track.RunAsFor(sc.User, sc.Group, g)
		if err != nil {
			return fmt.Errorf("%s: vrrp_script %s: %w", sc.Pos, name, err)
		}
		st := &scriptStats{}
		run.stats[name] = st
		scfg := track.ScriptConfigFrom(name, sc, ra)
		if len(users) == 1 {
			// The per-instance environment makes sense when one instance
			// owns the script (keepalived lacks it).
			env := run.envs[users[0]]
			scfg.Env = func() []string { return env.Load().Environ() }
		}
		s := track.NewScript(scfg, track.ScriptOptions{Logger: log, EnableSecurity: g.EnableScriptSecurity,
			Exec: timedExec{name: name, stats: st, d: t.d}}, t.emit)
		if err := s.Check(); err != nil {
			if g.EnableScriptSecurity {
				log.Error(fmt.Sprintf("vrrp_script %s: %v: the tracker is failed until this is fixed (enable_script_security)", name, err))
			} else {
				log.Warn(fmt.Sprintf("vrrp_script %s: %v: running it anyway because enable_script_security is off", name, err))
			}
		}
		run.scripts[name] = s
	}
	var files []track.FileConfig
	for name := range used.Files {
		f := cfg.TrackFiles[name]
		fc := track.FileConfigFrom(name, f)
		if f.InitFile {
			if err := track.InitTrackFile(fc); err != nil {
				log.Error("track_file init_file", "track_file", name, "err", err)
			}
		}
		files = append(files, fc)
	}
	if len(files) > 0 {
		w, err := track.NewFileWatcher(files, log, t.emit)
		if err != nil {
			run.stop()
			return fmt.Errorf("track_file: %w", err)
		}
		run.files = w
	}
	var procs []track.ProcessConfig
	for name := range used.Procs {
		procs = append(procs, track.ProcessConfigFrom(name, cfg.TrackProcesses[name]))
	}
	if len(procs) > 0 {
		run.procs = track.NewProcessTracker(procs, track.RealClock{}, log, t.emit)
		ev, err := track.StartProcessEvents(run.procs, "/proc", log)
		if err != nil {
			run.stop()
			return fmt.Errorf("vrrp_track_process: %w", err)
		}
		run.procEv = ev
	}
	nra, err := track.RunAsFor("", "", g)
	if err != nil {
		run.stop()
		return err
	}
	fifo := ""
	if g.NotifyFIFO != nil {
		fifo = g.NotifyFIFO.Path
	}
	n, err := track.NewNotifier(track.NotifyOptions{Logger: log, RunAs: nra, EnableSecurity: g.EnableScriptSecurity, FIFO: fifo, Timeout: track.DefaultNotifyTimeout})
	if err != nil {
		run.stop()
		return fmt.Errorf("notify: %w", err)
	}
	run.notifier = n

	// Interfaces tracked by track_interface and their initial state; link
	// events keep them current (linkChanged).
	t.d.mu.Lock()
	for _, in := range cfg.Instances {
		for _, ti := range in.TrackInterfaces {
			l, err := netlink.LinkByName(ti.Name)
			t.linkUp[ti.Name] = err == nil && linkUp(l)
		}
	}
	t.run = run
	t.d.mu.Unlock()

	if old != nil {
		old.stop()
	}
	for _, s := range run.scripts {
		s.Start()
	}
	// Apply what the trackers report at once (files, processes).
	if run.files != nil {
		for _, u := range run.files.Current() {
			t.emit(u)
		}
	}
	if run.procs != nil {
		for _, u := range run.procs.Current() {
			t.emit(u)
		}
	}
	t.d.mu.Lock()
	for _, r := range t.d.byName {
		t.recompute(r)
	}
	t.d.mu.Unlock()
	return nil
}

func (run *trackerRun) stop() {
	for _, s := range run.scripts {
		s.Stop()
	}
	if run.files != nil {
		_ = run.files.Close()
	}
	if run.procEv != nil {
		_ = run.procEv.Close()
	}
	if run.notifier != nil {
		_ = run.notifier.Close()
	}
}

func (t *trackerSet) stop() {
	close(t.done)
	t.wg.Wait()
	if t.run != nil {
		t.run.stop()
	}
}

func (r *instance) refs() []track.Ref {
	var g *config.SyncGroup
	if r.group != nil {
		g = r.group.cfg
	}
	return track.RefsOf(r.cfg, g)
}

func (r *instance) tracks(k trackKey) bool {
	for _, ref := range r.refs() {
		if ref.Kind == k.kind && ref.Name == k.name {
			return true
		}
	}
	return false
}

// linkChanged is called (under d.mu) for every link event.
func (t *trackerSet) linkChanged(name string, up bool) {
	if old, ok := t.linkUp[name]; !ok || old == up {
		return
	}
	t.linkUp[name] = up
	k := trackKey{track.KindInterface, name}
	for _, r := range t.d.byName {
		if r.tracks(k) {
			t.recompute(r)
		}
	}
}

// update returns the latest status of a tracker (under d.mu). A tracker
// that has not reported yet is in keepalived's INIT.
func (t *trackerSet) update(ref track.Ref) track.Update {
	if ref.Kind == track.KindInterface {
		return track.Update{Kind: track.KindInterface, Name: ref.Name, OK: t.linkUp[ref.Name]}
	}
	if u, ok := t.latest[trackKey{ref.Kind, ref.Name}]; ok {
		return u
	}
	return track.Update{Kind: ref.Kind, Name: ref.Name, Init: true}
}

// recompute derives the instance's delta and tracker faults and tells the
// engine; an instance waiting for its weight-0 trackers' first results
// starts once they are in (called under d.mu).
func (t *trackerSet) recompute(r *instance) {
	now := time.Now()
	delta, pending := 0, false
	faults := map[string]bool{}
	for _, ref := range r.refs() {
		c := track.Contribute(t.update(ref), ref.ContributionWeight())
		delta += c.Delta
		pending = pending || c.Pending
		if c.Fault {
			faults[ref.Kind.String()+" "+ref.Name] = true
		}
	}
	for name := range r.trackerFaults {
		if !faults[name] {
			delete(r.trackerFaults, name)
			t.d.handle(r, fsm.Event{Kind: fsm.EventClearFault, Fault: fsm.FaultReason{Kind: fsm.FaultTracker, Name: name}}, now)
		}
	}
	for name := range faults {
		if !r.trackerFaults[name] {
			r.trackerFaults[name] = true
			t.d.handle(r, fsm.Event{Kind: fsm.EventSetFault, Fault: fsm.FaultReason{Kind: fsm.FaultTracker, Name: name}}, now)
		}
	}
	if delta != r.delta {
		r.delta = delta
		before := r.m.EffectivePriority()
		t.d.handle(r, fsm.Event{Kind: fsm.EventSetPriorityDelta, Delta: delta}, now)
		if r.cfg.Notify.PriorityChanges && r.m.EffectivePriority() != before {
			t.notifyPriority(r)
		}
	}
	if r.waitingInit && !pending {
		r.waitingInit = false
		d := t.d
		d.log.Info(fmt.Sprintf("%s: trackers reported, starting", r.cfg.Name))
		d.handle(r, fsm.Event{Kind: fsm.EventStartup}, now)
	}
}

// pendingInit reports whether a weight-0 tracker of r has not reported yet
// (keepalived keeps such an instance in INIT).
func (t *trackerSet) pendingInit(r *instance) bool {
	for _, ref := range r.refs() {
		if track.Contribute(t.update(ref), ref.ContributionWeight()).Pending {
			return true
		}
	}
	return false
}

// timedExec runs a script and records its duration and failure reason.
type timedExec struct {
	name  string
	stats *scriptStats
	d     *Daemon
}

func (e timedExec) Run(ctx context.Context, c track.Command) track.Result {
	res := track.ExecRunner{}.Run(ctx, c)
	if e.d.metrics != nil {
		e.d.metrics.ObserveTrackerRun(e.name, res.Duration)
	}
	switch {
	case res.TimedOut:
		e.stats.timeout.Add(1)
	case res.StartErr != nil:
		e.stats.execError.Add(1)
	case res.ExitCode != 0:
		e.stats.exitCode.Add(1)
	}
	return res
}
