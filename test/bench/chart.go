package bench

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// DrawCharts writes cpu.png (CPU of master + backup against the instance
// count, one line per daemon and interval) and failover.png (box plots of
// the time until the backup owns the VIP), each when there is data for it.
func (res *Results) DrawCharts(dir string) error {
	if len(res.CPUSeries) > 0 {
		if err := res.drawCPU(filepath.Join(dir, "cpu.png")); err != nil {
			return fmt.Errorf("cpu chart: %w", err)
		}
	}
	if len(res.Failover) > 0 {
		if err := res.drawFailover(filepath.Join(dir, "failover.png")); err != nil {
			return fmt.Errorf("failover chart: %w", err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (res *Results) drawCPU(path string) error {
	p := plot.New()
	p.Title.Text = "CPU of master + backup against instance count"
	p.X.Label.Text = "VRRP instances"
	p.Y.Label.Text = "CPU (% of one core, user + system; log scale)"
	// The daemons are 10× apart: a log scale shows both, and a decade and
	// a half of headroom above the highest keeps the legend off the lines.
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	hi, lo := 0.0, 0.0
	// Colour by interval, shape by daemon, whatever series each daemon has.
	colour, shape := map[string]int{}, map[string]int{}
	keys := cpuSeriesOrder(res.CPUSeries)
	for _, key := range keys {
		kind, iv, _ := strings.Cut(key, " ")
		if _, ok := colour[iv]; !ok {
			colour[iv] = len(colour)
		}
		if _, ok := shape[kind]; !ok {
			shape[kind] = len(shape)
		}
	}
	for _, key := range keys {
		pts := append([][2]float64(nil), res.CPUSeries[key]...)
		sort.Slice(pts, func(a, b int) bool { return pts[a][0] < pts[b][0] })
		xys := make(plotter.XYs, len(pts))
		for j, pt := range pts {
			// A log axis has no 0: a daemon under one /proc tick plots
			// at 0.01 %.
			xys[j].X, xys[j].Y = pt[0], max(pt[1], 0.01)
			hi = max(hi, xys[j].Y)
			if lo == 0 || xys[j].Y < lo {
				lo = xys[j].Y
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		// One colour per interval, so a daemon's line is compared with the
		// other's of the same colour; keepalived's are dashed.
		kind, iv, _ := strings.Cut(key, " ")
		c := plotutil.Color(colour[iv])
		line.Color, points.Color = c, c
		points.Shape = plotutil.Shape(shape[kind])
		if strings.HasPrefix(key, string(Keepalived)) {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(key, line, points)
	}
	p.Add(plotter.NewGrid())
	if hi > 0 {
		p.Y.Min, p.Y.Max = lo/2, hi*8
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// cpuSeriesOrder sorts "daemon interval" keys by daemon, then by interval
// (1s after 100ms), for the legend.
func cpuSeriesOrder(m map[string][][2]float64) []string {
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(a, b int) bool {
		ka, ia, _ := strings.Cut(keys[a], " ")
		kb, ib, _ := strings.Cut(keys[b], " ")
		if ka != kb {
			return ka < kb
		}
		da, errA := time.ParseDuration(ia)
		db, errB := time.ParseDuration(ib)
		if errA != nil || errB != nil {
			return ia < ib
		}
		return da > db
	})
	return keys
}

func (res *Results) drawFailover(path string) error {
	p := plot.New()
	p.Title.Text = "Failover: time until the backup owns the VIP"
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	keys := sortedKeys(res.Failover)
	var names []string
	for _, key := range keys {
		vals := make(plotter.Values, 0, len(res.Failover[key]))
		for _, d := range res.Failover[key] {
			vals = append(vals, max(ms(d), 0.01)) // log scale: no zero
		}
		if len(vals) == 0 {
			continue
		}
		box, err := plotter.NewBoxPlot(vg.Points(18), float64(len(names)), vals)
		if err != nil {
			return err
		}
		box.FillColor = color.RGBA{R: 0x9e, G: 0xc5, B: 0xe8, A: 0xff}
		if strings.HasPrefix(key, string(Keepalived)) {
			box.FillColor = color.RGBA{R: 0xf4, G: 0xb1, B: 0x83, A: 0xff}
		}
		p.Add(box)
		names = append(names, strings.Replace(key, " ", "\n", 1))
	}
	p.NominalX(names...)
	p.Add(plotter.NewGrid())
	return p.Save(vg.Length(2+len(names))*vg.Inch, 5*vg.Inch, path)
}
