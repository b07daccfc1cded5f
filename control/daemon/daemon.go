// Package daemon is xvrrpd's runtime: it joins the XDP receive path
// (loader), the protocol engine (control/fsm, control/advert, control/sched),
// the host side (vip) and the trackers (control/track), and serves status,
// metrics and reloads. The engine stays pure; every syscall happens here or
// in the packages at the edges.
//
// Concurrency: one mutex (Daemon.mu) guards every instance. The ring-buffer
// reader, the timer scheduler, link events, tracker updates, signals and the
// control socket each take it for the duration of one step; actions are
// executed under it (an advert send is one sendto), except VIP changes
// (queued to vipQueue's goroutine, batched netlink), GARP/NA bursts and
// notify scripts, which run on their own.
//
// Where things are decided, by file:
//
//   - daemon.go, apply.go: start, stop, reload (which instances run).
//   - instance.go: an instance's state and how engine actions are executed.
//   - receive.go: one advert from the ring: decode, check, hand to the engine.
//   - ring.go, clock.go: reading the XDP ring; kernel receive times.
//   - timers.go, late.go: the scheduler's callback; late timer reports.
//   - dataplane.go: what the XDP program is told (receive policy, the
//     followed master, the master's repeats).
//   - netlink.go: link and address events (faults, advert source).
//   - iface.go: the interfaces served (XDP attach, sender, groups).
//   - send.go, sendbatch.go, garp.go, vips.go, vipqueue.go: what goes out to
//     the host and the wire.
//   - trackers.go, notify.go: tracker results and notify scripts (the
//     configuration mapping is control/track's).
//   - takeover.go: the evidence a takeover's log line carries.
//   - statusdoc.go, control.go, dump.go: status, the control socket, dumps.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xvrrp/xvrrp/control/config"
	"github.com/xvrrp/xvrrp/control/fsm"
	"github.com/xvrrp/xvrrp/control/metrics"
	"github.com/xvrrp/xvrrp/control/procsched"
	"github.com/xvrrp/xvrrp/control/safefile"
	"github.com/xvrrp/xvrrp/control/sched"
	"github.com/xvrrp/xvrrp/control/status"
	"github.com/xvrrp/xvrrp/loader"
	"github.com/xvrrp/xvrrp/vip"
	"golang.org/x/sys/unix"
)

// Options are xvrrpd's command-line settings. Every host path is one, so
// that tests can run several daemons in several namespaces on one host.
type Options struct {
	ConfigFile    string
	Strict        bool
	ConfigID      string // -i/--config-id: selects @ID lines; "" is the host name's first label
	PinDir        string
	Attach        loader.Hook // --attach: auto (zero), xdp or tcx
	ControlSocket string
	PIDFile       string
	MetricsAddr   string // "" disables the HTTP listener
	ReadyFile     string // written once every instance is running
	DataDumpFile  string // SIGUSR1
	StatsDumpFile string // SIGUSR2
	Version       string
	Logger        *slog.Logger
}

// Daemon is one running xvrrpd.
type Daemon struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	cfg    *config.Config
	dp     *loader.Dataplane
	rd     *loader.EventReader // the ring's reader; Pending is safe from any goroutine
	heard  *loader.HeardTable  // the masters' repeats the XDP program records (repeats)
	kclock kernelClock         // fire's: the heard table's times to the daemon's clock
	sched  *sched.Scheduler
	ifaces map[string]*iface
	insts  []*instance // indexed by scheduler id; nil = free slot
	byKey  map[loader.InstanceKey]*instance
	byName map[string]*instance
	// ownVIPs is the global addresses among the instances' VIPs, built from
	// byName when first needed after an apply (nil: to build). Address
	// events come one per VIP while a master takes over thousands, and
	// building it per event cost a 10,000-VIP handover seconds of CPU.
	ownVIPs map[netip.Addr]bool
	groups  map[string]*syncGroup
	acts    []fsm.Action
	gacts   []fsm.GroupAction
	batch   sendBatch // adverts of the scheduler batch being fired
	// shortestInterval (ns) is the shortest advert interval programmed into
	// the dataplane, for the ring reader's poll period (any goroutine).
	shortestInterval atomic.Int64
	late             lateTimers
	batchLate        time.Duration // the batch being fired: scheduler lateness and lock wait
	reload           status.Reload
	started          time.Time
	stopped          bool
	warns            []string

	vips     *vip.Manager
	vipq     *vipQueue   // every VIP change goes through it, off d.mu
	routes   *routeState // routes, rules and static objects (routes.go)
	trackers *trackerSet
	metrics  *metrics.Registry
	httpSrv  *metrics.Server
	ctl      *controlServer

	pinLock      *loader.PinLock // held from the start's first step to the end of teardown
	pidWritten   bool            // the pid file is this run's (teardown removes only it)
	readyWritten bool
	running      bool // Start completed; reloads and /healthz wait for it
	reloadMu     sync.Mutex
	// rtTID is the scheduler's thread when it runs in thread mode
	// (vrrp_rt_priority at start), 0 otherwise; rtPrio its real-time
	// priority in force (reloads change it: procsched.Reload).
	rtTID, rtPrio atomic.Int32

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// schedCapacity bounds instance ids; reloads reuse freed ids.
const schedCapacity = 1 << 16

// New loads the configuration and prepares the daemon; nothing on the host
// changes until Start.
func New(opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	cfg, warns, err := config.Load(opts.ConfigFile, config.Options{Strict: opts.Strict, ConfigID: opts.ConfigID})
	for _, w := range warns {
		opts.Logger.Warn(w.String())
	}
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		opts:   opts,
		log:    opts.Logger,
		cfg:    cfg,
		ifaces: map[string]*iface{},
		byKey:  map[loader.InstanceKey]*instance{},
		byName: map[string]*instance{},
		groups: map[string]*syncGroup{},
		acts:   make([]fsm.Action, 0, 16),
		gacts:  make([]fsm.GroupAction, 0, 32),
	}
	for _, w := range warns {
		d.warns = append(d.warns, w.String())
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	var so sched.Options
	if pc := procConfig(cfg); pc.RTPriority > 0 {
		// vrrp_rt_priority: only the scheduler's thread (which also sends
		// the timed adverts) runs SCHED_RR; see control/procsched.
		so.Thread = func() {
			d.rtTID.Store(int32(unix.Gettid()))
			if err := procsched.EnterRealtime(pc); err != nil {
				d.log.Warn("vrrp_rt_priority not applied; timers run at normal priority", "err", err)
				return
			}
			d.rtPrio.Store(int32(pc.RTPriority))
		}
	}
	s, err := sched.New(schedCapacity, d.fire, so)
	if err != nil {
		return nil, err
	}
	d.sched = s
	return d, nil
}

// Start checks what the host must provide, loads the XDP program, starts
// every instance and the servers.
//
// Everything that can refuse the start is checked before anything touches
// the host: the interfaces, the pin directory's lock (a second daemon on
// the same pins stops here and touches nothing of the first's), with
// --attach xdp every interface's XDP slot, the control socket, the metrics
// port and the pid file. A failure after that point undoes what was
// done: the instances send priority 0 and drop their VIPs, as on SIGTERM.
func (d *Daemon) Start() (err error) {
	if err := d.checkPrivileges(); err != nil {
		return err
	}
	if err := d.checkInterfaces(d.cfg); err != nil {
		return err
	}
	raiseFileLimit(d.log)
	if d.pinLock, err = loader.LockPinDir(d.opts.PinDir); err != nil {
		return err
	}
	if d.opts.Attach == loader.HookXDP {
		// --attach xdp never takes another program's slot: every
		// interface is checked before the first is attached.
		if err := d.checkXDPSlots(d.cfg); err != nil {
			d.pinLock.Release(true)
			return err
		}
	}
	// vrrp_priority, vrrp_cpu_affinity, vrrp_rlimit_rttime before any
	// thread of ours starts, so that every later one inherits them.
	// keepalived logs a failure and runs on; so does xvrrpd.
	if err := procsched.ApplyProcess(procConfig(d.cfg)); err != nil {
		d.log.Warn("process scheduling keywords not applied", "err", err)
	}
	defer func() {
		if err != nil {
			d.abortStart()
		}
	}()
	d.metrics = metrics.NewRegistry(d.opts.Version, d.Status)
	if d.opts.ControlSocket != "" {
		if d.ctl, err = listenControl(d, d.opts.ControlSocket); err != nil {
			return err
		}
	}
	if d.opts.MetricsAddr != "" {
		if d.httpSrv, err = metrics.Listen(d.opts.MetricsAddr, d.metrics, d.healthy); err != nil {
			return err
		}
	}
	if d.opts.PIDFile != "" {
		if err := safefile.Write(d.opts.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("write pid file: %w (pass --pid-file)", err)
		}
		d.pidWritten = true
	}

	// From here on the host changes.
	if d.vips, err = vip.NewManager(); err != nil {
		return err
	}
	d.vipq = newVIPQueue(d.vips, d.log)
	if err := d.startRoutes(); err != nil {
		return err
	}
	dp, err := loader.Open(loader.Options{PinDir: d.opts.PinDir, Attach: d.opts.Attach})
	if err != nil {
		return err
	}
	d.dp = dp
	if d.heard, err = dp.Heard(); err != nil {
		return err
	}
	d.started = time.Now()
	d.late.startStealWindow(d.started)
	d.trackers = newTrackerSet(d)
	if err := d.trackers.start(d.cfg); err != nil {
		return err
	}

	d.mu.Lock()
	err = d.apply(d.cfg, nil)
	if err == nil {
		d.reconcileStart()
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if err := d.startReceiver(); err != nil {
		return err
	}
	if err := d.watchLinks(); err != nil {
		return err
	}
	if err := d.watchAddrs(); err != nil {
		return err
	}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.sched.Run(d.ctx) }()
	if d.opts.ReadyFile != "" {
		if err := safefile.Write(d.opts.ReadyFile, []byte("ready\n"), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
		d.readyWritten = true
	}
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	d.log.Info("xvrrpd running", "config", d.opts.ConfigFile, "instances", len(d.byName), "pin_dir", d.opts.PinDir)
	return nil
}

// abortStart undoes a start that failed: the instances that started send
// priority 0 and drop their VIPs (RFC 5798 §6.4.3, as Stop), then
// everything acquired is released.
func (d *Daemon) abortStart() {
	if d.vipq != nil {
		d.Stop()
		return
	}
	d.teardown()
}

// raiseFileLimit raises RLIMIT_NOFILE's soft limit to the hard one (the Go
// runtime does the same at start; this says so when it cannot), so that the
// listeners' caps (metrics.MaxConns) leave most descriptors to the
// daemon's own work: trackers, notify scripts, netlink, the control socket.
func raiseFileLimit(log *slog.Logger) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			log.Warn("raise the open-files limit", "err", err)
		}
	}
}

// Stop is the SIGTERM path: every instance sends priority 0 and drops its
// VIPs (RFC 5798 §6.4.3 "Shutdown"), XDP is detached and the pins removed.
func (d *Daemon) Stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	now := time.Now()
	for _, in := range d.insts {
		if in != nil {
			d.shutdownInstance(in, now)
		}
	}
	d.mu.Unlock()
	d.teardown()
}

// teardown releases everything Start acquired, in reverse order.
func (d *Daemon) teardown() {
	// Nothing handles events once teardown starts: the ring the timer path
	// peeks at (fire) is closed below.
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	d.cancel()
	if d.trackers != nil {
		d.trackers.stop()
	}
	if d.ctl != nil {
		d.ctl.close()
	}
	if d.httpSrv != nil {
		_ = d.httpSrv.Close()
	}
	d.mu.Lock()
	for _, ifc := range d.ifaces {
		ifc.close()
	}
	d.mu.Unlock()
	if d.dp != nil {
		if err := d.dp.Close(); err != nil {
			d.log.Warn("closing the dataplane", "err", err)
		}
	}
	d.wg.Wait()
	d.stopRoutes()
	// The VIPs the shutdown removed leave the host before xvrrpd exits.
	if d.vipq != nil {
		d.vipq.close()
	}
	if d.vips != nil {
		_ = d.vips.Close()
	}
	// Only what this run wrote: a second daemon refused at start must not
	// remove the running one's files.
	if d.pidWritten {
		_ = os.Remove(d.opts.PIDFile)
	}
	if d.readyWritten {
		_ = os.Remove(d.opts.ReadyFile)
	}
	d.pinLock.Release(true)
}

func (d *Daemon) healthy() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return errors.New("stopping")
	}
	if !d.running {
		return errors.New("starting")
	}
	for name, ifc := range d.ifaces {
		if !ifc.present {
			return fmt.Errorf("interface %s does not exist (deleted or renamed); its instances are in FAULT", name)
		}
		if !ifc.attached() {
			return fmt.Errorf("XDP not attached to %s", name)
		}
	}
	return nil
}

// reloadParseTimeout bounds how long a reload may spend reading the
// configuration; past it the reload fails and the running configuration
// stays.
const reloadParseTimeout = 30 * time.Second

// Reload reads the configuration file again. A bad file changes nothing:
// the old configuration keeps running and the errors are returned. The
// file is parsed on its own goroutine, without d.mu: the instances keep
// running meanwhile, and a Stop (SIGTERM) abandons the reload at once.
// Reloads run one at a time.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	running := d.running && !d.stopped
	d.mu.Unlock()
	if !running {
		return errors.New("reload refused: xvrrpd is starting or stopping")
	}
	type parsed struct {
		cfg   *config.Config
		warns []config.Warning
		err   error
	}
	done := make(chan parsed, 1)
	d.log.Info("reload: reading the configuration", "config", d.opts.ConfigFile)
	go func() {
		cfg, warns, err := config.Load(d.opts.ConfigFile, config.Options{Strict: d.opts.Strict, ConfigID: d.opts.ConfigID})
		done <- parsed{cfg, warns, err}
	}()
	deadline := time.NewTimer(reloadParseTimeout)
	defer deadline.Stop()
	var p parsed
	select {
	case p = <-done:
	case <-d.ctx.Done():
		d.log.Info("reload abandoned: xvrrpd is stopping")
		return errors.New("reload abandoned: xvrrpd is stopping")
	case <-deadline.C:
		p.err = fmt.Errorf("%s: reading it took longer than %v", d.opts.ConfigFile, reloadParseTimeout)
	}
	cfg, warns, err := p.cfg, p.warns, p.err
	for _, w := range warns {
		d.log.Warn(w.String())
	}
	if err == nil {
		err = d.checkInterfaces(cfg)
	}
	if err == nil && d.ctx.Err() != nil {
		err = errors.New("reload abandoned: xvrrpd is stopping")
	}
	if err == nil {
		// The new trackers start before the instances switch; on error the
		// old ones keep running.
		err = d.trackers.start(cfg)
	}
	d.mu.Lock()
	d.reload.Last = time.Now()
	if err == nil && d.stopped {
		d.mu.Unlock()
		return errors.New("reload abandoned: xvrrpd is stopping")
	}
	if err == nil {
		if err = d.apply(cfg, d.cfg); err != nil {
			d.mu.Unlock()
			if terr := d.trackers.start(d.cfg); terr != nil {
				d.log.Error("restarting the previous trackers", "err", terr)
			}
			d.mu.Lock()
		}
	}
	if err != nil {
		d.reload.Failures++
		d.reload.LastError = err.Error()
		d.mu.Unlock()
		d.log.Error("reload failed; the previous configuration keeps running", "err", err)
		return err
	}
	d.reloadStatic(cfg)
	d.reloadProcSched(d.cfg, cfg)
	d.cfg = cfg
	d.warns = d.warns[:0]
	for _, w := range warns {
		d.warns = append(d.warns, w.String())
	}
	d.reload.Successes++
	d.reload.LastError = ""
	d.mu.Unlock()
	d.log.Info("configuration reloaded", "instances", len(cfg.Instances))
	return nil
}

// reloadProcSched applies the process-scheduling keywords a reload
// changed, as keepalived's start_vrrp does on reload (procsched.Reload).
// keepalived logs a failure and runs on; so does xvrrpd.
func (d *Daemon) reloadProcSched(old, next *config.Config) {
	po, pn := procConfig(old), procConfig(next)
	tid := int(d.rtTID.Load())
	prio, err := procsched.Reload(po, pn, tid, int(d.rtPrio.Load()))
	d.rtPrio.Store(int32(prio))
	if err != nil {
		d.log.Warn("process scheduling keywords not applied on reload", "err", err)
	}
	if tid == 0 && pn.RTPriority > 0 {
		d.log.Warn("vrrp_rt_priority given by a reload takes effect at the next start: the scheduler started without a real-time thread", "vrrp_rt_priority", pn.RTPriority)
	}
}

// procConfig maps keepalived's process-scheduling keywords onto procsched.
func procConfig(cfg *config.Config) procsched.Config {
	g := cfg.Global
	return procsched.Config{Nice: g.VRRPNice, NiceSet: g.VRRPNiceSet, RTPriority: g.VRRPRTPriority,
		RLimitRTTimeMicros: uint64(g.VRRPRLimitRTTime), CPUs: g.VRRPCPUAffinity}
}
