package bistro

import (
	"context"
	"fmt"
)

// TrainUpdate computes a miner's Δ of window w on base from its pages, as
// Params say (SPEC.md §2.4): with InnerSteps H = 1, one Trainer.Update at
// StepLR(w); with H > 1, H optimizer steps from the base on a private copy
// θ₀ = base, step k on micro-batch k of the pages (MicroBatch) at StepLR(w),
// θ_{k+1} = θ_k + Δ_k in float32, and Δ = θ_H − θ_base in float32. Empty
// micro-batches (fewer pages than H: only a miner that trains on part of its
// pages) are skipped. Validators call it to recompute the same Δ, so it is a
// deterministic function of base, pages, Params and w; it never changes base.
func TrainUpdate(ctx context.Context, p *Params, trainer Trainer, base Model, pages [][]int32, w uint64) (Tensors, error) {
	lr, h := p.StepLR(w), int(p.InnerSteps)
	if h <= 1 {
		return trainer.Update(ctx, base, pages, lr, p.ClipNorm)
	}
	layout := base.Layout()
	theta, err := trainer.NewModel(p.Model)
	if err != nil {
		return nil, err
	}
	delta, err := NewMemModel(layout)
	if err != nil {
		return nil, err
	}
	var maxLen int
	for t := range layout {
		maxLen = max(maxLen, layout[t].Len())
		if err := base.Read(t, delta.Tensor(t)); err != nil {
			return nil, err
		}
		if err := theta.Write(t, delta.Tensor(t)); err != nil {
			return nil, err
		}
	}
	all := make([]uint32, maxLen)
	for i := range all {
		all[i] = uint32(i)
	}
	buf := make([]float32, maxLen)
	for k := range h {
		lo, hi := MicroBatch(len(pages), h, k)
		if lo == hi {
			continue
		}
		d, err := trainer.Update(ctx, theta, pages[lo:hi], lr, p.ClipNorm)
		if err != nil {
			return nil, fmt.Errorf("bistro: inner step %d of %d: %w", k+1, h, err)
		}
		for t := range layout {
			n := layout[t].Len()
			if err := d.Gather(t, all[:n], buf[:n]); err != nil {
				return nil, err
			}
			if err := theta.Apply(t, all[:n], buf[:n]); err != nil {
				return nil, err
			}
		}
	}
	// Δ = θ_H − θ_base: delta holds θ_base; subtract it from θ_H.
	for t := range layout {
		n := layout[t].Len()
		if err := theta.Read(t, buf[:n]); err != nil {
			return nil, err
		}
		v := delta.Tensor(t)
		for i := range v {
			v[i] = buf[i] - v[i]
		}
	}
	return delta, nil
}
