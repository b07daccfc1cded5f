package track

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ParamMatch is vrrp_track_process param_match.
type ParamMatch uint8

// The param_match modes (keepalived.conf(5) "VRRP track processes").
const (
	// ParamExact (no param_match): configured parameters must equal the
	// process's; with none configured any parameters match.
	ParamExact ParamMatch = iota
	// ParamInitial: the configured parameters are the first ones.
	ParamInitial
	// ParamPartial: the configured parameters appear, in order and
	// contiguous, anywhere in the process's.
	ParamPartial
)

// ProcessConfig is one vrrp_track_process block.
type ProcessConfig struct {
	Name    string
	Process string   // the name (comm) or, with FullCommand, argv[0]
	Params  []string // parameters after the process name
	Match   ParamMatch
	// FullCommand compares Process with argv[0] (the full path as started)
	// instead of the 15-byte kernel process name.
	FullCommand bool
	Quorum      int // default 1
	QuorumMax   int // <= 0: no maximum
	// ForkDelay delays reporting a gained quorum; TerminateDelay a lost one
	// (`delay` sets both).
	ForkDelay      time.Duration
	TerminateDelay time.Duration
}

// commLen is TASK_COMM_LEN-1: the kernel keeps 15 bytes of a process name,
// so a longer configured name is compared on its first 15 bytes, as
// keepalived does (track_process.c).
const commLen = 15

// ProcInfo is what the tracker needs to know of a process.
type ProcInfo struct {
	PID  int
	Comm string
	Argv []string
}

// Matches applies process, param_match and full_command to p.
func (c *ProcessConfig) Matches(p ProcInfo) bool {
	if c.FullCommand {
		if len(p.Argv) == 0 || p.Argv[0] != c.Process {
			return false
		}
	} else {
		want := c.Process
		if len(want) > commLen {
			want = want[:commLen]
		}
		if p.Comm != want {
			return false
		}
	}
	var have []string
	if len(p.Argv) > 1 {
		have = p.Argv[1:]
	}
	switch c.Match {
	case ParamInitial:
		return len(have) >= len(c.Params) && equalWords(have[:len(c.Params)], c.Params)
	case ParamPartial:
		for i := 0; i+len(c.Params) <= len(have); i++ {
			if equalWords(have[i:i+len(c.Params)], c.Params) {
				return true
			}
		}
		return len(c.Params) == 0
	}
	return len(c.Params) == 0 || equalWords(have, c.Params)
}

func equalWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ReadProc reads a process's name and command line under root (/proc).
func ReadProc(root string, pid int) (ProcInfo, error) {
	dir := filepath.Join(root, strconv.Itoa(pid))
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return ProcInfo{}, err
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return ProcInfo{}, err
	}
	p := ProcInfo{PID: pid, Comm: strings.TrimSuffix(string(comm), "\n")}
	if len(cmdline) > 0 {
		for _, w := range bytes.Split(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0}) {
			p.Argv = append(p.Argv, string(w))
		}
	}
	return p, nil
}

// ScanProc lists every process under root. Processes that exit during the
// scan are skipped.
func ScanProc(root string) ([]ProcInfo, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("track_process: scan %s: %w (is procfs mounted?)", root, err)
	}
	out := make([]ProcInfo, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		if p, err := ReadProc(root, pid); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// ProcessTracker counts the processes matching each vrrp_track_process and
// reports quorum changes after fork_delay / terminate_delay. It is fed by
// an event source (ProcessEvents) and by full scans (Resync).
type ProcessTracker struct {
	cfgs  []ProcessConfig
	clock Clock
	log   *slog.Logger
	emit  func(Update)
	// watch is told when a pid becomes counted (true) or not (false), so the
	// event source can limit fork/exit events to those pids.
	watch func(pid int, on bool)

	mu       sync.Mutex
	source   string // how processes are followed, for the status detail (SetSource)
	sets     []map[int]struct{}
	reported []bool
	known    []bool
	pending  []Timer
	pendWant []bool
	counted  map[int]int // pid → number of trackers counting it
}

// NewProcessTracker prepares the trackers; call Resync with a full scan
// before following events.
func NewProcessTracker(cfgs []ProcessConfig, clock Clock, log *slog.Logger, emit func(Update)) *ProcessTracker {
	if clock == nil {
		clock = RealClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	t := &ProcessTracker{cfgs: append([]ProcessConfig(nil), cfgs...), clock: clock, log: log, emit: emit, counted: map[int]int{}}
	n := len(cfgs)
	t.sets = make([]map[int]struct{}, n)
	t.reported = make([]bool, n)
	t.known = make([]bool, n)
	t.pending = make([]Timer, n)
	t.pendWant = make([]bool, n)
	for i := range t.cfgs {
		if t.cfgs[i].Quorum < 1 {
			t.cfgs[i].Quorum = 1
		}
		t.sets[i] = map[int]struct{}{}
	}
	return t
}

// SetWatch installs the counted-pid callback (the BPF source's map).
func (t *ProcessTracker) SetWatch(f func(pid int, on bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watch = f
}

// SetSource records how the event source follows processes ("via BPF
// tracepoints", "via proc connector", "polling /proc every 1s"); it is
// appended to every Update's Reason, so the daemon's status shows it.
func (t *ProcessTracker) SetSource(desc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.source = desc
}

// Counts returns each tracker's current count, by name.
func (t *ProcessTracker) Counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.cfgs))
	for i, c := range t.cfgs {
		out[c.Name] = len(t.sets[i])
	}
	return out
}

// Current returns the reported status of every tracker.
func (t *ProcessTracker) Current() []Update {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Update, 0, len(t.cfgs))
	for i := range t.cfgs {
		out = append(out, t.update(i, ""))
	}
	return out
}

// CountedPIDs returns every pid some tracker counts.
func (t *ProcessTracker) CountedPIDs() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]int, 0, len(t.counted))
	for pid := range t.counted {
		out = append(out, pid)
	}
	return out
}

func (t *ProcessTracker) isCounted(pid int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counted[pid] > 0
}

// Resync replaces every count with a full scan's. Quorum changes found by
// the first scan are reported at once; later ones follow the delays.
func (t *ProcessTracker) Resync(procs []ProcInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := make(map[int]ProcInfo, len(procs))
	for _, p := range procs {
		live[p.PID] = p
	}
	for i := range t.cfgs {
		for pid := range t.sets[i] {
			if p, ok := live[pid]; !ok || !t.cfgs[i].Matches(p) {
				t.remove(i, pid)
			}
		}
		for _, p := range procs {
			if t.cfgs[i].Matches(p) {
				t.add(i, p.PID)
			}
		}
		t.evaluate(i, "full /proc scan")
	}
}

// Exec: pid has run a new program.
func (t *ProcessTracker) Exec(p ProcInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.cfgs {
		_, had := t.sets[i][p.PID]
		m := t.cfgs[i].Matches(p)
		switch {
		case m && !had:
			t.add(i, p.PID)
			t.evaluate(i, fmt.Sprintf("pid %d started", p.PID))
		case !m && had:
			t.remove(i, p.PID)
			t.evaluate(i, fmt.Sprintf("pid %d ran another program", p.PID))
		}
	}
}

// Fork: a counted parent's child is a copy of it and counts too
// (keepalived track_process.c handles PROC_EVENT_FORK the same way).
func (t *ProcessTracker) Fork(parent, child int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.cfgs {
		if _, ok := t.sets[i][parent]; !ok {
			continue
		}
		if _, ok := t.sets[i][child]; ok {
			continue
		}
		t.add(i, child)
		t.evaluate(i, fmt.Sprintf("pid %d forked %d", parent, child))
	}
}

// Exit: pid has ended.
func (t *ProcessTracker) Exit(pid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.cfgs {
		if _, ok := t.sets[i][pid]; ok {
			t.remove(i, pid)
			t.evaluate(i, fmt.Sprintf("pid %d exited", pid))
		}
	}
}

func (t *ProcessTracker) add(i, pid int) {
	t.sets[i][pid] = struct{}{}
	t.counted[pid]++
	if t.counted[pid] == 1 && t.watch != nil {
		t.watch(pid, true)
	}
}

func (t *ProcessTracker) remove(i, pid int) {
	delete(t.sets[i], pid)
	t.counted[pid]--
	if t.counted[pid] <= 0 {
		delete(t.counted, pid)
		if t.watch != nil {
			t.watch(pid, false)
		}
	}
}

// quorum is keepalived's have_quorum (vrrp_track.c
// initialise_process_tracking_priorities): quorum <= count <= quorum_max.
func (t *ProcessTracker) quorum(i int) bool {
	n, c := len(t.sets[i]), &t.cfgs[i]
	return n >= c.Quorum && (c.QuorumMax <= 0 || n <= c.QuorumMax)
}

func (t *ProcessTracker) evaluate(i int, why string) {
	want := t.quorum(i)
	if !t.known[i] {
		t.publish(i, want, why)
		return
	}
	if want == t.reported[i] {
		if t.pending[i] != nil {
			// The change reverted inside its delay: nothing to report.
			t.pending[i].Stop()
			t.pending[i] = nil
		}
		return
	}
	delay := t.cfgs[i].TerminateDelay
	if want {
		delay = t.cfgs[i].ForkDelay
	}
	if delay <= 0 {
		t.publish(i, want, why)
		return
	}
	if t.pending[i] != nil && t.pendWant[i] == want {
		return
	}
	if t.pending[i] != nil {
		t.pending[i].Stop()
	}
	t.pendWant[i] = want
	t.pending[i] = t.clock.AfterFunc(delay, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.pending[i] = nil
		if t.quorum(i) == want && t.reported[i] != want {
			t.publish(i, want, fmt.Sprintf("%s, held for %s", why, delay))
		}
	})
}

func (t *ProcessTracker) publish(i int, ok bool, why string) {
	if t.pending[i] != nil {
		t.pending[i].Stop()
		t.pending[i] = nil
	}
	t.known[i], t.reported[i] = true, ok
	u := t.update(i, why)
	t.log.Info("track_process quorum", "track_process", t.cfgs[i].Name, "count", u.Value, "quorum", ok, "reason", why)
	if t.emit != nil {
		t.emit(u)
	}
}

func (t *ProcessTracker) update(i int, why string) Update {
	c := &t.cfgs[i]
	max := "∞"
	if c.QuorumMax > 0 {
		max = strconv.Itoa(c.QuorumMax)
	}
	r := fmt.Sprintf("%d running, quorum %d..%s", len(t.sets[i]), c.Quorum, max)
	if t.source != "" {
		r += " (" + t.source + ")"
	}
	if why != "" {
		r += ": " + why
	}
	return Update{Kind: KindProcess, Name: c.Name, OK: t.reported[i], Value: len(t.sets[i]), Reason: r}
}
