package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/bistro-go/bistro"
)

// MLPArch is the ModelConfig.Arch of the model MLP trains.
const MLPArch = "mlp/v1"

// MicroBatch is the number of examples in one micro-batch. A page's examples
// are cut into consecutive micro-batches of MicroBatch (the last one of a page
// may be shorter; none spans two pages). It fixes the order of the float32
// sums inside a micro-batch, so it is part of the reference computation and
// not a tuning knob.
const MicroBatch = 256

// Tensor names of mlp/v1, in layout order. Weights are stored [in, out]: a
// layer computes x·w + b.
const (
	TensorEmbed   = "embed"    // [Vocab, Embed]
	TensorHiddenW = "hidden.w" // [Context·Embed, Hidden]
	TensorHiddenB = "hidden.b" // [Hidden]
	TensorOutW    = "out.w"    // [Hidden, Vocab]
	TensorOutB    = "out.b"    // [Vocab]
)

// ErrConfig is wrapped by errors about a ModelConfig that mlp/v1 cannot use.
var ErrConfig = errors.New("train: bad model config")

// ErrPage is wrapped by errors about pages a trainer cannot use: too short to
// hold one example, or holding a token outside [0, Vocab).
var ErrPage = errors.New("train: bad page")

// dims are the sizes of an mlp/v1 model.
type dims struct{ v, c, e, h int }

func (d dims) k() int { return d.c * d.e }

func (d dims) layout() bistro.Layout {
	return bistro.Layout{
		{Name: TensorEmbed, Shape: []int{d.v, d.e}},
		{Name: TensorHiddenW, Shape: []int{d.k(), d.h}},
		{Name: TensorHiddenB, Shape: []int{d.h}},
		{Name: TensorOutW, Shape: []int{d.h, d.v}},
		{Name: TensorOutB, Shape: []int{d.v}},
	}
}

// maxDim bounds every size of a config, so that no product overflows an int.
const maxDim = 1 << 24

// checkSizes checks what every architecture's config shares: the arch id
// and the vocabulary, context, embedding and hidden sizes.
func checkSizes(cfg bistro.ModelConfig, arch string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case cfg.Arch != arch:
		return bad("arch %q, want %q", cfg.Arch, arch)
	case cfg.Vocab < 2 || cfg.Vocab > maxDim:
		return bad("vocab %d not in [2, %d]", cfg.Vocab, maxDim)
	case cfg.Context < 1 || cfg.Context > maxDim:
		return bad("context %d not in [1, %d]", cfg.Context, maxDim)
	case cfg.Embed < 1 || cfg.Embed > maxDim:
		return bad("embed %d not in [1, %d]", cfg.Embed, maxDim)
	case cfg.Hidden < 1 || cfg.Hidden > maxDim:
		return bad("hidden %d not in [1, %d]", cfg.Hidden, maxDim)
	}
	return nil
}

func configDims(cfg bistro.ModelConfig) (dims, error) {
	if err := checkSizes(cfg, MLPArch); err != nil {
		return dims{}, err
	}
	if cfg.Layers != 0 || cfg.Heads != 0 {
		return dims{}, fmt.Errorf("%w: layers %d, heads %d: %s has neither (want 0)", ErrConfig, cfg.Layers, cfg.Heads, MLPArch)
	}
	return dims{v: int(cfg.Vocab), c: int(cfg.Context), e: int(cfg.Embed), h: int(cfg.Hidden)}, nil
}

// MLPLayout returns the layout of mlp/v1 for cfg: the tensors TensorEmbed,
// TensorHiddenW, TensorHiddenB, TensorOutW, TensorOutB in this order. cfg must
// name MLPArch, have Vocab ≥ 2 (256 for the byte-level model), Context,
// Embed and Hidden ≥ 1, Layers and Heads 0, and Parameters equal to the
// layout's total, V·E + C·E·H + H + H·V + V.
func MLPLayout(cfg bistro.ModelConfig) (bistro.Layout, error) {
	d, err := configDims(cfg)
	if err != nil {
		return nil, err
	}
	l := d.layout()
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if n := l.Len(); cfg.Parameters != n {
		return nil, fmt.Errorf("%w: parameters %d, the layout has %d", ErrConfig, cfg.Parameters, n)
	}
	return l, nil
}

// NewMLPConfig returns the mlp/v1 config with the given sizes and Parameters
// filled in.
func NewMLPConfig(vocab, context, embed, hidden uint32) (bistro.ModelConfig, error) {
	cfg := bistro.ModelConfig{Arch: MLPArch, Vocab: vocab, Context: context, Embed: embed, Hidden: hidden}
	d, err := configDims(cfg)
	if err != nil {
		return cfg, err
	}
	l := d.layout()
	if err := l.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.Parameters = l.Len()
	return cfg, nil
}

// layoutDims checks that l is an mlp/v1 layout and returns its sizes.
func layoutDims(l bistro.Layout) (dims, error) {
	bad := fmt.Errorf("%w: not an %s layout", bistro.ErrLayout, MLPArch)
	if len(l) != 5 {
		return dims{}, bad
	}
	shape := func(i int, name string, rank int) []int {
		if l[i].Name != name || len(l[i].Shape) != rank {
			return nil
		}
		return l[i].Shape
	}
	emb, hw, hb, ow, ob := shape(0, TensorEmbed, 2), shape(1, TensorHiddenW, 2),
		shape(2, TensorHiddenB, 1), shape(3, TensorOutW, 2), shape(4, TensorOutB, 1)
	if emb == nil || hw == nil || hb == nil || ow == nil || ob == nil {
		return dims{}, bad
	}
	d := dims{v: emb[0], e: emb[1], h: hb[0]}
	if d.e <= 0 || hw[0]%d.e != 0 {
		return dims{}, bad
	}
	d.c = hw[0] / d.e
	if d.v <= 0 || d.c <= 0 || d.h <= 0 || hw[1] != d.h || ow[0] != d.h || ow[1] != d.v || ob[0] != d.v {
		return dims{}, bad
	}
	return d, nil
}

// params are the tensors of one model (or of one gradient) as views into a
// flat buffer in layout order.
type params[T float] struct {
	embed, hw, hb, ow, ob []T
}

func viewParams[T float](d dims, flat []T) params[T] {
	var p params[T]
	off := 0
	next := func(n int) []T {
		s := flat[off : off+n : off+n]
		off += n
		return s
	}
	p.embed = next(d.v * d.e)
	p.hw = next(d.k() * d.h)
	p.hb = next(d.h)
	p.ow = next(d.h * d.v)
	p.ob = next(d.v)
	return p
}

func (d dims) params() int { return d.v*d.e + d.k()*d.h + d.h + d.h*d.v + d.v }

// net is the scratch of one goroutine: activations for one micro-batch and
// its gradient.
type net[T float] struct {
	d     dims
	mm    matmul[T]
	x, dx []T // rows × K: concatenated embeddings and their gradient
	a, da []T // rows × H: tanh activations; then dA, then dZ in place
	lg    []T // rows × V: logits, then dlogits in place
	ex    []float64
	grad  []T // the gradient, flat in layout order
	g     params[T]
}

func newNet[T float](d dims, rows int, withGrad bool) *net[T] {
	n := &net[T]{d: d, x: make([]T, rows*d.k()), a: make([]T, rows*d.h), lg: make([]T, rows*d.v), ex: make([]float64, d.v)}
	if withGrad {
		n.dx = make([]T, rows*d.k())
		n.da = make([]T, rows*d.h)
		n.grad = make([]T, d.params())
		n.g = viewParams(d, n.grad)
	}
	return n
}

// step runs the examples that predict page[start : start+rows] from the C
// tokens before each, and returns the sum of their losses. When the net was
// made withGrad it also sets grad to the gradient of that sum.
func (n *net[T]) step(p params[T], page []int32, start, rows int) float64 {
	d := n.d
	k := d.k()
	in := page[start-d.c : start+rows-1]
	x, a, lg := n.x[:rows*k], n.a[:rows*d.h], n.lg[:rows*d.v]
	embedForward(x, p.embed, in, rows, d.c, d.e)
	linearForward(&n.mm, a, x, p.hw, p.hb, rows, k, d.h)
	tanhForward(a, a)
	linearForward(&n.mm, lg, a, p.ow, p.ob, rows, d.h, d.v)
	target := page[start : start+rows]
	if n.grad == nil {
		return crossEntropy[T](nil, lg, target, d.v, n.ex)
	}
	loss := crossEntropy(lg, lg, target, d.v, n.ex)
	da, dx := n.da[:rows*d.h], n.dx[:rows*k]
	linearBackward(&n.mm, da, n.g.ow, n.g.ob, lg, a, p.ow, rows, d.h, d.v)
	tanhBackward(da, da, a)
	linearBackward(&n.mm, dx, n.g.hw, n.g.hb, da, x, p.hw, rows, k, d.h)
	clear(n.g.embed)
	embedBackward(n.g.embed, dx, in, rows, d.c, d.e)
	return loss
}

// job is one micro-batch: examples predicting pages[page][start : start+rows].
type job struct{ page, start, rows int }

// plan checks pages against d and cuts them into micro-batches; it returns
// them with the number of predicted tokens.
func plan(d dims, pages [][]int32) ([]job, int, error) {
	if len(pages) == 0 {
		return nil, 0, fmt.Errorf("%w: no pages", ErrPage)
	}
	var jobs []job
	total := 0
	for i, pg := range pages {
		if len(pg) <= d.c {
			return nil, 0, fmt.Errorf("%w: page %d has %d tokens, context is %d: no example", ErrPage, i, len(pg), d.c)
		}
		for j, t := range pg {
			if t < 0 || int(t) >= d.v {
				return nil, 0, fmt.Errorf("%w: page %d token %d is %d, vocab is %d", ErrPage, i, j, t, d.v)
			}
		}
		for s := d.c; s < len(pg); s += MicroBatch {
			jobs = append(jobs, job{page: i, start: s, rows: min(MicroBatch, len(pg)-s)})
		}
		total += len(pg) - d.c
	}
	return jobs, total, nil
}

// MLP is the bistro.Trainer of mlp/v1, a byte-level language model small
// enough to train on a laptop core:
//
//	x      = embed[t(i−C)] ‖ … ‖ embed[t(i−1)]       (C·E)
//	h      = tanh(x · hidden.w + hidden.b)          (H)
//	logits = h · out.w + out.b                      (V)
//	loss   = log Σ_j exp(logits_j) − logits[t(i)]   (nats)
//
// A page t(0) … t(L−1) gives the L−C examples i = C … L−1: the tokens
// t(i−C) … t(i−1), oldest first, predict t(i). g is the mean of the gradient
// over every example of every page.
//
// Determinism: the examples are cut into micro-batches (see MicroBatch); the
// gradient of each is a float32 sum in a fixed order (matmul.go), the
// micro-batch gradients are added into float64 accumulators in page and
// position order, divided by the number of examples, clipped in float64 and
// rounded to float32 once. Micro-batches run in parallel on up to Workers
// goroutines, which changes neither the order nor the bits.
//
// The zero value is ready to use; an MLP is safe for concurrent use.
type MLP struct {
	// Workers bounds the goroutines of one Update or Loss; 0 means
	// runtime.GOMAXPROCS(0). It never changes a result.
	Workers int
}

var _ bistro.Trainer = MLP{}

// NewModel returns a zeroed *bistro.MemModel with MLPLayout(cfg).
func (MLP) NewModel(cfg bistro.ModelConfig) (bistro.Model, error) {
	l, err := MLPLayout(cfg)
	if err != nil {
		return nil, err
	}
	return bistro.NewMemModel(l)
}

// weights returns the parameters of m, flat in layout order: the buffer of a
// *bistro.MemModel itself (only ever read), or a copy read tensor by tensor.
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
	flat := make([]float32, d.params())
	off := 0
	for t, spec := range m.Layout() {
		n := spec.Len()
		if err := m.Read(t, flat[off:off+n]); err != nil {
			return d, nil, fmt.Errorf("train: read tensor %q: %w", spec.Name, err)
		}
		off += n
	}
	return d, flat, nil
}

func (tr MLP) workers(jobs int) int { return workerCount(tr.Workers, jobs) }

// workerCount bounds the goroutines of one Update or Loss: the trainer's
// Workers (GOMAXPROCS when ≤ 0), at most one per job, at least one.
func workerCount(workers, jobs int) int {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return max(1, min(workers, jobs))
}

// checkStep refuses a learning rate or clip norm no update can use.
func checkStep(lr, clipNorm float64) error {
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return fmt.Errorf("train: learning rate %v not finite and ≥ 0", lr)
	}
	if math.IsNaN(clipNorm) || math.IsInf(clipNorm, 0) || clipNorm <= 0 {
		return fmt.Errorf("train: clip norm %v not finite and > 0", clipNorm)
	}
	return nil
}

// Update returns Δ = −lr · clip(g) as a *bistro.MemModel of m's layout. g is
// the mean gradient over all examples of pages (see MLP) and clip scales it
// by min(1, clipNorm/‖g‖), ‖g‖ the L2 norm over all tensors. In float64:
// acc_i is the sum, in micro-batch order, of the micro-batches' float32
// gradients; g_i = acc_i / N for N examples; ‖g‖² = Σ g_i² in layout order;
// Δ_i = float32(c · g_i) with c = −lr, or −lr · (clipNorm/‖g‖) when
// ‖g‖ > clipNorm. lr must be finite and ≥ 0, clipNorm finite and > 0; a
// gradient that is not finite is an error. m is only read.
func (tr MLP) Update(ctx context.Context, m bistro.Model, pages [][]int32, lr, clipNorm float64) (bistro.Tensors, error) {
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
	jobs, total, err := plan(d, pages)
	if err != nil {
		return nil, err
	}
	p := viewParams(d, flat)
	nw := tr.workers(len(jobs))
	nets := make([]*net[float32], nw)
	for i := range nets {
		nets[i] = newNet[float32](d, MicroBatch, true)
	}
	acc := make([]float64, d.params())
	for r := 0; r < len(jobs); r += nw {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		round := jobs[r:min(r+nw, len(jobs))]
		run(len(round), func(i int) {
			j := round[i]
			nets[i].step(p, pages[j.page], j.start, j.rows)
		})
		for i := range round {
			for k, g := range nets[i].grad {
				acc[k] += float64(g)
			}
		}
	}
	var sq float64
	for k := range acc {
		acc[k] /= float64(total)
		sq += float64(acc[k] * acc[k])
	}
	if math.IsNaN(sq) || math.IsInf(sq, 0) {
		return nil, fmt.Errorf("train: gradient norm not finite (a weight or an activation overflowed)")
	}
	coef := -lr
	if norm := math.Sqrt(sq); norm > clipNorm {
		coef = -lr * (clipNorm / norm)
	}
	delta, err := bistro.NewMemModel(m.Layout())
	if err != nil {
		return nil, err
	}
	out := delta.Flat()
	for k, g := range acc {
		out[k] = float32(coef * g)
	}
	return delta, nil
}

// Loss returns the mean cross-entropy in nats over all examples of pages (see
// MLP): the per-example losses of each micro-batch summed in float64 in
// position order, those sums added in micro-batch order, the total divided by
// the number of examples.
func (tr MLP) Loss(ctx context.Context, m bistro.Model, pages [][]int32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d, flat, err := weights(m)
	if err != nil {
		return 0, err
	}
	jobs, total, err := plan(d, pages)
	if err != nil {
		return 0, err
	}
	p := viewParams(d, flat)
	nw := tr.workers(len(jobs))
	sums := make([]float64, len(jobs))
	nets := make([]*net[float32], nw)
	for i := range nets {
		nets[i] = newNet[float32](d, MicroBatch, false)
	}
	for r := 0; r < len(jobs); r += nw {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		run(min(nw, len(jobs)-r), func(i int) {
			j := jobs[r+i]
			sums[r+i] = nets[i].step(p, pages[j.page], j.start, j.rows)
		})
	}
	var s float64
	for _, v := range sums {
		s += v
	}
	return s / float64(total), nil
}

// run calls f(0) … f(n−1), each on its own goroutine when n > 1, and waits.
func run(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// InitMLP returns an mlp/v1 model for cfg with weights drawn from seed:
//
//	r := bistro.NewRand(seed)
//	for each tensor in layout order, for each element in row-major order:
//	    u := r.Uint64() >> 40                         // top 24 bits
//	    v := float32(2·u + 1 − 2^24) / 2^24           // exact, odd multiples of 2^-24 in (−1, 1)
//	    w := float32(float64(v) · s)                  // one float64 product, rounded once
//
// with s = 1 / math.Sqrt(fan_in) in float64: fan_in = 1 for embed (so
// embeddings are uniform in (−1, 1)), Context·Embed for hidden.w and
// hidden.b, Hidden for out.w and out.b.
func InitMLP(cfg bistro.ModelConfig, seed bistro.Hash) (*bistro.MemModel, error) {
	l, err := MLPLayout(cfg)
	if err != nil {
		return nil, err
	}
	m, err := bistro.NewMemModel(l)
	if err != nil {
		return nil, err
	}
	d, _ := configDims(cfg)
	fanIn := []int{1, d.k(), d.k(), d.h, d.h}
	r := bistro.NewRand(seed)
	for t, n := range fanIn {
		s := 1 / math.Sqrt(float64(n))
		w := m.Tensor(t)
		for i := range w {
			u := int64(r.Uint64() >> 40)
			v := float32(2*u+1-1<<24) / (1 << 24)
			w[i] = float32(float64(v) * s)
		}
	}
	return m, nil
}
