package procstat

import (
	"testing"
	"time"
)

func TestParseReadsIdleIOWaitAndStealColumns(t *testing.T) {
	got, err := Parse("cpu  84707 0 289863 8576794 6787 0 39516 18012 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if err != nil {
		t.Fatal(err)
	}
	want := CPU{Idle: 85767940 * time.Millisecond, IOWait: 67870 * time.Millisecond, Steal: 180120 * time.Millisecond}
	if got != want {
		t.Fatalf("Parse = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"cpu 1 2 3 4 5\n", "intr 1 2 3 4 5 6 7 8 9\n", "cpu 1 2 3 4 5 6 7 x 9\n", "cpu 1 2 3 x 5 6 7 8 9\n"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestStealShareIsOfTheWholeMachine(t *testing.T) {
	// 30 ms stolen in a 100 ms window of 2 CPUs: 15% of the machine.
	if got := StealShare(30*time.Millisecond, 100*time.Millisecond, 2); got < 0.1499 || got > 0.1501 {
		t.Fatalf("share = %v, want 0.15", got)
	}
	if got := StealShare(time.Second, 0, 2); got != 0 {
		t.Fatalf("share over no time = %v", got)
	}
	if got := StealShare(-time.Second, time.Second, 2); got != 0 {
		t.Fatalf("negative steal = %v", got)
	}
	if got := StealShare(3*time.Second, time.Second, 2); got != 1 {
		t.Fatalf("share capped at %v, want 1", got)
	}
}
