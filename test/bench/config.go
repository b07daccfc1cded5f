package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config selects what a run measures and for how long.
type Config struct {
	Scenarios         []string // density, failover, flood, micro, vips, scale
	DensityDuration   time.Duration
	DensityIntervals  string // comma-separated durations
	DensitySizes      string // comma-separated: 255 and/or 1020
	FailoverReps      int
	FailoverRepsSlow  int // for intervals of 500 ms and more; 0: FailoverReps
	FailoverIntervals string
	FailoverCases     string // comma-separated: cut, sigterm
	FloodDuration     time.Duration
	FloodIdle         time.Duration
	FloodBin          string
	MicroBenchtime    string
	VIPsSizes         string // comma-separated address counts
	VIPsFamilies      string // comma-separated: 4, 6, mixed
	VIPsBystanders    string // comma-separated COUNT@INTERVAL, e.g. 50@100ms
	VIPsExtra         string // cells beyond the matrix, comma-separated SIZE/FAMILY/COUNT@INTERVAL
	ScaleSizes        string // instance counts, as DensitySizes
	ScaleInterval     string // their advert interval
	OutDir            string
	Kinds             []Kind // daemons to run; both unless narrowed
}

// parseFailoverCases reads "cut,sigterm" (either or both); empty is both.
func parseFailoverCases(s string) ([]FailoverCase, error) {
	var out []FailoverCase
	for _, f := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "":
		case "cut":
			out = append(out, CutLink)
		case "sigterm":
			out = append(out, Terminate)
		default:
			return nil, fmt.Errorf("failover case %q: use cut and/or sigterm", f)
		}
	}
	if len(out) == 0 {
		out = []FailoverCase{CutLink, Terminate}
	}
	return out, nil
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("interval %q: %w", f, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// DensityCases expands the density matrix: sizes × intervals.
func (c Config) DensityCases() ([]DensityCase, error) {
	ivs, err := parseDurations(c.DensityIntervals)
	if err != nil {
		return nil, err
	}
	var cases []DensityCase
	for _, f := range strings.Split(c.DensitySizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("density size %q: %w", f, err)
		}
		for _, iv := range ivs {
			switch {
			case n >= 1 && n <= 255:
				cases = append(cases, DensityCase{Name: fmt.Sprintf("%d×eth0 @%v", n, iv), Per: n, Interval: iv})
			case n%4 == 0 && n/4 <= 255:
				cases = append(cases, DensityCase{Name: fmt.Sprintf("%d×4 VLANs @%v", n, iv), VLANs: []int{10, 11, 12, 13}, Per: n / 4, Interval: iv})
			default:
				return nil, fmt.Errorf("density size %d: use 1..255 (one interface) or a multiple of 4 up to 1020 (4 VLANs)", n)
			}
		}
	}
	return cases, nil
}

// VIPsCases expands the many-VIPs matrix: bystander sets × families × sizes.
func (c Config) VIPsCases() ([]VIPsCase, error) {
	type bys struct {
		n  int
		iv time.Duration
	}
	var sets []bys
	spec := c.VIPsBystanders
	if spec == "" {
		spec = "50@100ms"
	}
	for _, b := range strings.Split(spec, ",") {
		n, iv, err := parseBystanders(b)
		if err != nil {
			return nil, err
		}
		sets = append(sets, bys{n, iv})
	}
	var cases []VIPsCase
	for _, f := range strings.Split(c.VIPsFamilies, ",") {
		fam, err := parseVIPsFamily(f)
		if err != nil {
			return nil, err
		}
		for _, sz := range strings.Split(c.VIPsSizes, ",") {
			n, err := parseVIPsSize(sz)
			if err != nil {
				return nil, err
			}
			for _, b := range sets {
				cases = append(cases, VIPsCase{N: n, Family: fam, Bystanders: b.n, BystanderInt: b.iv})
			}
		}
	}
	// Cells outside the matrix: one size and family beside one bystander
	// set (e.g. 10,000 IPv4 beside 254 instances at 10 ms, without running
	// every size and family at 10 ms).
	for _, e := range strings.Split(c.VIPsExtra, ",") {
		if strings.TrimSpace(e) == "" {
			continue
		}
		parts := strings.SplitN(strings.TrimSpace(e), "/", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("vips extra cell %q: use SIZE/FAMILY/COUNT@INTERVAL (e.g. 10000/4/254@10ms)", e)
		}
		n, err := parseVIPsSize(parts[0])
		if err != nil {
			return nil, err
		}
		fam, err := parseVIPsFamily(parts[1])
		if err != nil {
			return nil, err
		}
		bn, iv, err := parseBystanders(parts[2])
		if err != nil {
			return nil, err
		}
		cases = append(cases, VIPsCase{N: n, Family: fam, Bystanders: bn, BystanderInt: iv})
	}
	return cases, nil
}

func parseBystanders(b string) (int, time.Duration, error) {
	ns, ivs, ok := strings.Cut(strings.TrimSpace(b), "@")
	n, err := strconv.Atoi(ns)
	iv, err2 := time.ParseDuration(ivs)
	if !ok || err != nil || err2 != nil || n < 1 || n > maxBystanders || iv < 10*time.Millisecond {
		return 0, 0, fmt.Errorf("vips bystanders %q: use COUNT@INTERVAL, 1..%d instances, interval ≥ 10ms (e.g. 50@100ms)", b, maxBystanders)
	}
	return n, iv, nil
}

func parseVIPsFamily(f string) (string, error) {
	fam := strings.TrimSpace(f)
	if fam != "4" && fam != "6" && fam != "mixed" {
		return "", fmt.Errorf("vips family %q: use 4, 6 or mixed", f)
	}
	return fam, nil
}

func parseVIPsSize(sz string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(sz))
	if err != nil || n < 1 || n > 65000 {
		return 0, fmt.Errorf("vips size %q: use 1..65000", sz)
	}
	return n, nil
}

// order alternates which daemon runs first from one cell to the next, so
// neither always gets the quieter machine.
func (c Config) order(i int) []Kind {
	o := []Kind{Xvrrpd, Keepalived}
	if i%2 == 1 {
		o = []Kind{Keepalived, Xvrrpd}
	}
	if len(c.Kinds) == 0 {
		return o
	}
	return slices.DeleteFunc(o, func(k Kind) bool { return !slices.Contains(c.Kinds, k) })
}

// RunAll runs the selected scenarios. A failed cell is reported and the run
// goes on; an interrupted context stops it.
func (r *Runner) RunAll(ctx context.Context, c Config) error {
	var errs []error
	keep := func(err error) bool {
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.logf("ERROR: %v", err)
		errs = append(errs, err)
		return true
	}
	if slices.Contains(c.Scenarios, "density") {
		cases, err := c.DensityCases()
		if err != nil {
			return err
		}
		for i, dc := range cases {
			for _, k := range c.order(i) {
				if !keep(r.Density(ctx, dc, k, c.DensityDuration)) {
					return ctx.Err()
				}
			}
		}
	}
	if slices.Contains(c.Scenarios, "failover") {
		ivs, err := parseDurations(c.FailoverIntervals)
		if err != nil {
			return err
		}
		fcs, err := parseFailoverCases(c.FailoverCases)
		if err != nil {
			return err
		}
		i := 0
		for _, iv := range ivs {
			for _, fc := range fcs {
				for _, k := range c.order(i) {
					reps := c.FailoverReps
					if iv >= 500*time.Millisecond && c.FailoverRepsSlow > 0 {
						reps = c.FailoverRepsSlow
					}
					if !keep(r.Failover(ctx, fc, iv, k, reps)) {
						return ctx.Err()
					}
				}
				i++
			}
		}
	}
	if slices.Contains(c.Scenarios, "flood") {
		for _, k := range c.order(0) {
			if !keep(r.Flood(ctx, k, c)) {
				return ctx.Err()
			}
		}
	}
	if slices.Contains(c.Scenarios, "vips") {
		cases, err := c.VIPsCases()
		if err != nil {
			return err
		}
		for i, vc := range cases {
			for _, k := range c.order(i) {
				if !keep(r.VIPs(ctx, vc, k)) {
					return ctx.Err()
				}
			}
			// After the daemons: the note goes on their row.
			if !keep(r.VIPsKernel(ctx, vc)) {
				return ctx.Err()
			}
		}
	}
	if slices.Contains(c.Scenarios, "scale") {
		cases, err := Config{DensitySizes: c.ScaleSizes, DensityIntervals: c.ScaleInterval}.DensityCases()
		if err != nil {
			return err
		}
		for i, dc := range cases {
			for _, k := range c.order(i) {
				if !keep(r.Scale(ctx, dc.Layout(), dc.VLANs, k)) {
					return ctx.Err()
				}
			}
		}
	}
	if slices.Contains(c.Scenarios, "micro") {
		if !keep(r.Micro(ctx, c.MicroBenchtime)) {
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// WriteFiles writes results.md, results.csv and the charts into dir.
func (res *Results) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	md, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		return err
	}
	fmt.Fprintf(md, "Measured %s.\n\n", time.Now().UTC().Format(time.RFC3339))
	res.WriteMarkdown(md)
	if err := md.Close(); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.csv"))
	if err != nil {
		return err
	}
	if err := res.WriteCSV(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return res.DrawCharts(dir)
}
