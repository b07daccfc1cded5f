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
	"github.com/xvrrp/xvrrp/control/status"
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

// runAs resolves who a script runs as: its own user/group, else the global
// script_user, else keepalived_script when that user exists, else root
// (keepalived.conf(5) script_user).
func runAs(user, group string, g config.Global) (track.RunAs, error) {
	switch {
	case user != "":
		return track.LookupRunAs(user, group)
	case g.ScriptUser != "":
		return track.LookupRunAs(g.ScriptUser, g.ScriptGroup)
	}
	if r, err := track.LookupRunAs("keepalived_script", ""); err == nil {
		return r, nil
	}
	return track.Root, nil
}

// start stops the previous configuration's trackers and starts cfg's.
func (t *trackerSet) start(cfg *config.Config) error {
	old := t.run
	run := &trackerRun{scripts: map[string]*track.Script{}, stats: map[string]*scriptStats{},
		envs: map[string]*atomic.Pointer[track.InstanceEnv]{}}
	log := t.d.log
	g := cfg.Global

	used := usedTrackers(cfg)
	for _, in := range cfg.Instances {
		p := &atomic.Pointer[track.InstanceEnv]{}
		p.Store(&track.InstanceEnv{Instance: in.Name, Group: in.SyncGroup, VRID: in.VRID, Interface: in.Interface, State: "INIT", Priority: in.Priority})
		run.envs[in.Name] = p
	}
	for name, users := range used.scripts {
		sc := cfg.Scripts[name]
		ra, err := runAs(sc.User, sc.Group, g)
		if err != nil {
			return fmt.Errorf("%s: vrrp_script %s: %w", sc.Pos, name, err)
		}
		st := &scriptStats{}
		run.stats[name] = st
		scfg := track.ScriptConfig{Name: name, Args: sc.Args, Interval: sc.Interval, Timeout: sc.Timeout,
			Rise: sc.Rise, Fall: sc.Fall, RunAs: ra, InitFail: sc.InitFail}
		if len(users) == 1 {
			// The per-instance environment makes sense when one instance
			// owns the script (keepalived lacks it, #837).
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
	for name := range used.files {
		f := cfg.TrackFiles[name]
		fc := track.FileConfig{Name: name, Path: f.Path, InitFile: f.InitFile, InitValue: f.InitValue, InitOverwrite: f.InitOverwrite}
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
	for name := range used.procs {
		p := cfg.TrackProcesses[name]
		pc := track.ProcessConfig{Name: name, Process: p.Process, Params: p.Params, FullCommand: p.FullCommand,
			Quorum: p.Quorum, QuorumMax: p.QuorumMax, ForkDelay: p.ForkDelay, TerminateDelay: p.TerminateDelay}
		switch p.ParamMatch {
		case "initial":
			pc.Match = track.ParamInitial
		case "partial":
			pc.Match = track.ParamPartial
		}
		procs = append(procs, pc)
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
	nra, err := runAs("", "", g)
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

// usedTrackers lists the trackers some instance or sync group refers to,
// and for scripts which instances.
type used struct {
	scripts map[string][]string
	files   map[string]bool
	procs   map[string]bool
}

func usedTrackers(cfg *config.Config) used {
	u := used{scripts: map[string][]string{}, files: map[string]bool{}, procs: map[string]bool{}}
	groups := map[string]*config.SyncGroup{}
	for _, g := range cfg.SyncGroups {
		groups[g.Name] = g
	}
	for _, in := range cfg.Instances {
		for _, ref := range refsOf(in, groups[in.SyncGroup]) {
			switch ref.kind {
			case track.KindScript:
				u.scripts[ref.Name] = append(u.scripts[ref.Name], in.Name)
			case track.KindFile:
				u.files[ref.Name] = true
			case track.KindProcess:
				u.procs[ref.Name] = true
			}
		}
	}
	return u
}

// trackRef is one tracker as one instance uses it.
type trackRef struct {
	kind track.Kind
	config.TrackRef
}

// refsOf lists an instance's trackers: its own and its sync group's
// (keepalived applies a group's track_* to every member).
func refsOf(in *config.Instance, g *config.SyncGroup) []trackRef {
	var out []trackRef
	add := func(k track.Kind, refs []config.TrackRef) {
		for _, r := range refs {
			out = append(out, trackRef{k, r})
		}
	}
	addIf := func(tis []config.TrackInterface) {
		for _, ti := range tis {
			out = append(out, trackRef{track.KindInterface, config.TrackRef(ti)})
		}
	}
	add(track.KindScript, in.TrackScripts)
	add(track.KindFile, in.TrackFiles)
	add(track.KindProcess, in.TrackProcesses)
	addIf(in.TrackInterfaces)
	if g != nil {
		add(track.KindScript, g.TrackScripts)
		add(track.KindFile, g.TrackFiles)
		add(track.KindProcess, g.TrackProcesses)
		addIf(g.TrackInterfaces)
	}
	return out
}

func (r *instance) refs() []trackRef {
	var g *config.SyncGroup
	if r.group != nil {
		g = r.group.cfg
	}
	return refsOf(r.cfg, g)
}

func (r *instance) tracks(k trackKey) bool {
	for _, ref := range r.refs() {
		if ref.kind == k.kind && ref.Name == k.name {
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
func (t *trackerSet) update(ref trackRef) track.Update {
	if ref.kind == track.KindInterface {
		return track.Update{Kind: track.KindInterface, Name: ref.Name, OK: t.linkUp[ref.Name]}
	}
	if u, ok := t.latest[trackKey{ref.kind, ref.Name}]; ok {
		return u
	}
	return track.Update{Kind: ref.kind, Name: ref.Name, Init: true}
}

// recompute derives the instance's delta and tracker faults and tells the
// engine; an instance waiting for its weight-0 trackers' first results
// starts once they are in (called under d.mu).
func (t *trackerSet) recompute(r *instance) {
	now := time.Now()
	delta, pending := 0, false
	faults := map[string]bool{}
	for _, ref := range r.refs() {
		c := track.Contribute(t.update(ref), track.Weight{Weight: ref.Weight, Reverse: ref.Reverse})
		delta += c.Delta
		pending = pending || c.Pending
		if c.Fault {
			faults[ref.kind.String()+" "+ref.Name] = true
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
		t.d.handle(r, fsm.Event{Kind: fsm.EventSetPriorityDelta, Delta: delta}, now)
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
		if track.Contribute(t.update(ref), track.Weight{Weight: ref.Weight, Reverse: ref.Reverse}).Pending {
			return true
		}
	}
	return false
}

// instanceTrackers reports r's trackers for status (under d.mu).
func (t *trackerSet) instanceTrackers(r *instance) []status.Tracker {
	var out []status.Tracker
	for _, ref := range r.refs() {
		u := t.update(ref)
		c := track.Contribute(u, track.Weight{Weight: ref.Weight, Reverse: ref.Reverse})
		st := status.Tracker{Kind: kindName(ref.kind), Name: ref.Name, Weight: ref.Weight, Delta: c.Delta, Fault: c.Fault, Detail: u.Reason}
		switch {
		case u.Insecure != "":
			st.Status, st.Insecure, st.Detail = "insecure", true, u.Insecure
		case u.Init:
			st.Status = "init"
		case ref.kind == track.KindFile:
			st.Status = "ok"
			if c.Fault {
				st.Status = "failed"
			}
			if st.Detail == "" {
				st.Detail = fmt.Sprintf("value %d", u.Value)
			}
		case u.OK:
			st.Status = "ok"
		default:
			st.Status = "failed"
		}
		if ref.kind == track.KindScript && t.run != nil {
			if s := t.run.scripts[ref.Name]; s != nil {
				ss := s.Status()
				st.LastRun = ss.LastRun
				if ss.LastError != "" && st.Detail == "" {
					st.Detail = ss.LastError
				}
				if n := t.run.stats[ref.Name]; n != nil {
					st.Failures = map[string]uint64{"timeout": n.timeout.Load(), "exit_code": n.exitCode.Load(), "exec_error": n.execError.Load()}
					counted := n.timeout.Load() + n.exitCode.Load() + n.execError.Load()
					if ss.Failures > counted {
						// Runs refused by the security check fail without
						// reaching the executor.
						st.Failures["insecure"] = ss.Failures - counted
					}
				}
			}
		}
		out = append(out, st)
	}
	return out
}

func kindName(k track.Kind) string {
	switch k {
	case track.KindScript:
		return "script"
	case track.KindFile:
		return "file"
	case track.KindProcess:
		return "process"
	}
	return "interface"
}

// notifyInstance runs the instance's notify scripts and FIFO line for a
// transition; it never blocks (called under d.mu).
func (t *trackerSet) notifyInstance(r *instance, to fsm.State) {
	if t.run == nil {
		return
	}
	env := track.InstanceEnv{Instance: r.cfg.Name, VRID: r.cfg.VRID, Interface: r.cfg.Interface, State: to.String(), Priority: int(r.m.EffectivePriority())}
	if r.group != nil {
		env.Group = r.group.cfg.Name
	}
	if p := t.run.envs[r.cfg.Name]; p != nil {
		p.Store(&env)
	}
	t.run.notifier.Notify(track.NotifyEvent{Name: r.cfg.Name, State: to.String(), Priority: env.Priority,
		Scripts: notifyScripts(r.cfg.Notify), Env: env})
}

func (t *trackerSet) notifyGroup(g *syncGroup, to fsm.State) {
	if t.run == nil {
		return
	}
	t.run.notifier.Notify(track.NotifyEvent{Group: true, Name: g.cfg.Name, State: to.String(),
		Scripts: notifyScripts(g.cfg.Notify), Env: track.InstanceEnv{Group: g.cfg.Name, State: to.String()}})
}

func notifyScripts(n config.Notify) track.NotifyScripts {
	args := func(s *config.NotifyScript) []string {
		if s == nil {
			return nil
		}
		return s.Args
	}
	return track.NotifyScripts{Master: args(n.Master), Backup: args(n.Backup), Fault: args(n.Fault), Stop: args(n.Stop), Notify: args(n.Any)}
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

// scriptSecurityFindings applies the script-security rule to every script
// and notify script of cfg, for xvrrpd -t: one line per insecure script.
func scriptSecurityFindings(cfg *config.Config) []string {
	var out []string
	check := func(pos config.Pos, what string, args []string, user, group string) {
		if len(args) == 0 {
			return
		}
		ra, err := runAs(user, group, cfg.Global)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %s: %v", pos, what, err))
			return
		}
		// The runtime looks a bare command up in PATH; so does the check.
		path, err := track.LookPath(args[0])
		if err == nil {
			err = track.CheckScriptSecurity(path, ra)
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %s: %v", pos, what, err))
		}
	}
	for name := range usedTrackers(cfg).scripts {
		s := cfg.Scripts[name]
		check(s.Pos, "vrrp_script "+name, s.Args, s.User, s.Group)
	}
	notify := func(owner string, n config.Notify) {
		for _, s := range []*config.NotifyScript{n.Master, n.Backup, n.Fault, n.Stop, n.Any} {
			if s != nil {
				check(s.Pos, owner+" notify", s.Args, s.User, s.Group)
			}
		}
	}
	for _, in := range cfg.Instances {
		notify("vrrp_instance "+in.Name, in.Notify)
	}
	for _, g := range cfg.SyncGroups {
		notify("vrrp_sync_group "+g.Name, g.Notify)
	}
	return out
}
