package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/bistro-go/bistro"
)

// GPT is the bistro.Trainer of gpt2/v1, a GPT-2 decoder: token and position
// embeddings, Layers pre-LayerNorm blocks of causal multi-head
// self-attention and a GELU MLP, a final LayerNorm and an LM head tied to the
// token embedding (GPTLayout names the tensors; gpt_net.go has the forward
// pass). No dropout: training is a deterministic function.
//
// Pages and sequences: a page t(0) … t(L−1), L ≥ 2, predicts each of its
// tokens from those before it within its sequence, t(1) … t(L−1), L−1
// predictions. The page is cut into sequences of at most Context+1 tokens
// that overlap by one: sequence k is t(k·C) … t(min((k+1)·C, L−1)), C the
// context, whose tokens but the last are the inputs at positions 0, 1, …
// and whose tokens but the first are the targets. Sequences attend only
// within themselves. The loss is the mean cross-entropy in nats over every
// prediction of every page, and g its gradient.
//
// Determinism: each sequence is one micro-batch, whose float32 gradient is
// computed in a fixed order (matmul.go's kernels, the layers' documented
// float64 reductions); micro-batch gradients are added into float64
// accumulators in page and sequence order, divided by the number of
// predictions, clipped in float64 and rounded to float32 once. Sequences run
// in parallel on up to Workers goroutines, which changes neither the order
// nor the bits. Memory is bounded whatever the number of pages: an update
// holds a float64 accumulator (twice the model's size) and Δ (once), and
// each goroutine one float32 gradient (once) and the activations of one
// sequence (for GPT2Small and 1024 tokens, about 1.5 GB: blocks ×
// (8·Embed + 2·Hidden + Heads·n) floats per token, plus the logits).
//
// Make one with NewGPT; a GPT is safe for concurrent use.
type GPT struct {
	// Workers bounds the goroutines of one Update or Loss; 0 means
	// runtime.GOMAXPROCS(0). It never changes a result.
	Workers int

	cfg    bistro.ModelConfig
	d      gdims
	layout bistro.Layout
}

var _ bistro.Trainer = GPT{}

// errNoGPT is returned by the methods of a GPT not made by NewGPT.
var errNoGPT = errors.New("train: GPT has no config (make it with NewGPT)")

// NewGPT returns the trainer of gpt2/v1 models of cfg (see GPTLayout for
// what cfg must hold). The number of heads is not visible in a layout, so
// the trainer keeps cfg and refuses models of another layout.
func NewGPT(cfg bistro.ModelConfig) (GPT, error) {
	l, err := GPTLayout(cfg)
	if err != nil {
		return GPT{}, err
	}
	d, _ := gptDims(cfg)
	return GPT{cfg: cfg, d: d, layout: l}, nil
}

// Config returns the model config the trainer was made for.
func (tr GPT) Config() bistro.ModelConfig { return tr.cfg }

// NewModel returns a zeroed *bistro.MemModel with GPTLayout(cfg); cfg must be
// the trainer's config.
func (tr GPT) NewModel(cfg bistro.ModelConfig) (bistro.Model, error) {
	if tr.layout == nil {
		return nil, errNoGPT
	}
	if cfg != tr.cfg {
		return nil, fmt.Errorf("%w: model %+v, the trainer was made for %+v", ErrConfig, cfg, tr.cfg)
	}
	return bistro.NewMemModel(tr.d.layout())
}

// weights returns the parameters of m, flat in layout order: the buffer of a
// *bistro.MemModel itself (only ever read), or a copy read tensor by tensor.
func (tr GPT) weights(m bistro.Model) ([]float32, error) {
	if tr.layout == nil {
		return nil, errNoGPT
	}
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", bistro.ErrLayout)
	}
	if !sameLayout(m.Layout(), tr.layout) {
		return nil, fmt.Errorf("%w: not the %s layout of %d layers, width %d, vocab %d, context %d",
			bistro.ErrLayout, GPTArch, tr.cfg.Layers, tr.cfg.Embed, tr.cfg.Vocab, tr.cfg.Context)
	}
	if mm, ok := m.(*bistro.MemModel); ok {
		return mm.Flat(), nil
	}
	flat := make([]float32, tr.d.params())
	off := 0
	for t, spec := range tr.layout {
		n := spec.Len()
		if err := m.Read(t, flat[off:off+n]); err != nil {
			return nil, fmt.Errorf("train: read tensor %q: %w", spec.Name, err)
		}
		off += n
	}
	return flat, nil
}

// gptJob is one sequence: inputs pages[page][start : start+n], targets one
// further.
type gptJob struct{ page, start, n int }

// plan checks pages against d and cuts them into sequences; it returns them
// with the number of predictions and the longest sequence.
func (d gdims) plan(pages [][]int32) (jobs []gptJob, total, longest int, err error) {
	if len(pages) == 0 {
		return nil, 0, 0, fmt.Errorf("%w: no pages", ErrPage)
	}
	for i, pg := range pages {
		if len(pg) < 2 {
			return nil, 0, 0, fmt.Errorf("%w: page %d has %d tokens: no prediction", ErrPage, i, len(pg))
		}
		for j, t := range pg {
			if t < 0 || int(t) >= d.v {
				return nil, 0, 0, fmt.Errorf("%w: page %d token %d is %d, vocab is %d", ErrPage, i, j, t, d.v)
			}
		}
		for s := 0; s < len(pg)-1; s += d.c {
			n := min(d.c, len(pg)-1-s)
			jobs = append(jobs, gptJob{page: i, start: s, n: n})
			longest = max(longest, n)
		}
		total += len(pg) - 1
	}
	return jobs, total, longest, nil
}

func (tr GPT) workers(jobs int) int {
	w := tr.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	return max(1, min(w, jobs))
}

// Update returns Δ = −lr · clip(g) as a *bistro.MemModel of m's layout. g is
// the mean gradient over all predictions of pages (see GPT) and clip scales
// it by min(1, clipNorm/‖g‖), ‖g‖ the L2 norm over all tensors. In float64:
// acc_i is the sum, in sequence order, of the sequences' float32 gradients;
// g_i = acc_i / N for N predictions; ‖g‖² = Σ g_i² in layout order;
// Δ_i = float32(c · g_i) with c = −lr, or −lr · (clipNorm/‖g‖) when
// ‖g‖ > clipNorm. lr must be finite and ≥ 0, clipNorm finite and > 0; a
// gradient that is not finite is an error. m is only read.
func (tr GPT) Update(ctx context.Context, m bistro.Model, pages [][]int32, lr, clipNorm float64) (bistro.Tensors, error) {
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return nil, fmt.Errorf("train: learning rate %v not finite and ≥ 0", lr)
	}
	if math.IsNaN(clipNorm) || math.IsInf(clipNorm, 0) || clipNorm <= 0 {
		return nil, fmt.Errorf("train: clip norm %v not finite and > 0", clipNorm)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	flat, err := tr.weights(m)
	if err != nil {
		return nil, err
	}
	d := tr.d
	jobs, total, longest, err := d.plan(pages)
	if err != nil {
		return nil, err
	}
	p := viewGPT(d, flat)
	nw := tr.workers(len(jobs))
	nets := make([]*gptNet[float32], nw)
	for i := range nets {
		nets[i] = newGPTNet[float32](d, longest, true)
	}
	acc := make([]float64, d.params())
	for r := 0; r < len(jobs); r += nw {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		round := jobs[r:min(r+nw, len(jobs))]
		run(len(round), func(i int) {
			j := round[i]
			nets[i].step(p, pages[j.page][j.start:j.start+j.n+1])
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

// Loss returns the mean cross-entropy in nats over all predictions of pages
// (see GPT): each sequence's losses summed in float64 in position order,
// those sums added in sequence order, the total divided by the number of
// predictions.
func (tr GPT) Loss(ctx context.Context, m bistro.Model, pages [][]int32) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	flat, err := tr.weights(m)
	if err != nil {
		return 0, err
	}
	d := tr.d
	jobs, total, longest, err := d.plan(pages)
	if err != nil {
		return 0, err
	}
	p := viewGPT(d, flat)
	nw := tr.workers(len(jobs))
	nets := make([]*gptNet[float32], nw)
	for i := range nets {
		nets[i] = newGPTNet[float32](d, longest, false)
	}
	var s float64
	sums := make([]float64, nw)
	for r := 0; r < len(jobs); r += nw {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		round := jobs[r:min(r+nw, len(jobs))]
		run(len(round), func(i int) {
			j := round[i]
			sums[i] = nets[i].step(p, pages[j.page][j.start:j.start+j.n+1])
		})
		for _, v := range sums[:len(round)] {
			s += v
		}
	}
	return s / float64(total), nil
}
