// Package track implements keepalived's trackers (vrrp_script, track_file,
// vrrp_track_process, track_interface) and notify scripts for xvrrp.
//
// Trackers report raw status changes as Update values through one callback;
// Contribute maps an Update plus an instance's (weight, reverse) to that
// instance's contribution, because keepalived lets every instance override a
// tracker's weight (keepalived vrrp_track.c alloc_track_script/alloc_track_file).
// The daemon sums contributions per instance and feeds the state machine.
package track

import "fmt"

// Kind says which tracker an Update comes from.
type Kind uint8

// The tracker kinds.
const (
	KindScript Kind = iota + 1
	KindFile
	KindProcess
	KindInterface
)

func (k Kind) String() string {
	switch k {
	case KindScript:
		return "track_script"
	case KindFile:
		return "track_file"
	case KindProcess:
		return "track_process"
	case KindInterface:
		return "track_interface"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Update is one tracker's status after a change. Trackers send an Update
// only when what Contribute depends on changes (OK, Init, Value, Insecure).
type Update struct {
	Kind Kind
	// Name is the vrrp_script / track_file / vrrp_track_process name, or the
	// interface name for track_interface.
	Name string
	// OK: script result >= rise; process count within [quorum, quorum_max];
	// interface up and running. Unused for files.
	OK bool
	// Init: a script that has not finished its first run (and has no
	// init_fail). keepalived holds weight-0 trackers' instances in INIT then.
	Init bool
	// Value: a track_file's number, clamped to -254..254; a process
	// tracker's current count.
	Value int
	// Insecure is the script security finding (empty when secure); it is
	// also in Status for xvrrpd -t, the status socket and metrics.
	Insecure string
	// Reason is a human explanation of the status ("exit status 1",
	// "cannot start: permission denied", "file missing: treated as 0").
	Reason string
}

// Weight is an instance's view of one tracker: the weight and reverse from
// the instance's track_* line, or the tracker's own when the line has none.
type Weight struct {
	Weight  int
	Reverse bool
}

// Contribution is what one tracker does to one instance.
type Contribution struct {
	Delta   int  // added to the instance's priority (the engine clamps the sum)
	Fault   bool // the instance must be in FAULT
	Pending bool // keepalived keeps the instance in INIT until the first result
	Reason  string
}

// PriorityCap and FaultValue are keepalived's track_file bounds
// (vrrp_track.c update_track_file_status): a weighted value is capped at 253
// and anything at or below -254 means FAULT.
const (
	PriorityCap = 253
	FaultValue  = -254
)

// Contribute maps a tracker's status and an instance's weight to the
// instance's contribution.
func Contribute(u Update, w Weight) Contribution {
	if u.Kind == KindFile {
		return contributeFile(u, w)
	}
	return contributeBool(u, w)
}

// contributeBool is keepalived's rule for scripts, processes and interfaces
// (vrrp_track.c process_script_update_priority, initialise_track_script_state,
// initialise_process_tracking_priorities, initialise_interface_tracking_priorities):
//   - weight 0: FAULT when the status is not OK; with reverse, when it is OK;
//   - weight > 0: weight × multiplier is added while OK;
//   - weight < 0: weight × multiplier is added while not OK;
//
// where the multiplier is -1 with reverse and 1 without.
func contributeBool(u Update, w Weight) Contribution {
	what := fmt.Sprintf("%s %s", u.Kind, u.Name)
	if u.Insecure != "" {
		what += " (" + u.Insecure + ")"
	}
	if u.Init {
		if w.Weight == 0 {
			return Contribution{Pending: true, Reason: what + ": waiting for the first result"}
		}
		// A weighted script in INIT changes nothing until its first result.
		return Contribution{}
	}
	mult := 1
	if w.Reverse {
		mult = -1
	}
	if w.Weight == 0 {
		if u.OK != (mult == 1) {
			state := "failed"
			if u.OK {
				state = "OK (reverse)"
			}
			return Contribution{Fault: true, Reason: what + ": " + state + reasonSuffix(u)}
		}
		return Contribution{}
	}
	if (u.OK && w.Weight > 0) || (!u.OK && w.Weight < 0) {
		return Contribution{Delta: w.Weight * mult, Reason: fmt.Sprintf("%s: %s, priority %+d%s", what, okWord(u.OK), w.Weight*mult, reasonSuffix(u))}
	}
	return Contribution{}
}

// contributeFile is keepalived's track_file rule (vrrp_track.c
// update_track_file_status): weight 0: any non-zero value is FAULT;
// otherwise value × weight (× -1 with reverse), ≤ -254 is FAULT, and the
// delta is capped at 253.
func contributeFile(u Update, w Weight) Contribution {
	what := fmt.Sprintf("track_file %s", u.Name)
	if w.Weight == 0 {
		if u.Value != 0 {
			return Contribution{Fault: true, Reason: fmt.Sprintf("%s: value %d with weight 0%s", what, u.Value, reasonSuffix(u))}
		}
		return Contribution{}
	}
	v := u.Value * w.Weight
	if w.Reverse {
		v = -v
	}
	if v <= FaultValue {
		return Contribution{Fault: true, Reason: fmt.Sprintf("%s: value %d × weight %d ≤ %d%s", what, u.Value, w.Weight, FaultValue, reasonSuffix(u))}
	}
	if v > PriorityCap {
		v = PriorityCap
	}
	if v == 0 {
		return Contribution{}
	}
	return Contribution{Delta: v, Reason: fmt.Sprintf("%s: value %d, priority %+d%s", what, u.Value, v, reasonSuffix(u))}
}

func okWord(ok bool) string {
	if ok {
		return "OK"
	}
	return "failed"
}

func reasonSuffix(u Update) string {
	if u.Reason == "" {
		return ""
	}
	return " (" + u.Reason + ")"
}

// Sum adds an instance's contributions: the delta to add to its base
// priority (the engine clamps the result to 1..254), whether it must be in
// FAULT or held in INIT, and the reasons of every non-zero contribution.
func Sum(cs []Contribution) (delta int, fault, pending bool, reasons []string) {
	for _, c := range cs {
		delta += c.Delta
		fault = fault || c.Fault
		pending = pending || c.Pending
		if c.Reason != "" {
			reasons = append(reasons, c.Reason)
		}
	}
	return delta, fault, pending, reasons
}
