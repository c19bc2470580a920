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

// MLP is the bistro.Trainer of mlp/v1 on a Device, with train.MLP's
// results to the bit: the same micro-batches (train.MicroBatch examples, none
// spanning two pages), each run by the kernels of mlp.cu in the order
// train's net.step runs its layers, the float32 gradients added into float64
// accumulators in micro-batch order, then the mean, the squared norm, the
// clip coefficient (computed here, in Go, as train.MLP computes it) and Δ.
//
// An MLP is safe for concurrent use; its calls to the Device are
// serialised.
type MLP struct {
	dev Device
	mu  sync.Mutex
}

var _ bistro.Trainer = (*MLP)(nil)

// NewMLP returns the trainer of mlp/v1 on dev.
func NewMLP(dev Device) (*MLP, error) {
	if dev == nil {
		return nil, errors.New("launch: nil device")
	}
	return &MLP{dev: dev}, nil
}

// NewModel returns a zeroed *bistro.MemModel with train.MLPLayout(cfg).
func (*MLP) NewModel(cfg bistro.ModelConfig) (bistro.Model, error) {
	return train.MLP{}.NewModel(cfg)
}

// dims are the sizes of an mlp/v1 model.
type dims struct{ v, c, e, h int }

func (d dims) k() int { return d.c * d.e }

// offsets of the tensors in a flat buffer in layout order, in elements.
func (d dims) offsets() (embed, hw, hb, ow, ob, total int) {
	embed = 0
	hw = embed + d.v*d.e
	hb = hw + d.k()*d.h
	ow = hb + d.h
	ob = ow + d.h*d.v
	total = ob + d.v
	return
}

// layoutDims returns the sizes of l, which must be train.MLPLayout of some
// config.
func layoutDims(l bistro.Layout) (dims, error) {
	bad := fmt.Errorf("%w: not an %s layout", bistro.ErrLayout, train.MLPArch)
	if len(l) != 5 || len(l[0].Shape) != 2 || len(l[2].Shape) != 1 || l[0].Shape[1] <= 0 {
		return dims{}, bad
	}
	d := dims{v: l[0].Shape[0], e: l[0].Shape[1], h: l[2].Shape[0]}
	if len(l[1].Shape) != 2 || l[1].Shape[0]%d.e != 0 {
		return dims{}, bad
	}
	d.c = l[1].Shape[0] / d.e
	for _, n := range []int{d.v, d.c, d.e, d.h} {
		if n <= 0 || n > math.MaxUint32 {
			return dims{}, bad
		}
	}
	cfg, err := train.NewMLPConfig(uint32(d.v), uint32(d.c), uint32(d.e), uint32(d.h))
	if err != nil {
		return dims{}, fmt.Errorf("%w: %w", bad, err)
	}
	want, err := train.MLPLayout(cfg)
	if err != nil {
		return dims{}, fmt.Errorf("%w: %w", bad, err)
	}
	if !slices.EqualFunc(l, want, func(a, b bistro.TensorSpec) bool {
		return a.Name == b.Name && slices.Equal(a.Shape, b.Shape)
	}) {
		return dims{}, bad
	}
	// The kernels index with int: every buffer of a micro-batch, and the
	// parameters, must fit.
	if _, _, _, _, _, p := d.offsets(); p > math.MaxInt32 || train.MicroBatch*max(d.k(), d.v) > math.MaxInt32 {
		return dims{}, fmt.Errorf("%w: %s too large for the kernels' int sizes", ErrTooLarge, train.MLPArch)
	}
	return d, nil
}

// ErrTooLarge is wrapped by errors about models whose buffers the kernels'
// 32-bit sizes cannot index.
var ErrTooLarge = errors.New("launch: model too large")

// weights returns the parameters of m, flat in layout order.
func weights(m bistro.Model) (dims, []float32, error) {
	if m == nil {
		return dims{}, nil, fmt.Errorf("%w: nil model", bistro.ErrLayout)
	}
	d, err := layoutDims(m.Layout())
	if err != nil {
		return d, nil, err
	}
	if mm, ok := m.(*bistro.MemModel); ok {
		return d, mm.Flat(), nil
	}
	_, _, _, _, _, p := d.offsets()
	flat := make([]float32, p)
	off := 0
	for t, spec := range m.Layout() {
		n := spec.Len()
		if err := m.Read(t, flat[off:off+n]); err != nil {
			return d, nil, fmt.Errorf("launch: read tensor %q: %w", spec.Name, err)
		}
		off += n
	}
	return d, flat, nil
}

// job is one micro-batch: the examples predicting tokens[start : start+rows]
// of the concatenated pages.
type job struct{ start, rows int }

// plan checks pages as train.MLP does, concatenates them and cuts them
// into train's micro-batches; it returns them with the number of predicted
// tokens.
func plan(d dims, pages [][]int32) ([]int32, []job, int, error) {
	if len(pages) == 0 {
		return nil, nil, 0, fmt.Errorf("%w: no pages", train.ErrPage)
	}
	var tokens []int32
	var jobs []job
	total := 0
	for i, pg := range pages {
		if len(pg) <= d.c {
			return nil, nil, 0, fmt.Errorf("%w: page %d has %d tokens, context is %d: no example", train.ErrPage, i, len(pg), d.c)
		}
		for j, t := range pg {
			if t < 0 || int(t) >= d.v {
				return nil, nil, 0, fmt.Errorf("%w: page %d token %d is %d, vocab is %d", train.ErrPage, i, j, t, d.v)
			}
		}
		base := len(tokens)
		tokens = append(tokens, pg...)
		for s := d.c; s < len(pg); s += train.MicroBatch {
			jobs = append(jobs, job{start: base + s, rows: min(train.MicroBatch, len(pg)-s)})
		}
		total += len(pg) - d.c
	}
	if len(tokens) > math.MaxInt32 {
		return nil, nil, 0, fmt.Errorf("%w: %d tokens", ErrTooLarge, len(tokens))
	}
	return tokens, jobs, total, nil
}

// checkStep refuses a learning rate or clip norm no update can use, as
// train does.
func checkStep(lr, clipNorm float64) error {
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return fmt.Errorf("launch: learning rate %v not finite and ≥ 0", lr)
	}
	if math.IsNaN(clipNorm) || math.IsInf(clipNorm, 0) || clipNorm <= 0 {
		return fmt.Errorf("launch: clip norm %v not finite and > 0", clipNorm)
	}
	return nil
}

// arena allocates device buffers and frees them all at once.
type arena struct {
	dev  Device
	ptrs []Ptr
	err  error
}

// alloc returns n zeroed bytes (at least 8), or 0 after the first error.
func (a *arena) alloc(n int) Ptr {
	if a.err != nil {
		return 0
	}
	p, err := a.dev.Alloc(max(n, 8))
	if err != nil {
		a.err = fmt.Errorf("launch: alloc %d bytes: %w", n, err)
		return 0
	}
	a.ptrs = append(a.ptrs, p)
	return p
}

func (a *arena) free() error {
	var errs []error
	for _, p := range a.ptrs {
		errs = append(errs, a.dev.Free(p))
	}
	a.ptrs = nil
	return errors.Join(errs...)
}

// model is the device state of one Update or Loss.
type model struct {
	d                     dims
	p                     int // parameters
	w                     Ptr // weights, flat (float32)
	embed, hw, hb, ow, ob Ptr // views into w
	tokens                Ptr // the concatenated pages (int32)
	x, a, lg, dlg, da, dx Ptr // activations and their gradients (float32)
	ex, rowLoss, loss     Ptr // float64 scratch and the loss accumulator
	grad                  Ptr // one micro-batch's gradient (float32), flat
	gembed, ghw, ghb      Ptr // views into grad
	gow, gob              Ptr
	acc, delta            Ptr // float64 sums, then g; Δ (float32)
}

const (
	f32 = 4
	f64 = 8
)

func (tr *MLP) setup(ar *arena, d dims, flat []float32, tokens []int32, grad bool) (*model, error) {
	e, hw, hb, ow, ob, p := d.offsets()
	mb := train.MicroBatch
	m := &model{d: d, p: p}
	m.w = ar.alloc(p * f32)
	m.embed, m.hw, m.hb, m.ow, m.ob = m.w+Ptr(e*f32), m.w+Ptr(hw*f32), m.w+Ptr(hb*f32), m.w+Ptr(ow*f32), m.w+Ptr(ob*f32)
	m.tokens = ar.alloc(len(tokens) * 4)
	m.x = ar.alloc(mb * d.k() * f32)
	m.a = ar.alloc(mb * d.h * f32)
	m.lg = ar.alloc(mb * d.v * f32)
	m.ex = ar.alloc(mb * d.v * f64)
	m.rowLoss = ar.alloc(mb * f64)
	m.loss = ar.alloc(f64)
	if grad {
		m.dlg = ar.alloc(mb * d.v * f32)
		m.da = ar.alloc(mb * d.h * f32)
		m.dx = ar.alloc(mb * d.k() * f32)
		m.grad = ar.alloc(p * f32)
		m.gembed, m.ghw, m.ghb, m.gow, m.gob = m.grad+Ptr(e*f32), m.grad+Ptr(hw*f32), m.grad+Ptr(hb*f32), m.grad+Ptr(ow*f32), m.grad+Ptr(ob*f32)
		m.acc = ar.alloc(p * f64)
		m.delta = ar.alloc(p * f32)
	}
	if ar.err != nil {
		return nil, ar.err
	}
	if err := tr.dev.CopyIn(m.w, flat); err != nil {
		return nil, fmt.Errorf("launch: copy weights: %w", err)
	}
	if err := tr.dev.CopyIn(m.tokens, tokens); err != nil {
		return nil, fmt.Errorf("launch: copy pages: %w", err)
	}
	return m, nil
}

// launcher runs kernels until the first error.
type launcher struct {
	dev Device
	err error
}

func (l *launcher) run(name string, threads int, args ...any) {
	if l.err != nil {
		return
	}
	if err := l.dev.Launch(name, threads, args...); err != nil {
		l.err = fmt.Errorf("launch: kernel %s: %w", name, err)
	}
}

// step runs one micro-batch as train's net.step does: the forward pass, the
// loss of each row into rowLoss and their sum added to loss, and with grad
// the backward pass into the gradient, which it then adds into acc.
func (m *model) step(l *launcher, j job, grad bool) {
	d := m.d
	k, rows := d.k(), j.rows
	i32 := func(n int) int32 { return int32(n) }
	l.run(kernels.MLPEmbedForward, rows*k, m.x, m.embed, m.tokens, i32(j.start), i32(rows), i32(d.c), i32(d.e))
	l.run(kernels.MLPLinearForward, rows*d.h, m.a, m.x, m.hw, m.hb, i32(rows), i32(k), i32(d.h))
	l.run(kernels.MLPTanhForward, rows*d.h, m.a, m.a, i32(rows*d.h))
	l.run(kernels.MLPLinearForward, rows*d.v, m.lg, m.a, m.ow, m.ob, i32(rows), i32(d.h), i32(d.v))
	dlg := Ptr(0)
	if grad {
		dlg = m.dlg
	}
	l.run(kernels.MLPCrossEntropy, rows, dlg, m.rowLoss, m.ex, m.lg, m.tokens, i32(j.start), i32(rows), i32(d.v))
	l.run(kernels.MLPLossSum, 1, m.loss, m.rowLoss, i32(rows))
	if !grad {
		return
	}
	l.run(kernels.MLPMatmulTN, d.h*d.v, m.gow, m.a, m.dlg, i32(rows), i32(d.h), i32(d.v))
	l.run(kernels.MLPBiasGrad, d.v, m.gob, m.dlg, i32(rows), i32(d.v))
	l.run(kernels.MLPMatmulNT, rows*d.h, m.da, m.dlg, m.ow, i32(rows), i32(d.h), i32(d.v))
	l.run(kernels.MLPTanhBackward, rows*d.h, m.da, m.da, m.a, i32(rows*d.h))
	l.run(kernels.MLPMatmulTN, k*d.h, m.ghw, m.x, m.da, i32(rows), i32(k), i32(d.h))
	l.run(kernels.MLPBiasGrad, d.h, m.ghb, m.da, i32(rows), i32(d.h))
	l.run(kernels.MLPMatmulNT, rows*k, m.dx, m.da, m.hw, i32(rows), i32(k), i32(d.h))
	l.run(kernels.MLPEmbedBackward, d.v*d.e, m.gembed, m.dx, m.tokens, i32(j.start), i32(rows), i32(d.c), i32(d.e), i32(d.v))
	l.run(kernels.MLPAccumulate, m.p, m.acc, m.grad, i32(m.p))
}

// Update returns Δ = −lr · clip(g) as a *bistro.MemModel of m's layout, the
// bits of train.MLP{}.Update's. lr must be finite and ≥ 0, clipNorm finite
// and > 0; a gradient that is not finite is an error. m is only read.
func (tr *MLP) Update(ctx context.Context, m bistro.Model, pages [][]int32, lr, clipNorm float64) (_ bistro.Tensors, err error) {
	if err := checkStep(lr, clipNorm); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, flat, err := weights(m)
	if err != nil {
		return nil, err
	}
	tokens, jobs, total, err := plan(d, pages)
	if err != nil {
		return nil, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ar := &arena{dev: tr.dev}
	defer func() { err = errors.Join(err, ar.free()) }()
	dm, err := tr.setup(ar, d, flat, tokens, true)
	if err != nil {
		return nil, err
	}
	l := &launcher{dev: tr.dev}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dm.step(l, j, true)
	}
	return finish(tr.dev, l, dm.acc, dm.delta, dm.p, total, lr, clipNorm, m.Layout())
}

// finish ends an update of either model as train ends it: g = acc / total
// (mlp_mean, on the device); ‖g‖² = Σ g_i² in layout order, here in Go from
// a copy of g (the sum is sequential: one GPU thread would take seconds for
// GPT2Small); the clip coefficient; Δ = float32(coef · g) (mlp_delta), copied
// into a new model of layout.
func finish(dev Device, l *launcher, acc, deltaPtr Ptr, p, total int, lr, clipNorm float64, layout bistro.Layout) (bistro.Tensors, error) {
	l.run(kernels.MLPMean, p, acc, float64(total), int32(p))
	if l.err != nil {
		return nil, l.err
	}
	g := make([]float64, p)
	if err := dev.CopyOut(g, acc); err != nil {
		return nil, fmt.Errorf("launch: copy g: %w", err)
	}
	var sq float64
	for _, v := range g {
		sq += float64(v * v)
	}
	if math.IsNaN(sq) || math.IsInf(sq, 0) {
		return nil, fmt.Errorf("launch: gradient norm not finite (a weight or an activation overflowed)")
	}
	coef := -lr
	if norm := math.Sqrt(sq); norm > clipNorm {
		coef = -lr * (clipNorm / norm)
	}
	l.run(kernels.MLPDelta, p, deltaPtr, acc, coef, int32(p))
	if l.err != nil {
		return nil, l.err
	}
	delta, err := bistro.NewMemModel(layout)
	if err != nil {
		return nil, err
	}
	if err := dev.CopyOut(delta.Flat(), deltaPtr); err != nil {
		return nil, fmt.Errorf("launch: copy Δ: %w", err)
	}
	return delta, nil
}

// Loss returns the mean cross-entropy in nats over all examples of pages,
// the bits of train.MLP{}.Loss's: each micro-batch's per-example losses
// summed in float64 in position order, those sums added in micro-batch
// order, the total divided by the number of examples.
func (tr *MLP) Loss(ctx context.Context, m bistro.Model, pages [][]int32) (_ float64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, flat, err := weights(m)
	if err != nil {
		return 0, err
	}
	tokens, jobs, total, err := plan(d, pages)
	if err != nil {
		return 0, err
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ar := &arena{dev: tr.dev}
	defer func() { err = errors.Join(err, ar.free()) }()
	dm, err := tr.setup(ar, d, flat, tokens, false)
	if err != nil {
		return 0, err
	}
	l := &launcher{dev: tr.dev}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		dm.step(l, j, false)
	}
	if l.err != nil {
		return 0, l.err
	}
	s := make([]float64, 1)
	if err := tr.dev.CopyOut(s, dm.loss); err != nil {
		return 0, fmt.Errorf("launch: copy the loss: %w", err)
	}
	return s[0] / float64(total), nil
}
