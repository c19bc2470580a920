package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

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
// float64 reductions); micro-batch gradients are added in float64 in page
// and sequence order, divided by the number of predictions, clipped in
// float64 and rounded to float32 once. Sequences run in parallel on up to
// Workers goroutines, which changes neither the order nor the bits.
//
// Memory is bounded whatever the number of pages. An update computes its
// sequences in groups of max(Workers, 4), each sequence into its own float32
// gradient (the model's size each), and sums a group's gradients element by
// element; only when there are more sequences than one group holds does it
// also keep a float64 accumulator (twice the model's size). It holds Δ
// (once), the weights packed for the assembly kernel (about once), and per
// goroutine the activations of one sequence (for GPT2Small and 1024 tokens,
// about 1.5 GB: blocks × (8·Embed + 2·Hidden + Heads·n) floats per token,
// plus the logits). For GPT2Small and 4 sequences of 64 tokens that is
// about 4 GB. Gradient buffers, packed weights and activations are kept for
// the next update of the same shape, so that steady training does not
// allocate them again; an update of another shape releases them.
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

func (tr GPT) workers(jobs int) int { return workerCount(tr.Workers, jobs) }

// Update returns Δ = −lr · clip(g) as a *bistro.MemModel of m's layout. g is
// the mean gradient over all predictions of pages (see GPT) and clip scales
// it by min(1, clipNorm/‖g‖), ‖g‖ the L2 norm over all tensors. In float64:
// acc_i is the sum, in sequence order, of the sequences' float32 gradients;
// g_i = acc_i / N for N predictions; ‖g‖² = Σ g_i² in layout order;
// Δ_i = float32(c · g_i) with c = −lr, or −lr · (clipNorm/‖g‖) when
// ‖g‖ > clipNorm. lr must be finite and ≥ 0, clipNorm finite and > 0; a
// gradient that is not finite is an error. m is only read.
func (tr GPT) Update(ctx context.Context, m bistro.Model, pages [][]int32, lr, clipNorm float64) (bistro.Tensors, error) {
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
	d := tr.d
	jobs, total, longest, err := d.plan(pages)
	if err != nil {
		return nil, err
	}
	p := viewGPT(d, flat)
	nw := tr.workers(len(jobs))
	nets := make([]*gptNet[float32], nw)
	for i := range nets {
		nets[i] = getGPTNet(d, longest)
	}
	// The weights that every sequence multiplies by, packed once.
	var pk *gptPacked
	if useSgemm && !useBLAS {
		pk = getGPTPacked(d)
		pk.pack(p, nw)
		for _, n := range nets {
			n.pk = pk
		}
	}
	// Sequences run in groups of hold, each into its own gradient buffer;
	// a group's gradients are then summed element by element in sequence
	// order. When one group holds every sequence (the usual update) no
	// float64 accumulator exists: pass 1 sums for ‖g‖, pass 2 sums again
	// for Δ.
	hold := min(len(jobs), max(nw, gptHeldGrads))
	grads := make([]*gptGrad[float32], hold)
	flats := make([][]float32, hold)
	for i := range grads {
		grads[i] = getGPTGrad(d)
		flats[i] = grads[i].flat
	}
	var acc []float64
	var accp *[]float64
	if len(jobs) > hold {
		accp = getAcc(d)
		acc = *accp
	}
	defer func() {
		for _, n := range nets {
			n.pk = nil
		}
		keep(d, nets, grads, pk, accp)
	}()
	n := d.params()
	var sq float64
	var delta *bistro.MemModel
	for r := 0; r < len(jobs); r += hold {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		group := jobs[r:min(r+hold, len(jobs))]
		var next atomic.Int64
		run(min(nw, len(group)), func(w int) {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(group) {
					return
				}
				j := group[i]
				nets[w].useGrad(grads[i])
				nets[w].step(p, pages[j.page][j.start:j.start+j.n+1])
			}
		})
		gs := flats[:len(group)]
		if r+hold < len(jobs) {
			chunks(n, nw, func(lo, hi int) {
				var buf [sumBlock]float64
				for b := lo; b < hi; b += sumBlock {
					s := buf[:min(sumBlock, hi-b)]
					var base []float64
					if r > 0 {
						base = acc[b:]
					}
					sumGrads(s, base, gs, b)
					copy(acc[b:], s)
				}
			})
			continue
		}
		// Pass 1: ‖g‖², layout order. The sum is one serial chain; a
		// second worker meanwhile takes the page faults of Δ's fresh
		// memory, which pass 2 would otherwise take.
		if delta, err = bistro.NewMemModel(m.Layout()); err != nil {
			return nil, err
		}
		var faulted sync.WaitGroup
		if nw > 1 {
			faulted.Go(func() { touchPages(delta.Flat()) })
		}
		sq = sumSq(gs, acc, acc, float64(total), n)
		faulted.Wait()
	}
	if math.IsNaN(sq) || math.IsInf(sq, 0) {
		return nil, fmt.Errorf("train: gradient norm not finite (a weight or an activation overflowed)")
	}
	coef := -lr
	if norm := math.Sqrt(sq); norm > clipNorm {
		coef = -lr * (clipNorm / norm)
	}
	if delta == nil { // no sequence
		if delta, err = bistro.NewMemModel(m.Layout()); err != nil {
			return nil, err
		}
	}
	// Pass 2: Δ.
	out := delta.Flat()
	last := flats[:(len(jobs)-1)%hold+1]
	chunks(n, nw, func(lo, hi int) {
		if acc != nil {
			for k, g := range acc[lo:hi] {
				out[lo+k] = float32(coef * g)
			}
			return
		}
		deltaFromGrads(out, last, lo, hi, float64(total), coef)
	})
	return delta, nil
}

// touchPages writes a zero (what it holds) into every 4 KiB page of s, so
// that the OS maps the pages of freshly allocated memory now.
func touchPages(s []float32) {
	for i := 0; i < len(s); i += 1024 {
		s[i] = 0
	}
}

// gptHeldGrads is how many sequences an update computes before it sums
// their gradients (at least one per worker).
const gptHeldGrads = 4

// sumBlock is the length of the blocks in which gradients are summed; its
// float64 scratch stays on the stack.
const sumBlock = 1024

// sumGrads sets s[k] = base[k] (0 when base is nil) and then adds
// float64(g[lo+k]) for each g of grads in order: for every element the sum
// from zero, in sequence order, that Update specifies.
func sumGrads(s, base []float64, grads [][]float32, lo int) {
	if base == nil {
		clear(s)
	} else {
		copy(s, base[:len(s)])
	}
	for _, g := range grads {
		g := g[lo : lo+len(s)]
		for k, v := range g {
			s[k] += float64(v)
		}
	}
}

// useVecSum turns the assembly of sumSq and deltaFromGrads on.
var useVecSum = haveSgemm

// gradPtrs returns &g[lo] of every g.
func gradPtrs(grads [][]float32, lo int) []*float32 {
	p := make([]*float32, len(grads))
	for i, g := range grads {
		p[i] = &g[lo]
	}
	return p
}

// sumSq is Update's pass 1 over the first n elements: g_k = (base[k] +
// Σ grads[·][k]) / total (sumGrads' order; base nil is zeros), dst[k] = g_k
// unless dst is nil, and it returns Σ g_k², k ascending.
func sumSq(grads [][]float32, base, dst []float64, total float64, n int) float64 {
	var sq float64
	k := 0
	if useVecSum && n >= 4 {
		k = n &^ 3
		var bp, dp *float64
		if base != nil {
			bp = &base[0]
		}
		if dst != nil {
			_ = dst[k-1]
			dp = &dst[0]
		}
		for _, g := range grads {
			_ = g[k-1]
		}
		sq = sumSqAVX2(&gradPtrs(grads, 0)[0], len(grads), bp, dp, k, total, 0)
	}
	var buf [sumBlock]float64
	for ; k < n; k += sumBlock {
		s := buf[:min(sumBlock, n-k)]
		var b []float64
		if base != nil {
			b = base[k:]
		}
		sumGrads(s, b, grads, k)
		for i := range s {
			s[i] /= total
			sq += float64(s[i] * s[i])
		}
		if dst != nil {
			copy(dst[k:], s)
		}
	}
	return sq
}

// deltaFromGrads is Update's pass 2 over [lo, hi) when no accumulator
// exists: out[k] = float32(coef · (Σ grads[·][k] / total)).
func deltaFromGrads(out []float32, grads [][]float32, lo, hi int, total, coef float64) {
	if useVecSum && hi-lo >= 4 {
		m := (hi - lo) &^ 3
		_ = out[lo+m-1]
		for _, g := range grads {
			_ = g[lo+m-1]
		}
		deltaAVX2(&out[lo], &gradPtrs(grads, lo)[0], len(grads), m, total, coef)
		lo += m
	}
	var buf [sumBlock]float64
	for b := lo; b < hi; b += sumBlock {
		s := buf[:min(sumBlock, hi-b)]
		sumGrads(s, nil, grads, b)
		for k, g := range s {
			out[b+k] = float32(coef * (g / total))
		}
	}
}

// gptKept keeps the buffers of finished updates for the next ones, for
// one model shape at a time: for GPT2Small they hold gigabytes (gradients,
// packed weights, activations) that would otherwise be allocated and
// zeroed every update. A sync.Pool would drop them at every garbage
// collection, which an update's own Δ triggers. An update of another shape
// releases them.
var gptKept struct {
	sync.Mutex
	d      gdims
	nets   []*gptNet[float32]
	grads  []*gptGrad[float32]
	packed []*gptPacked
	accs   []*[]float64
}

// keptFor locks gptKept for d, dropping what it holds for another shape;
// the caller unlocks.
func keptFor(d gdims) {
	gptKept.Lock()
	if gptKept.d != d {
		gptKept.d = d
		gptKept.nets, gptKept.grads, gptKept.packed, gptKept.accs = nil, nil, nil, nil
	}
}

// take removes and returns the last element of *s that ok accepts, or nil.
func take[E any](s *[]*E, ok func(*E) bool) *E {
	for i := len(*s) - 1; i >= 0; i-- {
		if e := (*s)[i]; ok(e) {
			*s = append((*s)[:i], (*s)[i+1:]...)
			return e
		}
	}
	return nil
}

// getGPTNet returns a net with the backward pass's scratch for d and up to
// rows tokens, a kept one when one fits.
func getGPTNet(d gdims, rows int) *gptNet[float32] {
	keptFor(d)
	n := take(&gptKept.nets, func(n *gptNet[float32]) bool { return n.rows >= rows })
	gptKept.Unlock()
	if n == nil {
		n = newGPTTrainNet[float32](d, rows)
	}
	return n
}

// getGPTGrad returns a gradient buffer for d, a kept one when there is one.
func getGPTGrad(d gdims) *gptGrad[float32] {
	keptFor(d)
	g := take(&gptKept.grads, func(*gptGrad[float32]) bool { return true })
	gptKept.Unlock()
	if g == nil {
		g = newGPTGrad[float32](d)
	}
	return g
}

// getGPTPacked returns packed-weight buffers for d (repacked by every
// update: θ may have changed).
func getGPTPacked(d gdims) *gptPacked {
	keptFor(d)
	pk := take(&gptKept.packed, func(*gptPacked) bool { return true })
	gptKept.Unlock()
	if pk == nil {
		pk = newGPTPacked(d)
	}
	return pk
}

// getAcc returns a float64 accumulator of d's size; its contents are never
// read before they are written.
func getAcc(d gdims) *[]float64 {
	keptFor(d)
	a := take(&gptKept.accs, func(*[]float64) bool { return true })
	gptKept.Unlock()
	if a == nil {
		s := make([]float64, d.params())
		a = &s
	}
	return a
}

// keep gives the buffers of a finished update of d back to gptKept.
func keep(d gdims, nets []*gptNet[float32], grads []*gptGrad[float32], pk *gptPacked, acc *[]float64) {
	keptFor(d)
	defer gptKept.Unlock()
	gptKept.nets = append(gptKept.nets, nets...)
	gptKept.grads = append(gptKept.grads, grads...)
	if pk != nil {
		gptKept.packed = append(gptKept.packed, pk)
	}
	if acc != nil {
		gptKept.accs = append(gptKept.accs, acc)
	}
}

// chunks calls f on up to workers contiguous parts of [0, n), in parallel.
func chunks(n, workers int, f func(lo, hi int)) {
	workers = max(1, min(workers, n/(1<<16)))
	run(workers, func(i int) {
		f(i*n/workers, (i+1)*n/workers)
	})
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
