package train

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// Finite-difference checks of every layer's backward, in float64: for a
// scalar L(θ), the analytic ∂L/∂θ_i must match the central difference
// (L(θ_i+h) − L(θ_i−h)) / 2h within a relative error of 1e-6 (relative to
// max(|analytic|, |numeric|, 1e-3), so that gradients near zero are compared
// absolutely). With h = 1e-5 the truncation error is O(h²) ≈ 1e-10 and the
// rounding error O(ε·|L|/h) ≈ 1e-10.
const (
	fdStep = 1e-5
	fdTol  = 1e-6
)

// checkGrad compares grad with central differences of loss over every
// element of theta (which it perturbs and restores).
func checkGrad(t *testing.T, name string, theta, grad []float64, loss func() float64) {
	t.Helper()
	require.Len(t, grad, len(theta), name)
	for i := range theta {
		orig := theta[i]
		theta[i] = orig + fdStep
		up := loss()
		theta[i] = orig - fdStep
		down := loss()
		theta[i] = orig
		num := (up - down) / (2 * fdStep)
		scale := max(math.Abs(grad[i]), math.Abs(num), 1e-3)
		if rel := math.Abs(grad[i]-num) / scale; rel > fdTol {
			t.Fatalf("%s[%d]: analytic %.12g, numeric %.12g, relative error %.3g", name, i, grad[i], num, rel)
		}
	}
}

// dot returns Σ a_i·b_i: the scalar L = ⟨y, R⟩ whose gradient with respect
// to y is R, which turns a layer's backward into a gradient check.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func tokens(r interface{ Below(uint64) uint64 }, n, v int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(r.Below(uint64(v)))
	}
	return s
}

func TestGradEmbed(t *testing.T) {
	r := testRand(10)
	const v, c, e, rows = 6, 3, 4, 5
	in := tokens(r, rows+c-1, v)
	in[0], in[3] = 2, 2 // a token used twice accumulates
	embed := uniform[float64](r, v*e)
	rr := uniform[float64](r, rows*c*e)
	x := make([]float64, rows*c*e)
	loss := func() float64 {
		embedForward(x, embed, in, rows, c, e)
		return dot(x, rr)
	}
	grad := make([]float64, v*e)
	embedBackward(grad, rr, in, rows, c, e)
	checkGrad(t, "embed", embed, grad, loss)
}

func TestGradLinear(t *testing.T) {
	r := testRand(11)
	for _, s := range [][3]int{{1, 1, 1}, {3, 5, 2}, {7, 6, 9}} {
		m, k, n := s[0], s[1], s[2]
		name := fmt.Sprintf("%dx%dx%d", m, k, n)
		var mm matmul[float64]
		x, w, b := uniform[float64](r, m*k), uniform[float64](r, k*n), uniform[float64](r, n)
		rr := uniform[float64](r, m*n)
		y := make([]float64, m*n)
		loss := func() float64 {
			linearForward(&mm, y, x, w, b, m, k, n)
			return dot(y, rr)
		}
		dx, dw, db := make([]float64, m*k), make([]float64, k*n), uniform[float64](r, n)
		linearBackward(&mm, dx, dw, db, rr, x, w, m, k, n)
		checkGrad(t, name+" x", x, dx, loss)
		checkGrad(t, name+" w", w, dw, loss)
		checkGrad(t, name+" b", b, db, loss)
	}
}

func TestGradTanh(t *testing.T) {
	r := testRand(12)
	z := uniform[float64](r, 40)
	for i := range z {
		z[i] *= 3 // into the saturating part too
	}
	rr := uniform[float64](r, len(z))
	y := make([]float64, len(z))
	loss := func() float64 {
		tanhForward(y, z)
		return dot(y, rr)
	}
	loss()
	dz := make([]float64, len(z))
	tanhBackward(dz, rr, y)
	checkGrad(t, "tanh", z, dz, loss)
}

func TestGradCrossEntropy(t *testing.T) {
	r := testRand(13)
	const rows, v = 6, 7
	logits := uniform[float64](r, rows*v)
	for i := range logits {
		logits[i] *= 4
	}
	target := tokens(r, rows, v)
	ex := make([]float64, v)
	loss := func() float64 { return crossEntropy[float64](nil, logits, target, v, ex) }
	d := make([]float64, rows*v)
	want := loss()
	got := crossEntropy(d, logits, target, v, ex)
	require.Equal(t, want, got, "the loss does not depend on computing the gradient")
	checkGrad(t, "logits", logits, d, loss)

	// Large logits do not overflow: the log-sum-exp is taken around the max.
	big := []float64{1000, 0, -1000}
	require.InDelta(t, 1000, crossEntropy[float64](nil, big, []int32{1}, 3, ex), 1e-9)
}

// The whole micro-batch step: gradient of the summed loss with respect to
// every parameter, on a page whose tokens repeat (shared embeddings).
func TestGradStep(t *testing.T) {
	r := testRand(14)
	d := dims{v: 7, c: 3, e: 2, h: 5}
	flat := uniform[float64](r, d.params())
	for i := range flat {
		flat[i] *= 2
	}
	p := viewParams(d, flat)
	page := tokens(r, d.c+9, d.v)
	page[1], page[5] = 4, 4

	n := newNet[float64](d, 16, true)
	fwd := newNet[float64](d, 16, false)
	rows := len(page) - d.c
	loss := func() float64 { return fwd.step(p, page, d.c, rows) }
	got := n.step(p, page, d.c, rows)
	require.Equal(t, loss(), got, "the loss does not depend on computing the gradient")
	checkGrad(t, "step", flat, n.grad, loss)

	// Two micro-batches of a page sum to the gradient of the page.
	n2 := newNet[float64](d, 16, true)
	sum := make([]float64, len(n.grad))
	l1 := n2.step(p, page, d.c, 4)
	copy(sum, n2.grad)
	l2 := n2.step(p, page, d.c+4, rows-4)
	for i := range sum {
		sum[i] += n2.grad[i]
	}
	require.InDelta(t, got, l1+l2, 1e-12)
	for i := range sum {
		require.InDelta(t, n.grad[i], sum[i], 1e-12, "parameter %d", i)
	}
}
