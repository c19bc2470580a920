package launch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/train"
	"github.com/bistro-go/bistro/train/internal/cuda/kernels"
)

// GPT is the bistro.Trainer of gpt2/v1 on a Device, with train.GPT's results
// to the bit: the same sequences (train.GPT's doc), each run by the kernels
// of gpt.cu and mlp.cu in the order train's gptNet.step runs its layers, the
// float32 gradients added into float64 accumulators in sequence order, then
// mlp.cu's mean, squared norm and Δ, with the clip coefficient computed in
// Go as train computes it.
//
// A GPT is safe for concurrent use; its calls to the Device are serialised.
type GPT struct {
	dev    Device
	cfg    bistro.ModelConfig
	layout bistro.Layout
	d      gptDims
	mu     sync.Mutex
}

var _ bistro.Trainer = (*GPT)(nil)

// gptDims are the sizes of a gpt2/v1 model.
type gptDims struct{ v, c, e, h, l, nh int }

// NewGPT returns the trainer of gpt2/v1 models of cfg on dev.
func NewGPT(dev Device, cfg bistro.ModelConfig) (*GPT, error) {
	if dev == nil {
		return nil, errors.New("launch: nil device")
	}
	l, err := train.GPTLayout(cfg)
	if err != nil {
		return nil, err
	}
	d := gptDims{v: int(cfg.Vocab), c: int(cfg.Context), e: int(cfg.Embed), h: int(cfg.Hidden), l: int(cfg.Layers), nh: int(cfg.Heads)}
	if p := l.Len(); p > math.MaxInt32 || d.c*max(d.v, 3*d.e, d.h) > math.MaxInt32 || d.nh*d.c*d.c > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %s too large for the kernels' int sizes", ErrTooLarge, train.GPTArch)
	}
	return &GPT{dev: dev, cfg: cfg, layout: l, d: d}, nil
}

// NewModel returns a zeroed *bistro.MemModel with train.GPTLayout(cfg); cfg
// must be the trainer's config.
func (tr *GPT) NewModel(cfg bistro.ModelConfig) (bistro.Model, error) {
	if cfg != tr.cfg {
		return nil, fmt.Errorf("%w: model %+v, the trainer was made for %+v", train.ErrConfig, cfg, tr.cfg)
	}
	return bistro.NewMemModel(tr.layout)
}

// weights returns the parameters of m, flat in layout order.
func (tr *GPT) weights(m bistro.Model) ([]float32, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", bistro.ErrLayout)
	}
	if !slices.EqualFunc(m.Layout(), tr.layout, func(a, b bistro.TensorSpec) bool {
		return a.Name == b.Name && slices.Equal(a.Shape, b.Shape)
	}) {
		return nil, fmt.Errorf("%w: not the %s layout of the trainer's config", bistro.ErrLayout, train.GPTArch)
	}
	if mm, ok := m.(*bistro.MemModel); ok {
		return mm.Flat(), nil
	}
	flat := make([]float32, tr.layout.Len())
	off := 0
	for t, spec := range tr.layout {
		n := spec.Len()
		if err := m.Read(t, flat[off:off+n]); err != nil {
			return nil, fmt.Errorf("launch: read tensor %q: %w", spec.Name, err)
		}
		off += n
	}
	return flat, nil
}

// gptJob is one sequence: inputs tokens[start : start+n] of the
// concatenated pages, targets one further.
type gptJob struct{ start, n int }

// plan checks pages as train.GPT does, concatenates them and cuts them into
// train's sequences; it returns them with the number of predictions and the
// longest sequence.
func (d gptDims) plan(pages [][]int32) (tokens []int32, jobs []gptJob, total, longest int, err error) {
	if len(pages) == 0 {
		return nil, nil, 0, 0, fmt.Errorf("%w: no pages", train.ErrPage)
	}
	for i, pg := range pages {
		if len(pg) < 2 {
			return nil, nil, 0, 0, fmt.Errorf("%w: page %d has %d tokens: no prediction", train.ErrPage, i, len(pg))
		}
		for j, t := range pg {
			if t < 0 || int(t) >= d.v {
				return nil, nil, 0, 0, fmt.Errorf("%w: page %d token %d is %d, vocab is %d", train.ErrPage, i, j, t, d.v)
			}
		}
		base := len(tokens)
		tokens = append(tokens, pg...)
		for s := 0; s < len(pg)-1; s += d.c {
			n := min(d.c, len(pg)-1-s)
			jobs = append(jobs, gptJob{start: base + s, n: n})
			longest = max(longest, n)
		}
		total += len(pg) - 1
	}
	if len(tokens) > math.MaxInt32 {
		return nil, nil, 0, 0, fmt.Errorf("%w: %d tokens", ErrTooLarge, len(tokens))
	}
	return tokens, jobs, total, longest, nil
}

// gptTensors are device views of one model's (or gradient's) tensors.
type gptTensors struct {
	wte, wpe   Ptr
	h          []gptBlockTensors
	lnfW, lnfB Ptr
}

type gptBlockTensors struct {
	ln1w, ln1b, attnW, attnB, projW, projB Ptr
	ln2w, ln2b, fcW, fcB, mprojW, mprojB   Ptr
}

// view lays the tensors out from base, in layout order (train's viewGPT).
func (d gptDims) view(base Ptr) gptTensors {
	off := 0
	next := func(n int) Ptr {
		p := base + Ptr(off*f32)
		off += n
		return p
	}
	t := gptTensors{h: make([]gptBlockTensors, d.l)}
	t.wte = next(d.v * d.e)
	t.wpe = next(d.c * d.e)
	for i := range t.h {
		b := &t.h[i]
		b.ln1w, b.ln1b = next(d.e), next(d.e)
		b.attnW, b.attnB = next(d.e*3*d.e), next(3*d.e)
		b.projW, b.projB = next(d.e*d.e), next(d.e)
		b.ln2w, b.ln2b = next(d.e), next(d.e)
		b.fcW, b.fcB = next(d.e*d.h), next(d.h)
		b.mprojW, b.mprojB = next(d.h*d.e), next(d.e)
	}
	t.lnfW, t.lnfB = next(d.e), next(d.e)
	return t
}

// gptActs are one block's activations that the backward pass reads.
type gptActs struct {
	xhat1, a1, rstd1, qkv, att, y, xhat2, a2, rstd2, f, g Ptr
}

// gptModel is the device state of one Update or Loss.
type gptModel struct {
	d                  gptDims
	p                  int
	w, grad            gptTensors
	wflat, gflat       Ptr
	tokens             Ptr
	x, o               Ptr // n × e
	acts               []gptActs
	xhatf, xf, rstdf   Ptr
	lg, dlg, ex        Ptr
	rowLoss, loss      Ptr
	dx, da, dy, dqkv   Ptr
	dg, dp             Ptr
	acc, delta         Ptr
	scale              float64
	withGrad, perBlock bool
}

func (tr *GPT) setup(ar *arena, flat []float32, tokens []int32, rows int, grad bool) (*gptModel, error) {
	d := tr.d
	p := len(flat)
	m := &gptModel{d: d, p: p, withGrad: grad, scale: 1 / math.Sqrt(float64(d.e/d.nh))}
	m.wflat = ar.alloc(p * f32)
	m.w = d.view(m.wflat)
	m.tokens = ar.alloc(len(tokens) * 4)
	m.x, m.o = ar.alloc(rows*d.e*f32), ar.alloc(rows*d.e*f32)
	blocks := 1
	if grad {
		blocks = d.l
	}
	m.acts = make([]gptActs, blocks)
	for i := range m.acts {
		a := &m.acts[i]
		a.xhat1, a.a1, a.rstd1 = ar.alloc(rows*d.e*f32), ar.alloc(rows*d.e*f32), ar.alloc(rows*f64)
		a.qkv, a.att, a.y = ar.alloc(rows*3*d.e*f32), ar.alloc(d.nh*rows*rows*f32), ar.alloc(rows*d.e*f32)
		a.xhat2, a.a2, a.rstd2 = ar.alloc(rows*d.e*f32), ar.alloc(rows*d.e*f32), ar.alloc(rows*f64)
		a.f, a.g = ar.alloc(rows*d.h*f32), ar.alloc(rows*d.h*f32)
	}
	m.xhatf, m.xf, m.rstdf = ar.alloc(rows*d.e*f32), ar.alloc(rows*d.e*f32), ar.alloc(rows*f64)
	m.lg, m.ex = ar.alloc(rows*d.v*f32), ar.alloc(rows*d.v*f64)
	m.rowLoss, m.loss = ar.alloc(rows*f64), ar.alloc(f64)
	if grad {
		m.dlg = ar.alloc(rows * d.v * f32)
		m.dx, m.da, m.dy = ar.alloc(rows*d.e*f32), ar.alloc(rows*d.e*f32), ar.alloc(rows*d.e*f32)
		m.dqkv, m.dg, m.dp = ar.alloc(rows*3*d.e*f32), ar.alloc(rows*d.h*f32), ar.alloc(d.nh*rows*rows*f32)
		m.gflat = ar.alloc(p * f32)
		m.grad = d.view(m.gflat)
		m.acc, m.delta = ar.alloc(p*f64), ar.alloc(p*f32)
	}
	if ar.err != nil {
		return nil, ar.err
	}
	if err := tr.dev.CopyIn(m.wflat, flat); err != nil {
		return nil, fmt.Errorf("launch: copy weights: %w", err)
	}
	if err := tr.dev.CopyIn(m.tokens, tokens); err != nil {
		return nil, fmt.Errorf("launch: copy pages: %w", err)
	}
	return m, nil
}

func i32(n int) int32 { return int32(n) }
func i64(n int) int64 { return int64(n) }

// matmul launches one of gpt.cu's products: nb batches of C (m × n) at
// c + b·sc, from a and b, with leading dimensions and batch strides in
// elements.
func matmul(l *launcher, kernel string, c, a, b Ptr, nb, m, k, n, lda, ldb, ldc, sa, sb, sc int) {
	l.run(kernel, nb*m*n, c, a, b, i32(nb), i32(m), i32(k), i32(n), i32(lda), i32(ldb), i32(ldc), i64(sa), i64(sb), i64(sc))
}

// linearForward is train's linearForward: y (m × n) = x (m × k) · w + b.
func linearForward(l *launcher, y, x, w, b Ptr, m, k, n int) {
	matmul(l, kernels.GPTMatmulNN, y, x, w, 1, m, k, n, k, n, n, 0, 0, 0)
	l.run(kernels.GPTAddBias, m*n, y, b, i32(m), i32(n))
}

// linearBackward is train's linearBackward: dw = xᵀ·dy, db = Σ rows of dy,
// dx = dy·wᵀ.
func linearBackward(l *launcher, dx, dw, db, dy, x, w Ptr, m, k, n int) {
	matmul(l, kernels.GPTMatmulTN, dw, x, dy, 1, k, m, n, k, n, n, 0, 0, 0)
	l.run(kernels.GPTBiasGrad, n, db, dy, i32(m), i32(n))
	matmul(l, kernels.GPTMatmulNT, dx, dy, w, 1, m, n, k, n, n, k, 0, 0, 0)
}

// layerNormForward is train's layerNormForward over n rows of width e.
func layerNormForward(l *launcher, y, xhat, rstd, x, w, b Ptr, n, e int) {
	l.run(kernels.GPTLayerNormForward, n, y, xhat, rstd, x, w, b, i32(n), i32(e), float64(train.GPTLayerNormEps))
}

// layerNormBackward is train's layerNormBackward: dw, db written, the
// input's gradient added into dx.
func layerNormBackward(l *launcher, dx, dw, db, dy, xhat, rstd, w Ptr, n, e int) {
	l.run(kernels.GPTLayerNormBackwardParams, e, dw, db, dy, xhat, i32(n), i32(e))
	l.run(kernels.GPTLayerNormBackwardInput, n, dx, dy, xhat, rstd, w, i32(n), i32(e))
}

// step runs one sequence as train's gptNet.step does.
func (m *gptModel) step(l *launcher, dev Device, j gptJob) error {
	d := m.d
	n, e, h, nh, hd := j.n, m.d.e, m.d.h, m.d.nh, m.d.e/m.d.nh
	w := &m.w
	l.run(kernels.GPTEmbedForward, n*e, m.x, w.wte, w.wpe, m.tokens, i32(j.start), i32(n), i32(e))
	for li := range d.l {
		b := &w.h[li]
		a := &m.acts[min(li, len(m.acts)-1)]
		layerNormForward(l, a.a1, a.xhat1, a.rstd1, m.x, b.ln1w, b.ln1b, n, e)
		linearForward(l, a.qkv, a.a1, b.attnW, b.attnB, n, e, 3*e)
		// Attention, all heads at once: S = q·kᵀ, P = causal softmax,
		// y_h = P·v_h (train's attentionForward, head by head).
		q, k, v := a.qkv, a.qkv+Ptr(e*f32), a.qkv+Ptr(2*e*f32)
		matmul(l, kernels.GPTMatmulNT, a.att, q, k, nh, n, hd, n, 3*e, 3*e, n, hd, hd, n*n)
		l.run(kernels.GPTCausalSoftmax, nh*n, a.att, i32(nh), i32(n), m.scale)
		matmul(l, kernels.GPTMatmulNN, a.y, a.att, v, nh, n, n, hd, n, 3*e, e, n*n, hd, hd)
		linearForward(l, m.o, a.y, b.projW, b.projB, n, e, e)
		l.run(kernels.GPTAdd, n*e, m.x, m.o, i32(n*e))
		layerNormForward(l, a.a2, a.xhat2, a.rstd2, m.x, b.ln2w, b.ln2b, n, e)
		linearForward(l, a.f, a.a2, b.fcW, b.fcB, n, e, h)
		l.run(kernels.GPTGeluForward, n*h, a.g, a.f, i32(n*h))
		linearForward(l, m.o, a.g, b.mprojW, b.mprojB, n, h, e)
		l.run(kernels.GPTAdd, n*e, m.x, m.o, i32(n*e))
	}
	layerNormForward(l, m.xf, m.xhatf, m.rstdf, m.x, w.lnfW, w.lnfB, n, e)
	matmul(l, kernels.GPTMatmulNT, m.lg, m.xf, w.wte, 1, n, e, d.v, e, e, d.v, 0, 0, 0)
	dlg := Ptr(0)
	if m.withGrad {
		dlg = m.dlg
	}
	l.run(kernels.MLPCrossEntropy, n, dlg, m.rowLoss, m.ex, m.lg, m.tokens, i32(j.start+1), i32(n), i32(d.v))
	l.run(kernels.MLPLossSum, 1, m.loss, m.rowLoss, i32(n))
	if !m.withGrad {
		return l.err
	}

	g := &m.grad
	// The head: dxf = dlg·wte, dwte = dlgᵀ·xf (written; the embedding adds
	// to it last).
	matmul(l, kernels.GPTMatmulNN, m.da, m.dlg, w.wte, 1, n, d.v, e, d.v, e, e, 0, 0, 0)
	matmul(l, kernels.GPTMatmulTN, g.wte, m.dlg, m.xf, 1, d.v, n, e, d.v, e, e, 0, 0, 0)
	if l.err == nil {
		if err := dev.Zero(m.dx, n*e*f32); err != nil {
			return fmt.Errorf("launch: zero dx: %w", err)
		}
	}
	layerNormBackward(l, m.dx, g.lnfW, g.lnfB, m.da, m.xhatf, m.rstdf, w.lnfW, n, e)
	for li := d.l - 1; li >= 0; li-- {
		b, gb, a := &w.h[li], &g.h[li], &m.acts[li]
		linearBackward(l, m.dg, gb.mprojW, gb.mprojB, m.dx, a.g, b.mprojW, n, h, e)
		l.run(kernels.GPTGeluBackward, n*h, m.dg, m.dg, a.f, i32(n*h))
		linearBackward(l, m.da, gb.fcW, gb.fcB, m.dg, a.a2, b.fcW, n, e, h)
		layerNormBackward(l, m.dx, gb.ln2w, gb.ln2b, m.da, a.xhat2, a.rstd2, b.ln2w, n, e)
		linearBackward(l, m.dy, gb.projW, gb.projB, m.dx, a.y, b.projW, n, e, e)
		// Attention backward (train's attentionBackward), all heads at once:
		// dP = dy_h·v_hᵀ, dv_h = Pᵀ·dy_h, dS from dP and P, dq_h = dS·k_h,
		// dk_h = dSᵀ·q_h.
		q, k, v := a.qkv, a.qkv+Ptr(e*f32), a.qkv+Ptr(2*e*f32)
		dq, dk, dv := m.dqkv, m.dqkv+Ptr(e*f32), m.dqkv+Ptr(2*e*f32)
		matmul(l, kernels.GPTMatmulNT, m.dp, m.dy, v, nh, n, hd, n, e, 3*e, n, hd, hd, n*n)
		matmul(l, kernels.GPTMatmulTN, dv, a.att, m.dy, nh, n, n, hd, n, e, 3*e, n*n, hd, hd)
		l.run(kernels.GPTCausalSoftmaxBackward, nh*n, m.dp, a.att, i32(nh), i32(n), m.scale)
		matmul(l, kernels.GPTMatmulNN, dq, m.dp, k, nh, n, n, hd, n, 3*e, 3*e, n*n, hd, hd)
		matmul(l, kernels.GPTMatmulTN, dk, m.dp, q, nh, n, n, hd, n, 3*e, 3*e, n*n, hd, hd)
		linearBackward(l, m.da, gb.attnW, gb.attnB, m.dqkv, a.a1, b.attnW, n, e, 3*e)
		layerNormBackward(l, m.dx, gb.ln1w, gb.ln1b, m.da, a.xhat1, a.rstd1, b.ln1w, n, e)
	}
	l.run(kernels.GPTEmbedBackward, (d.v+d.c)*e, g.wte, g.wpe, m.dx, m.tokens, i32(j.start), i32(n), i32(e), i32(d.v), i32(d.c))
	l.run(kernels.MLPAccumulate, m.p, m.acc, m.gflat, i32(m.p))
	return l.err
}

// Update returns Δ = −lr · clip(g) as a *bistro.MemModel of m's layout, the
// bits of train.GPT's Update. m is only read.
func (tr *GPT) Update(ctx context.Context, m bistro.Model, pages [][]int32, lr, clipNorm float64) (_ bistro.Tensors, err error) {
	if err := checkStep(lr, clipNorm); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	flat, err := tr.weights(m)
	if err != nil {
		return nil, err
	}
	tokens, jobs, total, longest, err := tr.d.plan(pages)
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ar := &arena{dev: tr.dev}
	defer func() { err = errors.Join(err, ar.free()) }()
	dm, err := tr.setup(ar, flat, tokens, longest, true)
	if err != nil {
		return nil, err
	}
	l := &launcher{dev: tr.dev}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := dm.step(l, tr.dev, j); err != nil {
			return nil, err
		}
	}
	return finish(tr.dev, l, dm.acc, dm.delta, dm.p, total, lr, clipNorm, m.Layout())
}

// Loss returns the mean cross-entropy in nats over all predictions of
// pages, the bits of train.GPT's Loss.
func (tr *GPT) Loss(ctx context.Context, m bistro.Model, pages [][]int32) (_ float64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	flat, err := tr.weights(m)
	if err != nil {
		return 0, err
	}
	tokens, jobs, total, longest, err := tr.d.plan(pages)
	if err != nil {
		return 0, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ar := &arena{dev: tr.dev}
	defer func() { err = errors.Join(err, ar.free()) }()
	dm, err := tr.setup(ar, flat, tokens, longest, false)
	if err != nil {
		return 0, err
	}
	l := &launcher{dev: tr.dev}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := dm.step(l, tr.dev, j); err != nil {
			return 0, err
		}
	}
	s := make([]float64, 1)
	if err := tr.dev.CopyOut(s, dm.loss); err != nil {
		return 0, fmt.Errorf("launch: copy the loss: %w", err)
	}
	return s[0] / float64(total), nil
}
