package track

import (
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// InterfaceWatcher follows links through netlink events (RTM_NEWLINK /
// RTM_DELLINK), never by polling, and reports each tracked interface as up
// or down. keepalived's IF_FLAGS_UP: up means IFF_UP and IFF_RUNNING; a
// deleted or missing interface is down.
type InterfaceWatcher struct {
	emit func(Update)
	log  *slog.Logger

	mu      sync.Mutex
	tracked map[string]bool // name → last reported up
	known   map[string]bool // names reported at least once
	byIndex map[int32]string
	done    chan struct{}
	stopped chan struct{}
}

// NewInterfaceWatcher subscribes to link events in ns (netns.None() for
// the caller's namespace), reports the current state of every name and
// keeps following. emit is called from the watcher's goroutine.
func NewInterfaceWatcher(names []string, ns netns.NsHandle, log *slog.Logger, emit func(Update)) (*InterfaceWatcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &InterfaceWatcher{emit: emit, log: log, tracked: map[string]bool{}, known: map[string]bool{}, byIndex: map[int32]string{}, done: make(chan struct{}), stopped: make(chan struct{})}
	for _, n := range names {
		w.tracked[n] = false
	}
	ch := make(chan netlink.LinkUpdate, 256)
	errs := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	}
	if ns.IsOpen() {
		opts.Namespace = &ns
	}
	if err := netlink.LinkSubscribeWithOptions(ch, w.done, opts); err != nil {
		return nil, fmt.Errorf("track_interface: subscribe to link events: %w", err)
	}
	// Interfaces absent from the initial dump are down, and say so.
	h, err := handleAt(ns)
	if err != nil {
		close(w.done)
		return nil, err
	}
	links, err := h.LinkList()
	h.Close()
	if err != nil {
		close(w.done)
		return nil, fmt.Errorf("track_interface: list links: %w", err)
	}
	present := map[string]bool{}
	for _, l := range links {
		present[l.Attrs().Name] = true
	}
	for _, n := range names {
		if !present[n] {
			w.report(n, false, "interface does not exist")
		}
	}
	go w.loop(ch, errs)
	return w, nil
}

func handleAt(ns netns.NsHandle) (*netlink.Handle, error) {
	if ns.IsOpen() {
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return nil, fmt.Errorf("track_interface: netlink handle in namespace: %w", err)
		}
		return h, nil
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("track_interface: netlink handle: %w", err)
	}
	return h, nil
}

func (w *InterfaceWatcher) loop(ch <-chan netlink.LinkUpdate, errs <-chan error) {
	defer close(w.stopped)
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				return
			}
			w.handle(u)
		case err := <-errs:
			w.log.Error("track_interface: netlink subscription failed; interface changes are no longer followed", "err", err)
		case <-w.done:
			return
		}
	}
}

func (w *InterfaceWatcher) handle(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	name := a.Name
	w.mu.Lock()
	if old, ok := w.byIndex[int32(a.Index)]; ok && old != name {
		// Renamed: the old name no longer exists.
		delete(w.byIndex, int32(a.Index))
		w.mu.Unlock()
		w.report(old, false, "interface renamed to "+name)
		w.mu.Lock()
	}
	_, tracked := w.tracked[name]
	if tracked {
		w.byIndex[int32(a.Index)] = name
	}
	w.mu.Unlock()
	if !tracked {
		return
	}
	if u.Header.Type == unix.RTM_DELLINK {
		w.report(name, false, "interface deleted")
		return
	}
	up := a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_RUNNING != 0
	reason := "up"
	if !up {
		reason = fmt.Sprintf("down (admin %s, oper %s)", upDown(a.Flags&net.FlagUp != 0), a.OperState)
	}
	w.report(name, up, reason)
}

func upDown(b bool) string {
	if b {
		return "up"
	}
	return "down"
}

func (w *InterfaceWatcher) report(name string, up bool, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.known[name] && w.tracked[name] == up {
		return
	}
	w.known[name] = true
	w.tracked[name] = up
	w.log.Info("track_interface state", "interface", name, "up", up, "reason", reason)
	if w.emit != nil {
		w.emit(Update{Kind: KindInterface, Name: name, OK: up, Reason: reason})
	}
}

// Current returns the last state of every tracked interface.
func (w *InterfaceWatcher) Current() []Update {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Update
	for n, up := range w.tracked {
		if w.known[n] {
			out = append(out, Update{Kind: KindInterface, Name: n, OK: up})
		}
	}
	return out
}

// Close ends the subscription.
func (w *InterfaceWatcher) Close() error {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.stopped
	return nil
}
