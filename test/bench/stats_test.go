package bench

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvrrp/xvrrp/control/procstat"
	"github.com/xvrrp/xvrrp/test/lab"
)

func TestSummarizeNearestRank(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want Dist
	}{
		{"Empty", nil, Dist{}},
		{"One", []time.Duration{5}, Dist{N: 1, P50: 5, P99: 5, Max: 5}},
		{"HundredUnsorted", func() []time.Duration {
			var xs []time.Duration
			for i := 100; i >= 1; i-- {
				xs = append(xs, time.Duration(i))
			}
			return xs
		}(), Dist{N: 100, P50: 50, P99: 99, Max: 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.in); got != tc.want {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestMasterDownInterval checks RFC 5798 section 6.1's formulas at the
// benchmark's backup priority.
func TestMasterDownInterval(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		prio     int
		skew     time.Duration
		mdi      time.Duration
	}{
		{"OneSecondPriority100", time.Second, 100, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"TenMillisecondsPriority100", 10 * time.Millisecond, 100, 6093750, 36093750},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SkewTime(tc.interval, tc.prio); got != tc.skew {
				t.Errorf("SkewTime = %v, want %v", got, tc.skew)
			}
			if got := MasterDownInterval(tc.interval, tc.prio); got != tc.mdi {
				t.Errorf("MasterDownInterval = %v, want %v", got, tc.mdi)
			}
		})
	}
}

func vrrpFrame(vlan uint16, vrid, prio byte) []byte {
	f := make([]byte, 12)
	if vlan != 0 {
		f = append(f, 0x81, 0x00, byte(vlan>>8), byte(vlan))
	}
	f = append(f, 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[9] = 0x45, 112
	return append(append(f, ip...), 0x31, vrid, prio, 1, 0, 10, 0, 0)
}

func TestParseAdvert(t *testing.T) {
	tests := []struct {
		name   string
		frame  []byte
		key    AdvertKey
		prio   uint8
		wantOK bool
	}{
		{"Untagged", vrrpFrame(0, 7, 200), AdvertKey{VRID: 7}, 200, true},
		{"VLAN12", vrrpFrame(12, 255, 100), AdvertKey{VLAN: 12, VRID: 255}, 100, true},
		{"Truncated", vrrpFrame(0, 7, 200)[:30], AdvertKey{}, 0, false},
		{"NotVRRP", func() []byte { f := vrrpFrame(0, 7, 200); f[14+9] = 17; return f }(), AdvertKey{}, 0, false},
		{"Empty", nil, AdvertKey{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, prio, ok := ParseAdvert(tc.frame)
			if ok != tc.wantOK || (ok && (key != tc.key || prio != tc.prio)) {
				t.Errorf("ParseAdvert = %+v %d %v, want %+v %d %v", key, prio, ok, tc.key, tc.prio, tc.wantOK)
			}
		})
	}
}

// TestJitterMeterPerStream: gaps are measured per (VLAN, VRID) stream, and
// priority-0 adverts (a resigning master) do not count.
func TestJitterMeterPerStream(t *testing.T) {
	j := NewJitterMeter(10 * time.Millisecond)
	t0 := time.Unix(1000, 0)
	j.Add(Packet{At: t0, Data: vrrpFrame(0, 1, 200)})
	j.Add(Packet{At: t0.Add(time.Millisecond), Data: vrrpFrame(10, 1, 200)})
	j.Add(Packet{At: t0.Add(12 * time.Millisecond), Data: vrrpFrame(0, 1, 200)})  // +2 ms
	j.Add(Packet{At: t0.Add(10 * time.Millisecond), Data: vrrpFrame(10, 1, 200)}) // -1 ms
	j.Add(Packet{At: t0.Add(15 * time.Millisecond), Data: vrrpFrame(10, 1, 0)})   // ignored
	if j.Streams() != 2 {
		t.Errorf("Streams = %d, want 2", j.Streams())
	}
	d := j.Dist()
	if d.N != 2 || d.P50 != time.Millisecond || d.Max != 2*time.Millisecond {
		t.Errorf("Dist = %+v, want 2 gaps with errors 1 ms and 2 ms", d)
	}
}

// TestReadPcapNanosecond reads a nanosecond pcap stream as tcpdump
// --time-stamp-precision=nano writes it.
func TestReadPcapNanosecond(t *testing.T) {
	var b bytes.Buffer
	le := binary.LittleEndian
	gh := make([]byte, 24)
	le.PutUint32(gh[0:], pcapMagicNano)
	le.PutUint16(gh[4:], 2)
	le.PutUint16(gh[6:], 4)
	le.PutUint32(gh[16:], 128)
	le.PutUint32(gh[20:], 1)
	b.Write(gh)
	for i, payload := range [][]byte{{1, 2, 3}, {4, 5}} {
		ph := make([]byte, 16)
		le.PutUint32(ph[0:], 100+uint32(i))
		le.PutUint32(ph[4:], 123456789)
		le.PutUint32(ph[8:], uint32(len(payload)))
		le.PutUint32(ph[12:], uint32(len(payload)))
		b.Write(ph)
		b.Write(payload)
	}
	var got []Packet
	if err := readPcap(&b, func(p Packet) { got = append(got, Packet{At: p.At, Data: append([]byte(nil), p.Data...)}) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[1].At.Equal(time.Unix(101, 123456789)) || !bytes.Equal(got[1].Data, []byte{4, 5}) {
		t.Errorf("readPcap = %+v", got)
	}
	if err := readPcap(bytes.NewReader(make([]byte, 24)), func(Packet) {}); err == nil {
		t.Error("readPcap accepted a stream with no pcap magic")
	}
}

func TestParseBenchOutput(t *testing.T) {
	out := []byte("goos: linux\nBenchmarkXDP/accepted-2   \t 1000000\t      95.30 ns/op\t 0 B/op\nBenchmarkXDP/bad_checksum-2 200 41 ns/op\nBenchmarkXDP/NotVRRP-2  4452194  249.2 ns/op  45.06 ns/pkt\nPASS\n")
	names, v := ParseBenchOutput(out)
	if len(names) != 3 || v["BenchmarkXDP/accepted"] != 95.3 || v["BenchmarkXDP/bad_checksum"] != 41 || v["BenchmarkXDP/NotVRRP"] != 45.06 {
		t.Errorf("ParseBenchOutput = %v %v", names, v)
	}
}

func TestMachineBusyIsWallTimeLessIdle(t *testing.T) {
	const stat = "cpu  900 10 300 5000 100 0 40 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"
	c, err := procstat.Parse(stat)
	if err != nil {
		t.Fatal(err)
	}
	if m := machineCPU(c, time.Time{}); m.idle != 51*time.Second {
		t.Fatalf("idle+iowait = %v, want 51s (5100 ticks)", m.idle)
	}
	// 2 CPUs for 60 s: 120 s of CPU time, 90 s of them idle → 30 s busy
	// → 50% of one core on average.
	if got := busyCores(60*time.Second, 90*time.Second, 2); got < 49.99 || got > 50.01 {
		t.Fatalf("busy = %v%%, want 50%%", got)
	}
	// Idle a little over the wall time (counters read microseconds apart)
	// is 0, not negative.
	if got := busyCores(time.Second, 2010*time.Millisecond, 2); got != 0 {
		t.Fatalf("busy = %v%%, want 0", got)
	}
}

func TestTransitionsSinceCountsEachDaemonsEntries(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind Kind
		log  string
	}{
		{Xvrrpd, "level=INFO msg=\"VI_1: BACKUP → MASTER: timer\"\nlevel=INFO msg=\"VI_2: INIT → BACKUP: startup\"\nlevel=WARN msg=\"late\"\nlevel=INFO msg=\"VI_3: BACKUP → FAULT: down\"\n"},
		{Keepalived, "(VI_1) Entering MASTER STATE\n(VI_2) Entering BACKUP STATE\n(VI_3) Entering FAULT STATE\nsomething else\n"},
	} {
		d := &Daemon{Kind: c.kind, Proc: &lab.Proc{LogPath: filepath.Join(dir, string(c.kind)+".log")}}
		if err := os.WriteFile(d.LogPath, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		if m, o := d.TransitionsSince(0); m != 1 || o != 2 {
			t.Errorf("%s: TransitionsSince(0) = %d to MASTER, %d other; want 1, 2", c.kind, m, o)
		}
		// From the second line on: the MASTER entry is before the mark.
		mark := int64(strings.Index(c.log, "\n") + 1)
		if m, o := d.TransitionsSince(mark); m != 0 || o != 2 {
			t.Errorf("%s: TransitionsSince(after line 1) = %d, %d; want 0, 2", c.kind, m, o)
		}
		// A mark past the end (the log was replaced) counts all of it.
		if m, o := d.TransitionsSince(1 << 20); m != 1 || o != 2 {
			t.Errorf("%s: TransitionsSince(past the end) = %d, %d; want 1, 2", c.kind, m, o)
		}
		if got := d.LinesSince(0, 2, d.isTransition); len(got) != 2 || !strings.Contains(got[0], "MASTER") {
			t.Errorf("%s: LinesSince(0, 2, isTransition) = %q; want the first two transitions", c.kind, got)
		}
	}
}
