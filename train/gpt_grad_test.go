package train

import (
	"context"
	"math"
	"testing"

	"github.com/bistro-go/bistro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Finite-difference checks of every layer of gpt2/v1 in float64 (see
// grad_test.go for checkGrad's tolerance), then of the whole model.

func TestGPTGradLayerNorm(t *testing.T) {
	r := testRand(30)
	const n, e = 4, 7
	x := uniform[float64](r, n*e)
	for i := range x {
		x[i] = 3*x[i] + 1 // a mean and a spread far from 0 and 1
	}
	w, b := uniform[float64](r, e), uniform[float64](r, e)
	rr := uniform[float64](r, n*e)
	y, xhat, rstd := make([]float64, n*e), make([]float64, n*e), make([]float64, n)
	loss := func() float64 {
		layerNormForward(y, xhat, rstd, x, w, b, n, e)
		return dot(y, rr)
	}
	loss()
	dx := uniform[float64](r, n*e) // backward adds into dx
	start := append([]float64(nil), dx...)
	dw, db := uniform[float64](r, e), uniform[float64](r, e) // overwritten
	layerNormBackward(dx, dw, db, make([]float64, e), rr, xhat, rstd, w, n, e)
	for i := range dx {
		dx[i] -= start[i]
	}
	checkGrad(t, "ln x", x, dx, loss)
	checkGrad(t, "ln w", w, dw, loss)
	checkGrad(t, "ln b", b, db, loss)
}

func TestGPTGradGELU(t *testing.T) {
	r := testRand(31)
	x := uniform[float64](r, 60)
	for i := range x {
		x[i] *= 5 // both tails and the curved middle
	}
	rr := uniform[float64](r, len(x))
	y := make([]float64, len(x))
	loss := func() float64 {
		geluForward(y, x)
		return dot(y, rr)
	}
	dx := make([]float64, len(x))
	geluBackward(dx, rr, x)
	checkGrad(t, "gelu", x, dx, loss)

	// gelu(0) = 0, gelu(x) → x for large x, → 0 for very negative x.
	geluForward(y[:3], []float64{0, 10, -10})
	assert.Equal(t, 0.0, y[0])
	assert.InDelta(t, 10, y[1], 1e-12)
	assert.InDelta(t, 0, y[2], 1e-12)
}

func TestGPTGradAttention(t *testing.T) {
	r := testRand(32)
	for _, s := range []struct{ n, e, nh int }{{1, 4, 1}, {5, 6, 2}, {7, 12, 3}} {
		n, e, nh := s.n, s.e, s.nh
		var mm matmul[float64]
		sc := newAttnScratch[float64](n, e/nh, true)
		qkv := uniform[float64](r, n*3*e)
		for i := range qkv {
			qkv[i] *= 2
		}
		rr := uniform[float64](r, n*e)
		y, att := make([]float64, n*e), make([]float64, nh*n*n)
		loss := func() float64 {
			attentionForward(sc, &mm, y, att, qkv, n, e, nh)
			return dot(y, rr)
		}
		loss()
		dqkv := uniform[float64](r, n*3*e) // overwritten
		attentionBackward(sc, &mm, dqkv, rr, att, qkv, n, e, nh)
		checkGrad(t, "attention qkv", qkv, dqkv, loss)

		// Causal: changing the last position's q, k, v changes no earlier output.
		before := append([]float64(nil), y...)
		for j := range 3 * e {
			qkv[(n-1)*3*e+j] += 0.5
		}
		loss()
		require.True(t, sameBits64(before[:(n-1)*e], y[:(n-1)*e]), "a later position leaks into an earlier one")
		// Rows of P sum to 1 and are zero above the diagonal.
		for h := range nh {
			for i := range n {
				var sum float64
				for j := range n {
					p := att[h*n*n+i*n+j]
					if j > i {
						require.Zero(t, p)
					}
					sum += p
				}
				require.InDelta(t, 1, sum, 1e-12)
			}
		}
	}
}

func TestGPTGradEmbedHead(t *testing.T) {
	r := testRand(33)
	const v, c, e = 5, 6, 3
	in := []int32{2, 4, 2, 0} // n = 4 < c: the last position rows get no gradient
	n := len(in)
	wte, wpe := uniform[float64](r, v*e), uniform[float64](r, c*e)

	rx := uniform[float64](r, n*e)
	x := make([]float64, n*e)
	loss := func() float64 {
		gptEmbedForward(x, wte, wpe, in, e)
		return dot(x, rx)
	}
	dwte, dwpe := make([]float64, v*e), uniform[float64](r, c*e)
	gptEmbedBackward(dwte, dwpe, rx, in, e)
	checkGrad(t, "embed wte", wte, dwte, loss)
	checkGrad(t, "embed wpe", wpe, dwpe, loss)

	var mm matmul[float64]
	xf := uniform[float64](r, n*e)
	rl := uniform[float64](r, n*v)
	lg := make([]float64, n*v)
	head := func() float64 {
		headForward(&mm, lg, xf, wte, n, e, v)
		return dot(lg, rl)
	}
	dxf, dw := make([]float64, n*e), uniform[float64](r, v*e)
	headBackward(&mm, dxf, dw, rl, xf, wte, nil, n, e, v)
	checkGrad(t, "head x", xf, dxf, head)
	checkGrad(t, "head wte", wte, dw, head)
}

// gradDims is the whole-model check's config: two blocks of two heads.
var gradDims = gdims{v: 11, c: 6, e: 8, h: 12, l: 2, nh: 2}

// The whole sequence step: gradient of the summed loss with respect to every
// parameter, wte receiving both the head's and the embedding's gradient.
func TestGPTGradStep(t *testing.T) {
	r := testRand(34)
	d := gradDims
	flat := uniform[float64](r, d.params())
	p := viewGPT(d, flat)
	for _, b := range p.h { // LayerNorm gains around 1, as trained ones are
		for i := range b.ln1w {
			b.ln1w[i] += 1
			b.ln2w[i] += 1
		}
	}
	for _, n := range []int{d.c, 3} { // a full context, and a short one
		seq := tokens(r, n+1, d.v)
		seq[0], seq[2] = 5, 5 // a repeated token

		g := newGPTNet[float64](d, d.c, true)
		fwd := newGPTNet[float64](d, d.c, false)
		loss := func() float64 { return fwd.step(p, seq) }
		got := g.step(p, seq)
		require.Equal(t, loss(), got, "the loss does not depend on computing the gradient")
		checkGrad(t, "step", flat, g.grad, loss)
	}
}

// A net reused for a shorter sequence gives the bits of a fresh one: no
// state leaks from one micro-batch into the next.
func TestGPTNetReuse(t *testing.T) {
	r := testRand(35)
	d := gradDims
	flat := uniform[float32](r, d.params())
	p := viewGPT(d, flat)
	long, short := tokens(r, d.c+1, d.v), tokens(r, 3, d.v)
	used := newGPTNet[float32](d, d.c, true)
	used.step(p, long)
	l1 := used.step(p, short)
	fresh := newGPTNet[float32](d, 2, true)
	l2 := fresh.step(p, short)
	require.Equal(t, math.Float64bits(l2), math.Float64bits(l1))
	require.True(t, sameBits32(fresh.grad, used.grad), "gradient after reuse differs")
}

// gptReference computes Δ and the mean loss in float64, sequence by sequence
// with fresh nets: the definition GPT.Update implements, without float32,
// reuse or workers.
func gptReference(d gdims, flat32 []float32, pages [][]int32, lr, clip float64) ([]float64, float64) {
	flat := make([]float64, len(flat32))
	for i, v := range flat32 {
		flat[i] = float64(v)
	}
	p := viewGPT(d, flat)
	acc := make([]float64, len(flat))
	var loss float64
	total := 0
	for _, pg := range pages {
		for s := 0; s < len(pg)-1; s += d.c {
			seq := pg[s:min(s+d.c+1, len(pg))]
			n := newGPTNet[float64](d, len(seq)-1, true)
			loss += n.step(p, seq)
			for i, g := range n.grad {
				acc[i] += g
			}
		}
		total += len(pg) - 1
	}
	var sq float64
	for i := range acc {
		acc[i] /= float64(total)
		sq += acc[i] * acc[i]
	}
	scale := min(1, clip/math.Sqrt(sq))
	for i := range acc {
		acc[i] *= -lr * scale
	}
	return acc, loss / float64(total)
}

func TestGPTUpdateMatchesReference(t *testing.T) {
	d := gradDims
	cfg, err := NewGPTConfig(uint32(d.v), uint32(d.c), uint32(d.e), uint32(d.l), uint32(d.nh), uint32(d.h))
	require.NoError(t, err)
	tr, err := NewGPT(cfg)
	require.NoError(t, err)
	m, err := InitGPT(cfg, bistro.Hash{2})
	require.NoError(t, err)
	r := testRand(36)
	// Pages of several lengths: two tokens, one full sequence, three
	// sequences (the last one short).
	pages := [][]int32{tokens(r, 2, d.v), tokens(r, d.c+1, d.v), tokens(r, 2*d.c+4, d.v)}
	ctx := context.Background()
	for _, clip := range []float64{1e9, 0.05} {
		want, wantLoss := gptReference(d, m.Flat(), pages, 0.3, clip)
		delta, err := tr.Update(ctx, m, pages, 0.3, clip)
		require.NoError(t, err)
		got := delta.(*bistro.MemModel).Flat()
		var diff, norm float64
		for i := range want {
			diff += (float64(got[i]) - want[i]) * (float64(got[i]) - want[i])
			norm += want[i] * want[i]
		}
		assert.Less(t, math.Sqrt(diff/norm), 1e-5, "relative error of Δ, clip %v", clip)
		if clip < 1 {
			assert.InDelta(t, 0.3*clip, math.Sqrt(norm), 1e-12, "clipped norm")
		}
		loss, err := tr.Loss(ctx, m, pages)
		require.NoError(t, err)
		assert.InDelta(t, wantLoss, loss, 1e-6)
	}
}

// The view of every tensor is where the MemModel puts it.
func TestGPTViewMatchesLayout(t *testing.T) {
	d := gdims{v: 7, c: 5, e: 6, h: 10, l: 3, nh: 3}
	l := d.layout()
	m, err := bistro.NewMemModel(l)
	require.NoError(t, err)
	require.Equal(t, uint64(d.params()), l.Len())
	flat := m.Flat()
	for i := range flat {
		flat[i] = float32(i)
	}
	p := viewGPT(d, flat)
	views := [][]float32{p.wte, p.wpe}
	for _, b := range p.h {
		views = append(views, b.ln1w, b.ln1b, b.attnW, b.attnB, b.projW, b.projB,
			b.ln2w, b.ln2b, b.fcW, b.fcB, b.mprojW, b.mprojB)
	}
	views = append(views, p.lnfW, p.lnfB)
	require.Len(t, views, len(l))
	for i, v := range views {
		want := m.Tensor(i)
		require.Len(t, v, len(want), l[i].Name)
		require.Equal(t, want[0], v[0], l[i].Name)
	}
}
