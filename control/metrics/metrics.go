// Package metrics exports xvrrpd's state to Prometheus. Everything is
// collected at scrape time from the status document the daemon already keeps
// and from the XDP counters it reads then: no Prometheus counter is touched
// per packet or per advert. The only instrument updated as things happen is
// the tracker run-duration histogram, once per script run.
//
// Labels: vrrp_instance (not "instance", which Prometheus reserves for the
// scrape target), interface, vrid, family.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/xvrrp/xvrrp/control/status"
)

// States in keepalived_exporter's numbering, for xvrrp_instance_state_code.
var stateCodes = map[string]float64{"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 4}

// stateNames fixes the order of the one-gauge-per-state series.
var stateNames = []string{"INIT", "BACKUP", "MASTER", "FAULT", "STOP"}

var instLabels = []string{"vrrp_instance", "interface", "vrid", "family"}

func desc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string{}, instLabels...), extra...), nil)
}

var (
	dState          = desc("xvrrp_instance_state", "1 for the state the instance is in, 0 for the others.", "state")
	dStateCode      = desc("xvrrp_instance_state_code", "Instance state as a number: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP.")
	dBasePrio       = desc("xvrrp_instance_base_priority", "Configured priority.")
	dEffPrio        = desc("xvrrp_instance_effective_priority", "Priority advertised now: base plus tracker deltas, clamped.")
	dTransitions    = desc("xvrrp_instance_transitions_total", "State transitions by from, to and cause.", "from", "to", "cause")
	dSent           = desc("xvrrp_instance_adverts_sent_total", "Adverts sent.")
	dReceived       = desc("xvrrp_instance_adverts_received_total", "Adverts received and accepted by the engine.")
	dMaster         = desc("xvrrp_instance_master_info", "The master this host believes in: 'self' or the source address of its adverts.", "master")
	dDownInterval   = desc("xvrrp_instance_master_down_interval_seconds", "Master_Down_Interval now in force (RFC 5798 §6.1).")
	dSinceAdvert    = desc("xvrrp_instance_seconds_since_last_advert", "Seconds since the last advert accepted from the master (absent before the first).")
	dErrors         = desc("xvrrp_instance_errors_total", "Adverts rejected by the engine, by kind.", "kind")
	dSplitBrain     = desc("xvrrp_instance_split_brain_total", "Lower-priority adverts heard while MASTER: another router was master at the same time (keepalived MASTER_RX_LOWER_PRI).")
	dReannounce     = desc("xvrrp_instance_garp_lower_prio_total", "GARP/NA re-announcements started by a lower-priority advert (garp_lower_prio_repeat).")
	dVIP            = desc("xvrrp_instance_vip_present", "1 when this host holds the VIP now.", "vip")
	dFault          = desc("xvrrp_instance_fault_reasons", "Number of reasons holding the instance in FAULT.")
	dXDPPackets     = prometheus.NewDesc("xvrrp_xdp_packets_total", "Frames seen by the XDP program, by outcome (summed over CPUs).", []string{"interface", "reason"}, nil)
	dXDPAttached    = prometheus.NewDesc("xvrrp_xdp_attached", "1 when the receive program is attached to the interface, in the given mode (native, generic, tcx).", []string{"interface", "mode"}, nil)
	dAttachInfo     = prometheus.NewDesc("xvrrp_interface_attach_info", "1 for the hook and mode the receive program runs in on the interface: native or generic (XDP), tcx (TCX ingress).", []string{"interface", "mode"}, nil)
	dRingLost       = prometheus.NewDesc("xvrrp_xdp_ring_lost_total", "Accepted adverts lost because the ring buffer was full.", nil, nil)
	dTrackerUp      = prometheus.NewDesc("xvrrp_tracker_up", "1 while the tracker reports OK.", []string{"tracker", "kind"}, nil)
	dTrackerInsec   = prometheus.NewDesc("xvrrp_tracker_insecure", "1 while the script fails the script-security check.", []string{"tracker"}, nil)
	dTrackerFail    = prometheus.NewDesc("xvrrp_tracker_failures_total", "Failed tracker runs by reason (timeout, exit_code, exec_error, insecure).", []string{"tracker", "kind", "reason"}, nil)
	dTrackerDelta   = desc("xvrrp_tracker_priority_delta", "What the tracker adds to the instance's priority now.", "tracker", "kind")
	dTrackerFault   = desc("xvrrp_tracker_fault", "1 when the tracker holds the instance in FAULT.", "tracker", "kind")
	dReloads        = prometheus.NewDesc("xvrrp_config_reloads_total", "Configuration reloads by result.", []string{"result"}, nil)
	dLastReload     = prometheus.NewDesc("xvrrp_config_last_reload_timestamp_seconds", "Unix time of the last reload attempt.", nil, nil)
	dLastReloadOK   = prometheus.NewDesc("xvrrp_config_last_reload_success", "1 when the last reload succeeded (or none was tried).", nil, nil)
	dLateTimers     = prometheus.NewDesc("xvrrp_timers_late_total", "Timer batches that fired at least one (shortest) advert interval late: xvrrpd did not get the CPU in time.", nil, nil)
	dMaxLateness    = prometheus.NewDesc("xvrrp_timers_max_lateness_seconds", "The latest any timer batch fired since start.", nil, nil)
	dSyncGroupState = prometheus.NewDesc("xvrrp_sync_group_state", "1 for the state the sync group is in.", []string{"sync_group", "state"}, nil)
)

// Collector turns a status snapshot into metrics at scrape time.
type Collector struct {
	snapshot func() *status.Document
	now      func() time.Time
}

// NewCollector returns a collector that calls snapshot once per scrape.
func NewCollector(snapshot func() *status.Document) *Collector {
	return &Collector{snapshot: snapshot, now: time.Now}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dState, dStateCode, dBasePrio, dEffPrio, dTransitions, dSent, dReceived,
		dMaster, dDownInterval, dSinceAdvert, dErrors, dSplitBrain, dReannounce, dVIP, dFault, dXDPPackets, dXDPAttached, dAttachInfo, dRingLost,
		dTrackerUp, dTrackerInsec, dTrackerFail, dTrackerDelta, dTrackerFault, dReloads, dLastReload,
		dLastReloadOK, dSyncGroupState, dLateTimers, dMaxLateness} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	doc := c.snapshot()
	if doc == nil {
		return
	}
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	type trackerKey struct{ name, kind string }
	seenTracker := map[trackerKey]bool{}
	for i := range doc.Instances {
		in := &doc.Instances[i]
		l := []string{in.Name, in.Interface, strconv.Itoa(in.VRID), in.Family}
		with := func(extra ...string) []string { return append(append([]string{}, l...), extra...) }
		for _, s := range stateNames {
			gauge(dState, b2f(in.State == s), with(s)...)
		}
		if code, ok := stateCodes[in.State]; ok {
			gauge(dStateCode, code, l...)
		}
		gauge(dBasePrio, float64(in.BasePriority), l...)
		gauge(dEffPrio, float64(in.EffectivePriority), l...)
		for _, tc := range in.TransitionCounts {
			counter(dTransitions, float64(tc.Count), with(tc.From, tc.To, tc.Cause)...)
		}
		counter(dSent, float64(in.AdvertsSent), l...)
		counter(dReceived, float64(in.AdvertsReceived), l...)
		counter(dSplitBrain, float64(in.SplitBrains), l...)
		counter(dReannounce, float64(in.LowerPrioReannouncements), l...)
		if in.Master != "" {
			gauge(dMaster, 1, with(in.Master)...)
		}
		gauge(dDownInterval, time.Duration(in.MasterDownInterval).Seconds(), l...)
		if !in.LastAdvert.IsZero() {
			gauge(dSinceAdvert, now.Sub(in.LastAdvert).Seconds(), l...)
		}
		for kind, n := range in.Errors {
			counter(dErrors, float64(n), with(kind)...)
		}
		for _, v := range in.VIPs {
			gauge(dVIP, b2f(v.Present), with(v.Address)...)
		}
		gauge(dFault, float64(len(in.FaultReasons)), l...)
		for _, t := range in.Trackers {
			gauge(dTrackerDelta, float64(t.Delta), with(t.Name, t.Kind)...)
			gauge(dTrackerFault, b2f(t.Fault), with(t.Name, t.Kind)...)
			k := trackerKey{t.Name, t.Kind}
			if seenTracker[k] {
				continue
			}
			seenTracker[k] = true
			gauge(dTrackerUp, b2f(t.Status == "ok"), t.Name, t.Kind)
			if t.Kind == "script" {
				gauge(dTrackerInsec, b2f(t.Insecure), t.Name)
			}
			for reason, n := range t.Failures {
				counter(dTrackerFail, float64(n), t.Name, t.Kind, reason)
			}
		}
	}
	for _, g := range doc.SyncGroups {
		for _, s := range stateNames {
			gauge(dSyncGroupState, b2f(g.State == s), g.Name, s)
		}
	}
	for _, ifc := range doc.Interfaces {
		if ifc.Attach != "" {
			gauge(dAttachInfo, 1, ifc.Name, ifc.Attach)
		}
		if ifc.XDPMode != "" {
			gauge(dXDPAttached, 1, ifc.Name, ifc.XDPMode)
		} else {
			gauge(dXDPAttached, 0, ifc.Name, "none")
		}
		for reason, n := range ifc.Counters {
			counter(dXDPPackets, float64(n), ifc.Name, reason)
		}
	}
	counter(dRingLost, float64(doc.Dataplane.RingLost))
	counter(dLateTimers, float64(doc.Timers.LateBatches))
	gauge(dMaxLateness, time.Duration(doc.Timers.MaxLateness).Seconds())
	counter(dReloads, float64(doc.Reload.Successes), "success")
	counter(dReloads, float64(doc.Reload.Failures), "failure")
	if !doc.Reload.Last.IsZero() {
		gauge(dLastReload, float64(doc.Reload.Last.UnixNano())/1e9)
	}
	gauge(dLastReloadOK, b2f(doc.Reload.LastError == ""))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Registry holds the collector, the process and Go collectors, build info
// and the tracker run-duration histogram.
type Registry struct {
	*prometheus.Registry
	trackerRuns *prometheus.HistogramVec
}

// NewRegistry builds the registry xvrrpd serves on /metrics.
func NewRegistry(version string, snapshot func() *status.Document) *Registry {
	reg := prometheus.NewRegistry()
	r := &Registry{Registry: reg, trackerRuns: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "xvrrp_tracker_run_duration_seconds",
		Help:    "How long each tracker script run took.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"tracker"})}
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "xvrrp_build_info", Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, goVersion).Set(1)
	reg.MustRegister(NewCollector(snapshot), r.trackerRuns, buildInfo,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return r
}

// ObserveTrackerRun records one script run's duration.
func (r *Registry) ObserveTrackerRun(tracker string, d time.Duration) {
	r.trackerRuns.WithLabelValues(tracker).Observe(d.Seconds())
}

// Server serves /metrics and /healthz.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// The listener's bounds. Any local user can connect to the metrics port;
// without them, idle keep-alive connections took every descriptor of the
// daemon (its trackers could no longer start and the master failed over).
// A scraper needs one or two connections; those past MaxConns wait in the
// kernel's accept queue, holding none of the daemon's descriptors, and a
// connection that sends no request, or stays idle, is closed.
const (
	MaxConns          = 64
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 30 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Listen starts serving on addr ("127.0.0.1:9650"). healthy reports whether
// the daemon is running its instances (for /healthz). http.Server backs off
// on accept errors (EMFILE, ENFILE) instead of spinning.
func Listen(addr string, reg *Registry, healthy func() error) (*Server, error) {
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w (pass --metrics-address, or \"\" to disable)", addr, err)
	}
	ln := netutil.LimitListener(tl, MaxConns)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: maxHeaderBytes}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is gone; Close reports nothing more useful
		}
	}()
	return s, nil
}

// Addr is the address actually listened on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
