package localnet

import (
	"context"
	"fmt"

	"github.com/bistro-go/bistro"
)

// BaselineReport compares the network with plain data-parallel training on
// exactly the same data (Options.Baseline): a separate replica, from the same
// θ₀ and with the same Trainer, that takes in every window the union of the
// honest miners' pages and applies the full update at once — the same number
// of optimizer steps (Params.InnerSteps per window, on the union split into
// as many micro-batches) with the same inner optimizer (Params.InnerOptimizer:
// AdamW's moments reset every window there too), the same learning rate
// schedule (lr(w), not scaled for a slice: LRScale does not apply to full
// updates) and clipping, no slicing, no staleness. It applies its update by
// the same outer optimizer (Params.OuterOptimizer, bistro.ApplyOuter at
// every coordinate): under nesterov/v1 its momentum covers every coordinate
// and moves every window, where the network's moves only at the touched
// ones, so the comparison is like for like (DiLoCo's data-parallel outer
// step), not against plain SGD.
type BaselineReport struct {
	// LossStart is the held-out loss of θ₀.
	LossStart float64 `json:"loss_start"`
	// Loss is the baseline's held-out loss after each step, one per window
	// of the run and further steps (on the pages of the windows after the
	// run) until it reached the network's final loss, at most 4× the run.
	Loss []float64 `json:"loss"`
	// PagesPerStep is the mean number of pages each baseline step took.
	PagesPerStep float64 `json:"pages_per_step"`
	// StepsToReach is how many baseline steps reach the network's final
	// held-out loss, linearly interpolated between steps; 0 when it did not
	// within 4× the run.
	StepsToReach float64 `json:"steps_to_reach"`
	// NetworkPages is the network's total compute in pages trained: every
	// miner's (MinerStats.Pages) and every validator's recomputations.
	NetworkPages int `json:"network_pages"`
}

// stepsToReach returns the baseline steps needed to reach target, linearly
// interpolated over start (step 0) and loss (step i+1); ok is false when the
// losses never reach it.
func stepsToReach(start float64, loss []float64, target float64) (float64, bool) {
	prev := start
	if prev <= target {
		return 0, true
	}
	for i, l := range loss {
		if l <= target {
			return float64(i) + (prev-target)/(prev-l), true
		}
		prev = l
	}
	return 0, false
}

// baseline trains the data-parallel baseline after the network ran and
// fills rep.Baseline, the per-window baseline losses, and the efficiencies.
func baseline(ctx context.Context, opts Options, p *bistro.Params, ds bistro.Dataset, genesis *bistro.MemModel,
	newTrainer func() bistro.Trainer, heldOut [][]int32, miners []*participant, rep *Report) error {
	pa, err := bistro.NewPages(p)
	if err != nil {
		return err
	}
	tr := newTrainer()
	m := genesis.Clone()
	// The same optimizer steps on the union, unsliced: lr(w) as scheduled.
	bp := *p
	bp.LRScale = bistro.LRScaleNone
	layout := m.Layout()
	all := make([][]uint32, len(layout))
	for t, ts := range layout {
		all[t] = make([]uint32, ts.Len())
		for i := range all[t] {
			all[t][i] = uint32(i)
		}
	}
	br := &BaselineReport{}
	if br.LossStart, err = tr.Loss(ctx, m, heldOut); err != nil {
		return err
	}
	target := rep.LossLast
	pages := 0
	outer, err := bistro.NewOuter(p, layout)
	if err != nil {
		return err
	}
	full := make([][]float32, len(layout))
	for t := range layout {
		full[t] = make([]float32, len(all[t]))
	}
	for i := 0; i < 4*opts.Windows; i++ {
		if i >= opts.Windows {
			if _, ok := stepsToReach(br.LossStart, br.Loss, target); ok {
				break
			}
		}
		w := p.FirstWindow + uint64(i)
		var union [][]int32
		for _, mi := range miners {
			if mi.role != "honest" || (mi.start > 0 && i < opts.LateMiner) {
				continue
			}
			pg, err := bistro.MinerPages(ctx, p, ds, pa, w, mi.key.Hotkey())
			if err != nil {
				return err
			}
			union = append(union, pg...)
		}
		pages += len(union)
		d, err := bistro.TrainUpdate(ctx, &bp, tr, m, union, w)
		if err != nil {
			return fmt.Errorf("localnet: baseline window %d: %w", i, err)
		}
		for t := range layout {
			if err := d.Gather(t, all[t], full[t]); err != nil {
				return err
			}
		}
		if err := bistro.ApplyOuter(m, outer, all, full); err != nil {
			return err
		}
		l, err := tr.Loss(ctx, m, heldOut)
		if err != nil {
			return err
		}
		br.Loss = append(br.Loss, l)
	}
	br.PagesPerStep = float64(pages) / float64(len(br.Loss))
	for _, mi := range miners {
		for _, l := range mi.allLives() {
			br.NetworkPages += l.miner.Stats().Pages
		}
	}
	for _, v := range rep.Validators {
		br.NetworkPages += v.Recomputed * int(p.PagesPerWindow)
	}
	for i := range rep.PerWindow {
		if j := rep.PerWindow[i].Window; j >= 0 && j < len(br.Loss) {
			l := br.Loss[j]
			rep.PerWindow[i].BaselineLoss = &l
		}
	}
	rep.Baseline = br
	if s, ok := stepsToReach(br.LossStart, br.Loss, target); ok {
		br.StepsToReach = s
		rep.Efficiency = s / float64(opts.Windows)
		if br.NetworkPages > 0 {
			rep.EfficiencyPerCompute = s * br.PagesPerStep / float64(br.NetworkPages)
		}
	}
	return nil
}
