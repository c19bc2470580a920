package bistro

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
)

// Outer is the outer optimizer's state of a replica (SPEC.md §2.5): under
// OuterNesterovV1 a momentum buffer m with θ's layout, zero at genesis,
// changed only at the touched indices; under OuterSGD nothing at all. Every
// place that applies an aggregate goes through ApplyAggregate with the
// replica's Outer, so θ and m move together. Not safe for concurrent use.
type Outer struct {
	opt OuterOptimizer
	mom *MemModel // nil under OuterSGD
}

// NewOuter returns the genesis outer state of p's outer optimizer for a
// model of layout: a zero momentum buffer under OuterNesterovV1 (as much
// memory as θ), nothing under OuterSGD.
func NewOuter(p *Params, layout Layout) (*Outer, error) {
	if err := p.OuterOptimizer.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidParams, err)
	}
	o := &Outer{opt: p.OuterOptimizer}
	if o.opt.HasState() {
		m, err := NewMemModel(layout)
		if err != nil {
			return nil, err
		}
		o.mom = m
	}
	return o, nil
}

// Optimizer returns the outer optimizer.
func (o *Outer) Optimizer() OuterOptimizer { return o.opt }

// Momentum returns the momentum buffer, nil under OuterSGD. Callers must not
// change it but through ApplyAggregate, SetMomentum or an undo.
func (o *Outer) Momentum() *MemModel { return o.mom }

// Clone returns a deep copy.
func (o *Outer) Clone() *Outer {
	c := &Outer{opt: o.opt}
	if o.mom != nil {
		c.mom = o.mom.Clone()
	}
	return c
}

// Reset zeroes the momentum (the state at genesis).
func (o *Outer) Reset() {
	if o.mom != nil {
		clear(o.mom.Flat())
	}
}

// SetMomentum replaces the momentum with tensors (a checkpoint's; nil means
// zero, the genesis state). Under OuterSGD only nil is accepted.
func (o *Outer) SetMomentum(tensors [][]float32) error {
	if o.mom == nil {
		if tensors != nil {
			return fmt.Errorf("%w: momentum for outer optimizer %q, which has none", ErrWrongShape, o.opt.Kind)
		}
		return nil
	}
	if tensors == nil {
		o.Reset()
		return nil
	}
	if len(tensors) != len(o.mom.Layout()) {
		return fmt.Errorf("%w: momentum of %d tensors for a layout of %d", ErrWrongShape, len(tensors), len(o.mom.Layout()))
	}
	for t, v := range tensors {
		if err := o.mom.Write(t, v); err != nil {
			return err
		}
	}
	return nil
}

// ErrNoOuter is returned when an aggregate is applied without the replica's
// outer state.
var ErrNoOuter = errors.New("bistro: no outer optimizer state")

// OuterStep is the outer step of one touched coordinate (SPEC.md §2.5):
// given the momentum m and the aggregate's value a, it returns the new
// momentum and the increment u that is added to θ in float32
// (θ = float32(θ + u), Model.Apply). Under OuterSGD, u = a and m is
// unchanged. Under OuterNesterovV1, with μ = momentum and L = lr, in binary64
// rounded once to float32 where written, every operation rounded on its own
// (no fused multiply-add: the explicit conversions forbid it in Go):
//
//	m' = float32(μ·m + a)
//	u  = float32(L·(μ·m' + a))
func OuterStep(opt OuterOptimizer, m, a float32) (mNew, u float32) {
	if opt.Kind != OuterNesterovV1 {
		return m, a
	}
	mu := opt.Momentum
	mNew = float32(float64(mu*float64(m)) + float64(a))
	s := float64(mu*float64(mNew)) + float64(a)
	return mNew, float32(opt.LR * s)
}

// ApplyAggregate applies an aggregate's tensors to the replica (m, o) at
// indices by the outer optimizer (SPEC.md §2.5): under OuterSGD θ[idx] += a;
// under OuterNesterovV1 the momentum and θ change at idx by OuterStep. Only
// the touched coordinates change.
func ApplyAggregate(m Model, o *Outer, indices Indices, a *File) error {
	if len(a.Tensors) != len(indices) {
		return fmt.Errorf("%w: aggregate of %d tensors for %d", ErrWrongShape, len(a.Tensors), len(indices))
	}
	return ApplyOuter(m, o, indices, a.Tensors)
}

// ApplyOuter is ApplyAggregate of the values a (a[t] at indices[t]). It
// also serves the data-parallel baseline, whose indices are every
// coordinate.
func ApplyOuter(m Model, o *Outer, indices Indices, a [][]float32) error {
	if o == nil {
		return ErrNoOuter
	}
	if len(a) != len(indices) {
		return fmt.Errorf("%w: %d tensors of values for %d", ErrWrongShape, len(a), len(indices))
	}
	if o.mom == nil {
		for t, idx := range indices {
			if err := m.Apply(t, idx, a[t]); err != nil {
				return err
			}
		}
		return nil
	}
	// Every shape and index checked before anything changes.
	for t, idx := range indices {
		if len(a[t]) != len(idx) {
			return fmt.Errorf("%w: %d indices, %d values", ErrLayout, len(idx), len(a[t]))
		}
		mv := o.mom.Tensor(t)
		if mv == nil {
			return fmt.Errorf("%w: tensor %d of %d", ErrLayout, t, len(o.mom.Layout()))
		}
		for _, j := range idx {
			if int(j) >= len(mv) {
				return fmt.Errorf("%w: index %d out of tensor %q of %d", ErrLayout, j, o.mom.Layout()[t].Name, len(mv))
			}
		}
	}
	var u, old []float32
	for t, idx := range indices {
		mv := o.mom.Tensor(t)
		u = slices.Grow(u[:0], len(idx))[:len(idx)]
		old = slices.Grow(old[:0], len(idx))[:len(idx)]
		for i, j := range idx {
			old[i] = mv[j]
			mv[j], u[i] = OuterStep(o.opt, mv[j], a[t][i])
		}
		if err := m.Apply(t, idx, u); err != nil {
			for i, j := range idx { // θ[t] unchanged (Apply checks first): so is m[t]
				mv[j] = old[i]
			}
			return err
		}
	}
	return nil
}

// TouchedState returns the touched hash of the replica (m, o) at indices,
// the third field of the state digest chain (SPEC.md §8.5): TouchedHash of θ
// under OuterSGD; under OuterNesterovV1 H("bistro/touched-outer", for each
// tensor: u64 count ‖ the float32 values of θ at indices ‖ those of the
// momentum at indices), so replicas whose momentum differs have different
// digests.
func TouchedState(m Tensors, o *Outer, indices Indices) (Hash, error) {
	if o == nil {
		return Hash{}, ErrNoOuter
	}
	if o.mom == nil {
		return TouchedHash(m, indices)
	}
	return touchedHash("bistro/touched-outer", indices, m, o.mom)
}

// StepState applies aggregate a (of the window base(w+1) = base(w) + a
// adds) to the replica (m, o) at indices and returns the next state digest
// NextState(prev, a's payload hash, TouchedState): the one way the
// participants and the scoring package move a replica.
func StepState(m Model, o *Outer, prev Hash, indices Indices, a *File) (Hash, error) {
	if err := ApplyAggregate(m, o, indices, a); err != nil {
		return Hash{}, err
	}
	touched, err := TouchedState(m, o, indices)
	if err != nil {
		return Hash{}, err
	}
	return NextState(prev, a.PayloadHash(m.Layout()), touched), nil
}

// MomentumHash returns the SHA-256 of a momentum buffer, as ThetaHash of θ
// but with the domain "bistro/momentum": SHA-256(u8 len ‖ "bistro/momentum"
// ‖ layout digest ‖ every tensor's float32 little-endian bytes in layout
// order). A checkpoint under OuterNesterovV1 names it (SPEC.md §8.4).
func MomentumHash(layout Layout, tensors [][]float32) Hash {
	h := sha256.New()
	const domain = "bistro/momentum"
	h.Write([]byte{byte(len(domain))})
	h.Write([]byte(domain))
	ld := layout.Digest()
	h.Write(ld[:])
	for _, v := range tensors {
		h.Write(f32Bytes(v))
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// MomentumTensorName is the name a checkpoint gives the momentum of tensor
// name.
func MomentumTensorName(name string) string { return "outer.momentum/" + name }

// CheckpointHasMomentum reports whether a checkpoint of window w under p
// carries the momentum: under an outer optimizer with state, every
// checkpoint but the genesis one (window FirstWindow, where m is zero by
// definition).
func CheckpointHasMomentum(p *Params, w uint64) bool {
	return p.OuterOptimizer.HasState() && w != p.FirstWindow
}

// momentumLayout is layout followed by the momentum's tensors.
func momentumLayout(layout Layout) Layout {
	out := slices.Clone(layout)
	for _, t := range layout {
		out = append(out, TensorSpec{Name: MomentumTensorName(t.Name), Shape: t.Shape})
	}
	return out
}
