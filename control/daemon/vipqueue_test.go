package daemon

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/vip"
)

// fakeHost records the changes it is asked for; while gate is not nil each
// change waits for it (netlink stuck behind rtnl_lock).
type fakeHost struct {
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{} // one token per change that waits at gate
	present map[netip.Prefix]bool
	calls   []string
	failOn  netip.Prefix
	applies []int // the length of each Apply's batch
}

func (h *fakeHost) change(v vip.VIP, add bool) error {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		h.entered <- struct{}{}
		<-gate
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.present == nil {
		h.present = map[netip.Prefix]bool{}
	}
	verb := "remove "
	if add {
		verb = "add "
	}
	h.calls = append(h.calls, verb+v.Prefix.String())
	if v.Prefix == h.failOn {
		return errors.New("no such device")
	}
	h.present[v.Prefix] = add
	return nil
}

func (h *fakeHost) Apply(ops []vip.Op) []error {
	h.mu.Lock()
	h.applies = append(h.applies, len(ops))
	h.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = h.change(op.VIP, op.Add)
	}
	return errs
}

func (h *fakeHost) snapshot() (map[netip.Prefix]bool, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[netip.Prefix]bool{}
	for k, v := range h.present {
		m[k] = v
	}
	return m, slices.Clone(h.calls)
}

func testVIP(s string) vip.VIP {
	return vip.VIP{Prefix: netip.MustParsePrefix(s), Dev: "eth0"}
}

// TestVIPQueueNeverBlocksTheEngine: while the host's netlink calls hang,
// queuing a thousand changes returns at once (the engine keeps handling
// adverts under its lock); once the host answers, it ends in the state the
// changes describe, in order, a VIP's superseded changes skipped.
func TestVIPQueueNeverBlocksTheEngine(t *testing.T) {
	gate := make(chan struct{})
	h := &fakeHost{gate: gate, entered: make(chan struct{}, 1)}
	q := newVIPQueue(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer q.close()

	a, b := testVIP("198.18.2.1/32"), testVIP("198.18.2.2/32")
	start := time.Now()
	q.add("VI_1", a)
	<-h.entered     // the goroutine hangs in the host with it
	for range 500 { // a flapping instance: add, remove, add, ...
		q.remove("VI_1", a)
		q.add("VI_1", a)
	}
	q.add("VI_2", b)
	q.remove("VI_2", b)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("queuing 1,003 changes while the host hangs took %v: the queue blocks its caller", took)
	}

	added := q.barrier()
	select {
	case <-added:
		t.Fatal("barrier closed before the queued changes were on the host")
	case <-time.After(20 * time.Millisecond):
	}
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()
	close(gate)
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		t.Fatal("barrier not closed 5 s after the host answered")
	}
	q.flush()
	present, calls := h.snapshot()
	if !present[a.Prefix] || present[b.Prefix] {
		t.Errorf("host ends with %v present, want %v present and %v absent", present, a.Prefix, b.Prefix)
	}
	// The first add was in flight; of the rest, only each VIP's last
	// change is applied.
	want := []string{"add 198.18.2.1/32", "add 198.18.2.1/32", "remove 198.18.2.2/32"}
	if !slices.Equal(calls, want) {
		t.Errorf("host calls %q, want %q", calls, want)
	}
}

// TestVIPQueueCloseAppliesWhatIsQueued: SIGTERM's removals reach the host
// before xvrrpd exits; a failing change is logged and does not stop the
// others; nothing is applied after close.
func TestVIPQueueCloseAppliesWhatIsQueued(t *testing.T) {
	bad := testVIP("198.18.2.9/32")
	h := &fakeHost{failOn: bad.Prefix}
	q := newVIPQueue(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a, b := testVIP("198.18.2.1/32"), testVIP("198.18.2.2/32")
	q.add("VI_1", a)
	q.add("VI_1", bad)
	q.add("VI_2", b)
	q.flush()
	q.remove("VI_1", a)
	q.remove("VI_1", bad)
	q.remove("VI_2", b)
	q.close()
	q.add("VI_1", a) // after close: dropped
	present, calls := h.snapshot()
	if present[a.Prefix] || present[b.Prefix] {
		t.Errorf("after close the host still has %v", present)
	}
	if len(calls) != 6 {
		t.Errorf("host calls %q, want the 6 changes queued before close", calls)
	}
	q.flush() // returns at once once closed
}

// TestVIPQueueAppliesWhatQueuedInOneBatch: the changes queued while the
// host is busy reach it in one Apply (one netlink batch), not one call
// each; of 10,000 VIPs added then removed, only the removals are applied.
func TestVIPQueueAppliesWhatQueuedInOneBatch(t *testing.T) {
	gate := make(chan struct{})
	h := &fakeHost{gate: gate, entered: make(chan struct{}, 1)}
	q := newVIPQueue(h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer q.close()
	first := testVIP("198.18.3.1/32")
	q.add("vi", first)
	<-h.entered // the host is busy with the first change
	const n = 10000
	for i := range n {
		v := testVIP(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32).String())
		q.add("vi", v)
		q.remove("vi", v)
	}
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()
	close(gate)
	q.flush()
	present, calls := h.snapshot()
	h.mu.Lock()
	applies := slices.Clone(h.applies)
	h.mu.Unlock()
	if want := []int{1, n}; !slices.Equal(applies, want) {
		t.Fatalf("Apply batch sizes %v, want %v", applies, want)
	}
	if len(calls) != n+1 || calls[1] != "remove 198.19.0.0/32" {
		t.Fatalf("%d changes applied, second %q: want %d, the removals only", len(calls), calls[1], n+1)
	}
	if !present[first.Prefix] {
		t.Fatalf("%s not present", first.Prefix)
	}
}
