package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// benchLine matches `BenchmarkXDP/accepted-2   123456   95.3 ns/op ...`,
// and perPacket its `45.1 ns/pkt` metric where the benchmark reports one.
var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)
	perPacket = regexp.MustCompile(`\s([0-9.]+) ns/pkt`)
)

// ParseBenchOutput returns name → ns per packet from `go test -bench`
// output: the ns/pkt metric of BenchmarkXDP (the kernel's own timing of
// BPF_PROG_TEST_RUN's loop, without the syscall), else ns/op.
func ParseBenchOutput(out []byte) (names []string, nsPerOp map[string]float64) {
	nsPerOp = map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		val := m[2]
		if p := perPacket.FindStringSubmatch(sc.Text()); p != nil {
			val = p[1]
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		if _, dup := nsPerOp[m[1]]; !dup {
			names = append(names, m[1])
		}
		nsPerOp[m[1]] = v
	}
	return names, nsPerOp
}

// Micro runs the dataplane micro-benchmarks of ./loader (XDP program runs
// through BPF_PROG_TEST_RUN) and adds their ns/op to the table. keepalived
// has no counterpart: its column stays empty.
func (r *Runner) Micro(ctx context.Context, benchtime string) error {
	r.logf("micro-benchmarks: go test -run XXX -bench . -benchtime %s ./loader/", benchtime)
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "XXX", "-bench", ".", "-benchtime", benchtime, "./loader/")
	cmd.Dir = r.RepoDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("loader micro-benchmarks: %v\n%s", err, out)
	}
	names, vals := ParseBenchOutput(out)
	if len(names) == 0 {
		return fmt.Errorf("loader micro-benchmarks printed no results:\n%s", out)
	}
	for _, n := range names {
		r.Results.Set("micro (loader)", n, "ns per packet", Xvrrpd, vals[n])
	}
	return nil
}
