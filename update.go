package bistro

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// TrainUpdate computes a miner's Δ of window w on base from its pages, as
// Params say (SPEC.md §2.4). Under InnerSGD: with InnerSteps H = 1, one
// Trainer.Update at StepLR(w); with H > 1, H optimizer steps from the base on
// a private copy θ₀ = base, step k on micro-batch k of the pages (MicroBatch)
// at StepLR(w), θ_{k+1} = θ_k + Δ_k in float32, and Δ = θ_H − θ_base in
// float32. Under InnerAdamWV1 (any H, 1 included): step k takes the clipped
// gradient ĝ_k = −Trainer.Update(θ_k, micro-batch k, lr 1) and applies
// AdamWStep with moments that start at zero; Δ = θ_H − θ_base likewise.
// Empty micro-batches (fewer pages than H: only a miner that trains on part
// of its pages) are skipped. Validators call it to recompute the same Δ, so
// it is a deterministic function of base, pages, Params and w; it never
// changes base.
func TrainUpdate(ctx context.Context, p *Params, trainer Trainer, base Model, pages [][]int32, w uint64) (Tensors, error) {
	lr, h := p.StepLR(w), int(p.InnerSteps)
	adamw := p.InnerOptimizer.Kind == InnerAdamWV1
	if h <= 1 && !adamw {
		return trainer.Update(ctx, base, pages, lr, p.ClipNorm)
	}
	h = max(h, 1)
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
	var st *adamwState
	if adamw {
		st = newAdamWState(layout, maxLen)
	}
	for k := range h {
		lo, hi := MicroBatch(len(pages), h, k)
		if lo == hi {
			continue
		}
		if adamw {
			if err := st.step(ctx, p, trainer, theta, pages[lo:hi], lr, all, buf); err != nil {
				return nil, fmt.Errorf("bistro: inner step %d of %d: %w", k+1, h, err)
			}
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

// adamwState is the AdamW state of one TrainUpdate: the moments m and v per
// tensor in float32, zero at the base, and the number of steps taken.
type adamwState struct {
	m, v [][]float32
	t    int
	g    []float32 // scratch: the clipped gradient of one tensor
}

func newAdamWState(layout Layout, maxLen int) *adamwState {
	st := &adamwState{m: make([][]float32, len(layout)), v: make([][]float32, len(layout)), g: make([]float32, maxLen)}
	for t := range layout {
		st.m[t], st.v[t] = make([]float32, layout[t].Len()), make([]float32, layout[t].Len())
	}
	return st
}

// ErrInnerOverflow is returned when an inner step takes a weight out of the
// float32 range.
var ErrInnerOverflow = errors.New("bistro: inner step gave a weight that is not finite")

// step takes one AdamW step on theta over pages: the trainer's update at lr 1
// is −clip(g) in float32, negated exactly.
func (st *adamwState) step(ctx context.Context, p *Params, trainer Trainer, theta Model, pages [][]int32, lr float64, all []uint32, buf []float32) error {
	d, err := trainer.Update(ctx, theta, pages, 1, p.ClipNorm)
	if err != nil {
		return err
	}
	st.t++
	for t, spec := range theta.Layout() {
		n := spec.Len()
		g, x := st.g[:n], buf[:n]
		if err := d.Gather(t, all[:n], g); err != nil {
			return err
		}
		for i := range g {
			g[i] = -g[i]
		}
		if err := theta.Read(t, x); err != nil {
			return err
		}
		AdamWStep(p.InnerOptimizer, st.t, lr, x, st.m[t], st.v[t], g)
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w (tensor %q)", ErrInnerOverflow, spec.Name)
			}
		}
		if err := theta.Write(t, x); err != nil {
			return err
		}
	}
	return nil
}

// AdamWStep is step t (1, 2, …) of InnerAdamWV1 on one tensor (SPEC.md
// §2.4): theta, m and v are updated in place from the clipped gradient g
// (the same length). Every operation is one correctly rounded binary64
// operation in the order written, m and v are stored rounded to float32,
// and no multiply-add is fused (explicit conversions forbid it):
//
//	c1 = 1 − β1, c2 = 1 − β2, p1 = β1^t, p2 = β2^t (t multiplications from 1)
//	m  = f32(β1·m + c1·g)
//	v  = f32(β2·v + c2·(g·g))
//	u  = (m / (1 − p1)) / (√(v / (1 − p2)) + ε)
//	θ  = f32(θ − lr·(u + wd·θ))
//
// The moments of the first step are zero: a caller resets them every window.
func AdamWStep(o InnerOptimizer, t int, lr float64, theta, m, v, g []float32) {
	b1, b2, eps, wd := o.Beta1, o.Beta2, o.Eps, o.WeightDecay
	c1, c2 := 1-b1, 1-b2
	p1, p2 := 1.0, 1.0
	for range t {
		p1, p2 = p1*b1, p2*b2
	}
	bc1, bc2 := 1-p1, 1-p2
	for i, gi := range g {
		gf := float64(gi)
		mi := float32(float64(b1*float64(m[i])) + float64(c1*gf))
		vi := float32(float64(b2*float64(v[i])) + float64(c2*float64(gf*gf)))
		m[i], v[i] = mi, vi
		mh := float64(mi) / bc1
		vh := float64(vi) / bc2
		u := mh / (math.Sqrt(vh) + eps)
		x := float64(theta[i])
		theta[i] = float32(x - float64(lr*float64(u+float64(wd*x))))
	}
}
