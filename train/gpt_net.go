package train

import "sync/atomic"

// gptActs are the activations of one block that the backward pass reads.
type gptActs[T float] struct {
	xhat1, a1 []T       // n × e: LayerNorm 1's x̂ and output
	rstd1     []float64 // n
	qkv       []T       // n × 3e
	att       []T       // heads × n × n: attention probabilities
	y         []T       // n × e: the heads' outputs side by side
	xhat2, a2 []T       // n × e: LayerNorm 2's x̂ and output
	rstd2     []float64 // n
	f, g      []T       // n × h: c_fc's output and its GELU
}

func newGPTActs[T float](d gdims, n int) gptActs[T] {
	return gptActs[T]{
		xhat1: make([]T, n*d.e), a1: make([]T, n*d.e), rstd1: make([]float64, n),
		qkv: make([]T, n*3*d.e), att: make([]T, d.nh*n*n), y: make([]T, n*d.e),
		xhat2: make([]T, n*d.e), a2: make([]T, n*d.e), rstd2: make([]float64, n),
		f: make([]T, n*d.h), g: make([]T, n*d.h),
	}
}

// gptNet is the scratch of one goroutine: the activations of one sequence
// of up to rows tokens and, when made withGrad, its gradient. A net made
// without gradient keeps one block's activations and reuses them.
type gptNet[T float] struct {
	d    gdims
	rows int
	mm   matmul[T]
	at   *attnScratch[T]
	x, o []T // n × e: the residual stream; a sublayer's output
	acts []gptActs[T]
	// Final LayerNorm and head.
	xhatf, xf []T
	rstdf     []float64
	lg        []T // n × v: logits, then their gradient in place
	ex        []float64
	// Backward scratch.
	dx, da, dy []T // n × e
	dqkv       []T // n × 3e
	dg         []T // n × h
	lnScratch  []T // e
	grad       []T // the gradient, flat in layout order
	gr         gptParams[T]
	// pk, when not nil, holds the weights of the parameters that step is
	// given, packed for the assembly kernel (float32 nets only).
	pk *gptPacked
}

// gptPacked holds the weights that the forward pass and the head's
// backward pass multiply by (the B of c = a·B), packed once per update for
// the assembly kernel instead of once per product.
type gptPacked struct {
	d   gdims
	h   []gptPackedBlock
	wte packedB
}

type gptPackedBlock struct{ attn, proj, fc, mproj packedB }

func newGPTPacked(d gdims) *gptPacked {
	return &gptPacked{d: d, h: make([]gptPackedBlock, d.l)}
}

// pack packs p's weights on up to workers goroutines.
func (pk *gptPacked) pack(p gptParams[float32], workers int) {
	d := pk.d
	type job struct {
		dst  *packedB
		w    []float32
		k, n int
	}
	jobs := []job{{&pk.wte, p.wte, d.v, d.e}}
	for l := range pk.h {
		b, h := &p.h[l], &pk.h[l]
		jobs = append(jobs, job{&h.attn, b.attnW, d.e, 3 * d.e}, job{&h.proj, b.projW, d.e, d.e},
			job{&h.fc, b.fcW, d.e, d.h}, job{&h.mproj, b.mprojW, d.h, d.e})
	}
	var next atomic.Int64
	run(max(1, min(workers, len(jobs))), func(int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(jobs) {
				return
			}
			j := jobs[i]
			j.dst.pack(j.w, j.k, j.n)
		}
	})
}

// packed returns block l's packed weights and wte's, or nils.
func (g *gptNet[T]) packed(l int) (*gptPackedBlock, *packedB) {
	if g.pk == nil {
		return nil, nil
	}
	return &g.pk.h[l], &g.pk.wte
}

func newGPTNet[T float](d gdims, rows int, withGrad bool) *gptNet[T] {
	if withGrad {
		n := newGPTTrainNet[T](d, rows)
		n.useGrad(newGPTGrad[T](d))
		return n
	}
	return newGPTNetScratch[T](d, rows, false)
}

// newGPTTrainNet returns a net with the scratch of the backward pass but no
// gradient buffer: useGrad gives it one before each step.
func newGPTTrainNet[T float](d gdims, rows int) *gptNet[T] {
	return newGPTNetScratch[T](d, rows, true)
}

func newGPTNetScratch[T float](d gdims, rows int, backward bool) *gptNet[T] {
	n := &gptNet[T]{d: d, rows: rows, at: newAttnScratch[T](rows, d.hd(), backward),
		x: make([]T, rows*d.e), o: make([]T, rows*d.e),
		xhatf: make([]T, rows*d.e), xf: make([]T, rows*d.e), rstdf: make([]float64, rows),
		lg: make([]T, rows*d.v), ex: make([]float64, d.v)}
	blocks := 1
	if backward {
		blocks = d.l
		n.dx, n.da, n.dy = make([]T, rows*d.e), make([]T, rows*d.e), make([]T, rows*d.e)
		n.dqkv, n.dg, n.lnScratch = make([]T, rows*3*d.e), make([]T, rows*d.h), make([]T, d.e)
	}
	n.acts = make([]gptActs[T], blocks)
	for i := range n.acts {
		n.acts[i] = newGPTActs[T](d, rows)
	}
	return n
}

// gptGrad is a gradient buffer, flat in layout order, with its tensor views.
type gptGrad[T float] struct {
	flat []T
	p    gptParams[T]
}

func newGPTGrad[T float](d gdims) *gptGrad[T] {
	g := &gptGrad[T]{flat: make([]T, d.params())}
	g.p = viewGPT(d, g.flat)
	return g
}

// useGrad makes the next steps write their gradient into g (every element
// of it: a step never reads what a buffer held before).
func (n *gptNet[T]) useGrad(g *gptGrad[T]) {
	n.grad, n.gr = g.flat, g.p
}

// step runs one sequence: seq[0 … n−1] are the inputs at positions 0 … n−1
// and seq[1 … n] their targets, n = len(seq) − 1 ≤ min(rows, Context). It
// returns the sum of the n losses (nats) and, when the net was made
// withGrad, sets grad to the gradient of that sum with respect to p.
//
// The forward pass, x being the residual stream (n × e):
//
//	x = wte[in] + wpe[0 … n−1]
//	per block: x += c_proj(attn(c_attn(ln_1(x))));  x += mlp.c_proj(gelu(mlp.c_fc(ln_2(x))))
//	logits = ln_f(x) · wteᵀ;  loss = Σ_i cross-entropy(logits_i, target_i)
//
// where every linear map is x·W + b (linearForward) and the backward pass
// runs the same layers in reverse. The gradient of wte is the head's
// dlogitsᵀ·ln_f(x), then each position's input gradient added at its token,
// positions ascending.
func (g *gptNet[T]) step(p gptParams[T], seq []int32) float64 {
	d := g.d
	n := len(seq) - 1
	in, target := seq[:n], seq[1:]
	e, h := d.e, d.h
	x, o := g.x[:n*e], g.o[:n*e]
	gptEmbedForward(x, p.wte, p.wpe, in, e)
	for l := range d.l {
		b := &p.h[l]
		a := g.block(l, n)
		var pa, pp, pf, pm *packedB
		if pb, _ := g.packed(l); pb != nil {
			pa, pp, pf, pm = &pb.attn, &pb.proj, &pb.fc, &pb.mproj
		}
		layerNormForward(a.a1, a.xhat1, a.rstd1, x, b.ln1w, b.ln1b, n, e)
		linearForwardPacked(&g.mm, a.qkv, a.a1, b.attnW, pa, b.attnB, n, e, 3*e)
		attentionForward(g.at, &g.mm, a.y, a.att, a.qkv, n, e, d.nh)
		linearForwardPacked(&g.mm, o, a.y, b.projW, pp, b.projB, n, e, e)
		addInto(x, o)
		layerNormForward(a.a2, a.xhat2, a.rstd2, x, b.ln2w, b.ln2b, n, e)
		linearForwardPacked(&g.mm, a.f, a.a2, b.fcW, pf, b.fcB, n, e, h)
		geluForward(a.g, a.f)
		linearForwardPacked(&g.mm, o, a.g, b.mprojW, pm, b.mprojB, n, h, e)
		addInto(x, o)
	}
	xhatf, xf, lg := g.xhatf[:n*e], g.xf[:n*e], g.lg[:n*d.v]
	layerNormForward(xf, xhatf, g.rstdf, x, p.lnfW, p.lnfB, n, e)
	headForward(&g.mm, lg, xf, p.wte, n, e, d.v)
	if g.grad == nil {
		return crossEntropy[T](nil, lg, target, d.v, g.ex)
	}
	loss := crossEntropy(lg, lg, target, d.v, g.ex)

	gr := &g.gr
	dx, da, dy := g.dx[:n*e], g.da[:n*e], g.dy[:n*e]
	dqkv, dg := g.dqkv[:n*3*e], g.dg[:n*h]
	_, pwte := g.packed(0)
	headBackward(&g.mm, da, gr.wte, lg, xf, p.wte, pwte, n, e, d.v)
	clear(dx)
	layerNormBackward(dx, gr.lnfW, gr.lnfB, g.lnScratch, da, xhatf, g.rstdf, p.lnfW, n, e)
	for l := d.l - 1; l >= 0; l-- {
		b, gb := &p.h[l], &gr.h[l]
		a := g.block(l, n)
		// dx is the gradient of the block's output: that of the MLP's
		// output too, since x_out = x_mid + mlp(x_mid).
		linearBackward(&g.mm, dg, gb.mprojW, gb.mprojB, dx, a.g, b.mprojW, n, h, e)
		geluBackward(dg, dg, a.f)
		linearBackward(&g.mm, da, gb.fcW, gb.fcB, dg, a.a2, b.fcW, n, e, h)
		layerNormBackward(dx, gb.ln2w, gb.ln2b, g.lnScratch, da, a.xhat2, a.rstd2, b.ln2w, n, e)
		// dx is now the gradient of x_mid = x_in + attn(x_in).
		linearBackward(&g.mm, dy, gb.projW, gb.projB, dx, a.y, b.projW, n, e, e)
		attentionBackward(g.at, &g.mm, dqkv, dy, a.att, a.qkv, n, e, d.nh)
		linearBackward(&g.mm, da, gb.attnW, gb.attnB, dqkv, a.a1, b.attnW, n, e, 3*e)
		layerNormBackward(dx, gb.ln1w, gb.ln1b, g.lnScratch, da, a.xhat1, a.rstd1, b.ln1w, n, e)
	}
	gptEmbedBackward(gr.wte, gr.wpe, dx, in, e)
	return loss
}

// block returns block l's activations cut to n rows (block 0's buffers
// for every l in a net without gradient).
func (g *gptNet[T]) block(l, n int) gptActs[T] {
	if len(g.acts) == 1 {
		l = 0
	}
	a := g.acts[l]
	e, h := g.d.e, g.d.h
	return gptActs[T]{
		xhat1: a.xhat1[:n*e], a1: a.a1[:n*e], rstd1: a.rstd1[:n],
		qkv: a.qkv[:n*3*e], att: a.att[:g.d.nh*n*n], y: a.y[:n*e],
		xhat2: a.xhat2[:n*e], a2: a.a2[:n*e], rstd2: a.rstd2[:n],
		f: a.f[:n*h], g: a.g[:n*h],
	}
}
