package bench

import "testing"

func TestIsResignMatchesOnlyPriorityZeroVRRP(t *testing.T) {
	if !isResign(vrrpFrame(0, 1, 0)) {
		t.Error("a priority-0 VRRP advert is a resignation")
	}
	if isResign(vrrpFrame(0, 1, 100)) {
		t.Error("a priority-100 advert is not")
	}
	udp := vrrpFrame(0, 1, 0)
	udp[14+9] = 17
	if isResign(udp) {
		t.Error("UDP is not VRRP")
	}
	if isResign(vrrpFrame(0, 1, 0)[:14+20+2]) {
		t.Error("a frame cut inside the VRRP header is not")
	}
}

func TestStopTookReadsXvrrpdsLastStopLine(t *testing.T) {
	tail := "time=2026-12-03T00:12:45Z level=INFO msg=stopping signal=terminated\n" +
		"time=2026-12-03T00:12:45Z level=INFO msg=stopped took=13.347025ms\n"
	if got := stopTook(tail); got != "13.347025ms" {
		t.Errorf("stopTook = %q, want 13.347025ms", got)
	}
	if got := stopTook("keepalived: Stopped\n"); got != "?" {
		t.Errorf("stopTook without a stop line = %q, want ?", got)
	}
}
