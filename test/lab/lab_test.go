package lab

import (
	"os/exec"
	"strings"
	"testing"
)

func TestLANHostsReachEachOther(t *testing.T) {
	l := NewLAN(t, 2)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	h1.Run("ping", "-c", "1", "-W", "2", h2.V4)
	h1.Run("ping", "-6", "-c", "1", "-W", "2", h2.V6)

	l.Cut(h2)
	if out, err := exec.Command("ip", "netns", "exec", h1.Name, "ping", "-c", "1", "-W", "1", h2.V4).CombinedOutput(); err == nil {
		t.Fatalf("ping through a cut port succeeded:\n%s", out)
	}
	l.Restore(h2)
	if err := Eventually(5e9, func() error {
		_, err := Output("ip", "netns", "exec", h1.Name, "ping", "-c", "1", "-W", "1", h2.V4)
		return err
	}); err != nil {
		t.Fatalf("ping after restore: %v", err)
	}
}

func TestNamespacesAreDeletedOnCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		name = NewNS(t, "cl").Name
	})
	out := MustRun(t, "ip", "netns", "list")
	if strings.Contains(out, name) {
		t.Fatalf("namespace %s still exists after its test ended:\n%s", name, out)
	}
}
