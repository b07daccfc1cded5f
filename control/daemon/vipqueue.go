package daemon

import (
	"log/slog"
	"net/netip"
	"sync"

	"github.com/xvrrp/xvrrp/vip"
)

// vipHost is what the queue needs of *vip.Manager: Apply makes the host
// follow a batch of changes and returns one error per change.
type vipHost interface {
	Apply([]vip.Op) []error
}

// vipQueue puts VIPs on the host and takes them off in order, on a
// goroutine of its own, so that the engine never waits for netlink under
// the daemon lock. Each change is a netlink request under the kernel's
// rtnl_lock; when a thousand instances change state at once, or another process holds rtnl_lock, that
// held every instance's adverts and timers for tens of milliseconds, and on
// a busy host one late advert became thousands of false takeovers (each
// takeover's VIP changes starving the others' adverts). The engine's state
// is decided without it; the host follows a moment later. What queued
// while the host was busy goes in one vip.Manager.Apply, many requests per
// syscall.
//
// Each change is idempotent (add: be present; remove: be absent), so of
// the queued changes of one VIP only the last is applied.
type vipQueue struct {
	host vipHost
	log  *slog.Logger

	mu      sync.Mutex
	pending []vipOp
	queued  uint64 // changes queued so far
	applied uint64 // changes applied (or skipped as superseded) so far
	closed  bool
	wake    chan struct{} // one-slot: pending is not empty
	cond    *sync.Cond    // on mu: applied moved, for flush
	done    chan struct{} // closed when run returns
}

type vipOp struct {
	add  bool
	v    vip.VIP
	inst string // for the log
	// run, when set, is another host change (routes.go: routes, rules,
	// static objects) kept in order with the VIPs' and never superseded.
	run func()
}

func newVIPQueue(host vipHost, log *slog.Logger) *vipQueue {
	q := &vipQueue{host: host, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.run()
	return q
}

// add and remove queue one change; they never block on the host.
func (q *vipQueue) add(inst string, v vip.VIP)    { q.push(vipOp{add: true, v: v, inst: inst}) }
func (q *vipQueue) remove(inst string, v vip.VIP) { q.push(vipOp{add: false, v: v, inst: inst}) }
func (q *vipQueue) do(fn func())                  { q.push(vipOp{run: fn}) }

func (q *vipQueue) push(op vipOp) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.pending = append(q.pending, op)
	q.queued++
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// barrier returns a channel closed once every change queued before the call
// is on the host: a GARP announces a VIP only after it was added.
func (q *vipQueue) barrier() <-chan struct{} {
	ch := make(chan struct{})
	q.mu.Lock()
	target := q.queued
	q.mu.Unlock()
	go func() {
		q.waitApplied(target)
		close(ch)
	}()
	return ch
}

// flush waits until every change queued so far is on the host.
func (q *vipQueue) flush() {
	q.mu.Lock()
	target := q.queued
	q.mu.Unlock()
	q.waitApplied(target)
}

func (q *vipQueue) waitApplied(target uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.applied < target && !q.stopped() {
		q.cond.Wait()
	}
}

func (q *vipQueue) stopped() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// close applies what is queued, then stops the goroutine; later changes
// are dropped.
func (q *vipQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}

func (q *vipQueue) run() {
	defer func() {
		q.mu.Lock()
		close(q.done)
		q.cond.Broadcast()
		q.mu.Unlock()
	}()
	var batch []vipOp
	var a applier
	for range q.wake {
		for {
			q.mu.Lock()
			if len(q.pending) == 0 {
				closed := q.closed
				q.mu.Unlock()
				if closed {
					return
				}
				break
			}
			batch, q.pending = q.pending, batch[:0]
			q.mu.Unlock()
			a.apply(q, batch)
			q.mu.Lock()
			q.applied += uint64(len(batch))
			q.cond.Broadcast()
			q.mu.Unlock()
		}
	}
}

// applier keeps what apply reuses from batch to batch.
type applier struct {
	last map[vipKey]int // a VIP's last change in the batch
	ops  []vip.Op
	from []int // ops[i] is batch[from[i]]
}

type vipKey struct {
	prefix netip.Prefix
	dev    string
}

// apply makes the host follow batch in order. A queued function (routes,
// rules: vipQueue.do) is a barrier: the VIP changes queued before it are on
// the host when it runs, the ones after it wait for it.
func (a *applier) apply(q *vipQueue, batch []vipOp) {
	start := 0
	for i, op := range batch {
		if op.run == nil {
			continue
		}
		a.applyVIPs(q, batch[start:i])
		op.run()
		start = i + 1
	}
	a.applyVIPs(q, batch[start:])
}

// applyVIPs makes the host follow batch (VIP changes only) in one
// vip.Manager.Apply (many netlink requests per syscall), in order, skipping
// each change that a later one of the same VIP supersedes.
func (a *applier) applyVIPs(q *vipQueue, batch []vipOp) {
	if len(batch) == 0 {
		return
	}
	if a.last == nil {
		a.last = map[vipKey]int{}
	}
	clear(a.last)
	for i, op := range batch {
		a.last[vipKey{op.v.Prefix, op.v.Dev}] = i
	}
	a.ops, a.from = a.ops[:0], a.from[:0]
	for i, op := range batch {
		if a.last[vipKey{op.v.Prefix, op.v.Dev}] != i {
			continue
		}
		a.ops = append(a.ops, vip.Op{Add: op.add, VIP: op.v})
		a.from = append(a.from, i)
	}
	for i, err := range q.host.Apply(a.ops) {
		if err == nil {
			continue
		}
		op := batch[a.from[i]]
		verb := "remove VIP"
		if op.add {
			verb = "add VIP"
		}
		q.log.Error(verb, "instance", op.inst, "vip", op.v.String(), "err", err)
	}
}
