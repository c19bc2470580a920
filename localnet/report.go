package localnet

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteTable prints the summary: one row per miner (every uid it held, its
// compute, the reporting validator's score, the last epoch's incentive, the
// incentive summed over the run and its reward per compute relative to an
// honest miner's), the honest miners' share of the total incentive, then the
// loss and whether the digests agreed.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "uid\trole\tcompute\tscore\tevals\tincentive\ttotal incentive\treward/compute\thotkey\t")
	for _, m := range r.Miners {
		uids := make([]string, 0, len(m.UIDs))
		for _, u := range m.UIDs {
			uids = append(uids, strconv.Itoa(u))
		}
		if len(uids) == 0 {
			uids = append(uids, strconv.Itoa(m.UID))
		}
		per := "∞"
		if m.RewardPerCompute != nil {
			per = fmt.Sprintf("%.3f", *m.RewardPerCompute)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.3f\t%d\t%.4f\t%.4f\t%s\t%s\t\n", strings.Join(uids, "+"), m.Role, m.Compute,
			m.Score, m.Evaluations, m.Incentive, m.TotalIncentive, per, m.Hotkey)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	agree := "yes"
	if !r.DigestsAgree {
		agree = "NO: " + strings.Join(r.Disagreements, "; ")
	}
	_, err := fmt.Fprintf(w, "\nhonest miners' share of the total incentive: %.1f%%\n"+
		"held-out loss %.4f → %.4f over %d windows; honest participants' digests agree: %s\nfinal state digest %s\n",
		100*r.HonestShare, r.LossFirst, r.LossLast, r.Windows, agree, r.FinalDigest)
	if err != nil || r.Baseline == nil {
		return err
	}
	b := r.Baseline
	reach := fmt.Sprintf("%.1f", b.StepsToReach)
	if b.StepsToReach == 0 {
		reach = fmt.Sprintf("more than %d", len(b.Loss))
	}
	bl := b.LossStart
	if n := min(r.Windows, len(b.Loss)); n > 0 {
		bl = b.Loss[n-1]
	}
	_, err = fmt.Fprintf(w, "data-parallel baseline (union of the honest miners' pages, full updates): loss %.4f → %.4f in %d steps;\n"+
		"it reaches the network's final loss in %s steps: efficiency %.3f per window, %.3f per unit of compute "+
		"(%.0f pages per baseline step, %d pages trained and recomputed by the network)\n",
		b.LossStart, bl, min(r.Windows, len(b.Loss)), reach, r.Efficiency, r.EfficiencyPerCompute, b.PagesPerStep, b.NetworkPages)
	return err
}

// WriteCharts writes loss.{png,svg} (held-out loss per window) and
// incentive.{png,svg} (each miner's incentive over windows) into dir.
func (r *Report) WriteCharts(dir string) error {
	loss := plot.New()
	loss.Title.Text = "Held-out loss of the shared model"
	loss.X.Label.Text = "window"
	loss.Y.Label.Text = "nats per byte"
	pts := make(plotter.XYs, 0, len(r.PerWindow))
	for _, row := range r.PerWindow {
		pts = append(pts, plotter.XY{X: float64(row.Window), Y: row.Loss})
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	line.Color = color.RGBA{R: 30, G: 90, B: 200, A: 255}
	loss.Add(line, plotter.NewGrid())
	if err := save(loss, dir, "loss"); err != nil {
		return err
	}

	inc := plot.New()
	inc.Title.Text = "Incentive per miner (Yuma consensus of the local chain)"
	inc.X.Label.Text = "window"
	inc.Y.Label.Text = "share of miners' incentive"
	inc.Legend.Top = true
	inc.Add(plotter.NewGrid())
	for i, m := range r.Miners {
		pts := make(plotter.XYs, 0, len(r.PerWindow))
		for _, row := range r.PerWindow {
			if i < len(row.Incentive) {
				pts = append(pts, plotter.XY{X: float64(row.Window), Y: row.Incentive[i]})
			}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i / 7)
		inc.Add(l)
		inc.Legend.Add(fmt.Sprintf("uid %d %s", m.UID, m.Role), l)
	}
	return save(inc, dir, "incentive")
}

func save(p *plot.Plot, dir, name string) error {
	for _, ext := range []string{"png", "svg"} {
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, name+"."+ext)); err != nil {
			return fmt.Errorf("localnet: chart %s.%s: %w", name, ext, err)
		}
	}
	return nil
}
