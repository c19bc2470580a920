package bistro

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quadTrainer is the small model of the adamw.json vectors: two tensors and
// the loss ½‖θ − c‖², so g = θ − c in binary64. Update follows the trainers'
// rule (SPEC.md §12): ‖g‖² summed in layout order, coef = −lr, or
// −lr·(clip/‖g‖) when ‖g‖ > clip, Δ_i = f32(coef·g_i). It records the θ_k it
// was called on and the clipped gradient it returned.
type quadTrainer struct {
	layout Layout
	target [][]float32
	seen   [][][]float32 // θ_k per call
	grads  [][][]float32 // ĝ_k = −Δ at lr 1 per call
}

func (q *quadTrainer) NewModel(ModelConfig) (Model, error) { return NewMemModel(q.layout) }

func (q *quadTrainer) Update(_ context.Context, m Model, pages [][]int32, lr, clip float64) (Tensors, error) {
	th := make([][]float32, len(q.layout))
	var sq float64
	for t, spec := range q.layout {
		th[t] = make([]float32, spec.Len())
		if err := m.Read(t, th[t]); err != nil {
			return nil, err
		}
		for i, x := range th[t] {
			g := float64(x) - float64(q.target[t][i])
			sq += float64(g * g)
		}
	}
	coef := -lr
	if n := math.Sqrt(sq); n > clip {
		coef = -lr * (clip / n)
	}
	d, err := NewMemModel(q.layout)
	if err != nil {
		return nil, err
	}
	gr := make([][]float32, len(q.layout))
	for t := range q.layout {
		out := d.Tensor(t)
		gr[t] = make([]float32, len(out))
		for i, x := range th[t] {
			out[i] = float32(coef * (float64(x) - float64(q.target[t][i])))
		}
	}
	q.seen = append(q.seen, th)
	if lr == 1 {
		for t := range gr {
			for i := range gr[t] {
				gr[t][i] = -d.Tensor(t)[i]
			}
		}
		q.grads = append(q.grads, gr)
	}
	return d, nil
}

func (q *quadTrainer) Loss(context.Context, Model, [][]int32) (float64, error) { return 0, nil }

// quadCase builds the model of one vector: θ₀ and c drawn from seed, values
// in [−scale, scale) as float32, with a few coordinates where θ₀ = c (zero
// gradient) and a few gradients near float32's smallest normals.
func quadCase(seed string, scale float32) (Layout, []float32, [][]float32) {
	layout := Layout{{Name: "a", Shape: []int{3}}, {Name: "b", Shape: []int{2, 3}}}
	r := NewRand(seedOf(seed))
	draw := func() float32 { return (float32(r.Below(1<<24))/(1<<23) - 1) * scale }
	var theta []float32
	var target [][]float32
	for t, spec := range layout {
		target = append(target, make([]float32, spec.Len()))
		for i := range spec.Len() {
			x, c := draw(), draw()
			switch {
			case t == 1 && i == 0:
				c = x // a zero gradient: u = 0/(0+ε)
			case t == 1 && i == 1:
				x, c = 1e-30, 2e-30 // a gradient whose square underflows float32
			}
			theta = append(theta, x)
			target[t][i] = c
		}
	}
	return layout, theta, target
}

// TestVectorsAdamW pins the AdamW inner optimizer of SPEC.md §2.4 on a small
// model (quadTrainer): the θ_k each step's gradient is taken on, the clipped
// gradients, Δ = θ_H − θ_base, and the norm bounds of §10.1 under adamw/v1.
func TestVectorsAdamW(t *testing.T) {
	type step struct {
		Theta [][]float32 `json:"theta"`
		Grad  [][]float32 `json:"grad"`
	}
	type vec struct {
		LR            Schedule       `json:"lr"`
		SliceFraction float64        `json:"slice_fraction"`
		LRScale       string         `json:"lr_scale"`
		Window        uint64         `json:"window"`
		StepLR        float64        `json:"step_lr"`
		InnerSteps    uint32         `json:"inner_steps"`
		Pages         int            `json:"pages"`
		ClipNorm      float64        `json:"clip_norm"`
		Optimizer     InnerOptimizer `json:"inner_optimizer"`
		Parameters    uint64         `json:"parameters"`
		Checks        CheckParams    `json:"checks"`
		MinNorm       float64        `json:"min_norm"`
		MaxNorm       *float64       `json:"max_norm"` // null: no upper bound
		Target        [][]float32    `json:"target"`
		Theta0        [][]float32    `json:"theta0"`
		Steps         []step         `json:"steps"`
		Delta         [][]float32    `json:"delta"`
	}
	var out []vec
	for i, c := range []struct {
		lr    Schedule
		f     float64
		scale string
		w     uint64
		h     uint32
		pages int
		clip  float64
		o     InnerOptimizer
		ch    CheckParams
		size  float32
	}{
		{Schedule{Kind: ConstantLR, Base: 0.01}, 0.25, LRScaleNone, 0, 1, 2, 1, AdamW(), CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.05}, 1},
		{Schedule{Kind: ConstantLR, Base: 0.05}, 0.25, LRScaleInverseFraction, 3, 3, 3, 10,
			InnerOptimizer{Kind: InnerAdamWV1, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1}, CheckParams{MaxNormFactor: 1.5, MinNormFactor: 0.1}, 1},
		{Schedule{Kind: LinearLR, Base: 0.1, Min: 0.003, Warmup: 2, Total: 20}, 0.013, LRScaleInverseFraction, 5, 4, 7, 0.7,
			InnerOptimizer{Kind: InnerAdamWV1, Beta1: 0, Beta2: 0, Eps: 1e-3, WeightDecay: 0}, CheckParams{MaxNormFactor: 1}, 3},
		{Schedule{Kind: ConstantLR, Base: 3e-4}, 0.5, LRScaleNone, 1 << 40, 2, 2, 2.5, AdamW(), CheckParams{MaxNormFactor: 1.01, MinNormFactor: 0.5}, 0.01},
	} {
		layout, theta0, target := quadCase(string(rune('a'+i)), c.size)
		base, err := NewMemModel(layout)
		require.NoError(t, err)
		copy(base.Flat(), theta0)
		p := Params{LR: c.lr, SliceFraction: c.f, LRScale: c.scale, InnerSteps: c.h, ClipNorm: c.clip,
			InnerOptimizer: c.o, Checks: c.ch, Model: ModelConfig{Parameters: uint64(len(theta0))}}
		pages := make([][]int32, c.pages)
		q := &quadTrainer{layout: layout, target: target}
		d, err := TrainUpdate(context.Background(), &p, q, base, pages, c.w)
		require.NoError(t, err)
		require.Len(t, q.grads, int(c.h), "one gradient at lr 1 per step")
		assert.Equal(t, theta0, base.Flat(), "the base is not changed")
		v := vec{LR: c.lr, SliceFraction: c.f, LRScale: c.scale, Window: c.w, StepLR: p.StepLR(c.w), InnerSteps: c.h,
			Pages: c.pages, ClipNorm: c.clip, Optimizer: c.o, Parameters: uint64(len(theta0)), Checks: c.ch,
			Target: target, Theta0: splitTensors(layout, theta0)}
		lo, hi := NormBounds(&p, c.w)
		require.True(t, math.IsInf(hi, 1), "adamw/v1 has no upper norm bound")
		v.MinNorm = lo
		for k := range q.grads {
			v.Steps = append(v.Steps, step{q.seen[k], q.grads[k]})
		}
		var flat []float32
		for ti := range layout {
			flat = append(flat, d.(*MemModel).Tensor(ti)...)
		}
		v.Delta = splitTensors(layout, flat)
		out = append(out, v)
	}
	golden(t, "adamw.json", out)
}

func splitTensors(layout Layout, flat []float32) [][]float32 {
	var out [][]float32
	for _, spec := range layout {
		out = append(out, append([]float32(nil), flat[:spec.Len()]...))
		flat = flat[spec.Len():]
	}
	return out
}
