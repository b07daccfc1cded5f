package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Row is one line of the comparison table. A value is NaN where a daemon has
// no such figure (keepalived has no XDP counters).
type Row struct {
	Scenario   string
	Metric     string
	Unit       string
	Xvrrpd     float64
	Keepalived float64
	Note       string
}

// Ratio is keepalived's figure divided by xvrrpd's: how many times more
// keepalived needs (CPU, time, false transitions). NaN where undefined.
func (r Row) Ratio() float64 {
	if math.IsNaN(r.Xvrrpd) || math.IsNaN(r.Keepalived) || r.Xvrrpd == 0 {
		return math.NaN()
	}
	return r.Keepalived / r.Xvrrpd
}

// Results gathers the rows and the chart data of one run.
type Results struct {
	mu   sync.Mutex
	Rows []Row
	// CPU against instance count: key "<kind> <interval>", points
	// (instances, CPU % of one core, master and backup summed).
	CPUSeries map[string][][2]float64
	// Failover samples: key "<kind> <case>" → time until the VIP is owned.
	Failover map[string][]time.Duration
}

// NewResults returns an empty result set.
func NewResults() *Results {
	return &Results{CPUSeries: map[string][][2]float64{}, Failover: map[string][]time.Duration{}}
}

// Add appends a row.
func (r *Results) Add(row Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, row)
}

// Set stores kind's value for (scenario, metric), creating the row.
func (r *Results) Set(scenario, metric, unit string, kind Kind, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Rows {
		if r.Rows[i].Scenario == scenario && r.Rows[i].Metric == metric {
			r.Rows[i].setKind(kind, v)
			return
		}
	}
	row := Row{Scenario: scenario, Metric: metric, Unit: unit, Xvrrpd: math.NaN(), Keepalived: math.NaN()}
	row.setKind(kind, v)
	r.Rows = append(r.Rows, row)
}

// Note attaches a note to the row of (scenario, metric).
func (r *Results) Note(scenario, metric, note string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Rows {
		if r.Rows[i].Scenario == scenario && r.Rows[i].Metric == metric {
			if strings.Contains(r.Rows[i].Note, note) {
				return
			}
			if r.Rows[i].Note != "" {
				r.Rows[i].Note += "; "
			}
			r.Rows[i].Note += note
		}
	}
}

func (row *Row) setKind(kind Kind, v float64) {
	if kind == Keepalived {
		row.Keepalived = v
	} else {
		row.Xvrrpd = v
	}
}

func fmtValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

func (row Row) cells() []string {
	ratio := "–"
	if r := row.Ratio(); !math.IsNaN(r) && !math.IsInf(r, 0) {
		ratio = strconv.FormatFloat(r, 'f', 2, 64) + "×"
	}
	metric := row.Metric
	if row.Unit != "" {
		metric += " (" + row.Unit + ")"
	}
	return []string{row.Scenario, metric, fmtValue(row.Xvrrpd), fmtValue(row.Keepalived), ratio, row.Note}
}

var header = []string{"scenario", "metric", "xvrrpd", "keepalived", "ratio (keepalived/xvrrpd)", "note"}

// WriteText prints the table with aligned columns.
func (r *Results) WriteText(w io.Writer) {
	rows := [][]string{header}
	for _, row := range r.Rows {
		rows = append(rows, row.cells())
	}
	width := make([]int, len(header))
	for _, c := range rows {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	for _, c := range rows {
		var b strings.Builder
		for i, s := range c {
			b.WriteString(s)
			if i < len(c)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(s))+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// WriteMarkdown writes the table as a Markdown table.
func (r *Results) WriteMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(header)))
	for _, row := range r.Rows {
		c := row.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", "\\|")
		}
		fmt.Fprintln(w, "| "+strings.Join(c, " | ")+" |")
	}
}

// WriteCSV writes the rows with raw numbers (empty where NaN).
func (r *Results) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	num := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	if err := cw.Write([]string{"scenario", "metric", "unit", "xvrrpd", "keepalived", "ratio", "note"}); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if err := cw.Write([]string{row.Scenario, row.Metric, row.Unit, num(row.Xvrrpd), num(row.Keepalived), num(row.Ratio()), row.Note}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ms converts a duration to milliseconds for the table.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
