package track

import (
	"testing"

	"github.com/xvrrp/xvrrp/test/lab"
)

func TestInterfaceWatcher_VethInNamespace(t *testing.T) {
	lab.RequirePrivileged(t)
	a, b := lab.NewNS(t, "ifa"), lab.NewNS(t, "ifb")
	lab.Veth(t, a, "eth1", b, "eth1")
	h, err := a.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	up := newUpdates()
	w, err := NewInterfaceWatcher([]string{"eth1", "eth9"}, h, quiet, up.emit)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	want := func(name string, ok bool) {
		t.Helper()
		for {
			u := up.next(t)
			if u.Name == name && u.OK == ok && u.Kind == KindInterface {
				return
			}
		}
	}
	want("eth9", false) // missing interface is down, and says so
	want("eth1", true)
	a.IP("link", "set", "eth1", "down")
	want("eth1", false)
	a.IP("link", "set", "eth1", "up")
	want("eth1", true)
	b.IP("link", "set", "eth1", "down") // peer down: carrier lost, not running
	want("eth1", false)
	b.IP("link", "set", "eth1", "up")
	want("eth1", true)
	a.IP("link", "del", "eth1")
	want("eth1", false)
}
