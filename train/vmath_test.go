package train

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// vmathInputs are arguments around every branch point of math.Exp and
// math.Tanh, their special values, and a dense random sweep.
func vmathInputs() []float64 {
	xs := []float64{0, math.Copysign(0, -1), 1, -1, 0.625, -0.625, math.Nextafter(0.625, 0), 44.014845965556527,
		-44.014845965556527, math.Nextafter(44.014845965556527, 100), 708, -708, 709, -709, 709.78, 710, -745, -746,
		math.Inf(1), math.Inf(-1), math.NaN(), 1e-300, -1e-310, 5e-324, math.MaxFloat64, -math.MaxFloat64,
		0.5 * math.Ln2, 1022.5 * math.Ln2, -1021.5 * math.Ln2}
	r := testRand(11)
	for _, scale := range []float64{1e-6, 0.01, 0.7, 1, 3, 20, 50, 400, 800} {
		for range 4003 {
			xs = append(xs, (float64(r.Uint64()>>11)/(1<<52)*2-1)*scale)
		}
	}
	return xs
}

func requireSameFloat64(t *testing.T, want, got []float64, what string) {
	t.Helper()
	for i := range want {
		if math.IsNaN(want[i]) && math.IsNaN(got[i]) {
			continue
		}
		require.Equal(t, math.Float64bits(want[i]), math.Float64bits(got[i]), "%s(%v) = %v, math says %v", what, i, got[i], want[i])
	}
}

// expSlice and tanhSlice give math.Exp's and math.Tanh's bits, at every
// offset and length (the four-lane groups and the scalar tails).
func TestVecMathMatchesMath(t *testing.T) {
	if !useVecExp {
		t.Log("no vector exp in this build or on this CPU: checking the scalar fallback")
	}
	xs := vmathInputs()
	want, got := make([]float64, len(xs)), make([]float64, len(xs))
	for i, x := range xs {
		want[i] = math.Exp(x)
	}
	expSlice(got, xs)
	requireSameFloat64(t, want, got, "exp")
	for i, x := range xs {
		want[i] = math.Tanh(x)
	}
	tanhSlice(got, xs)
	requireSameFloat64(t, want, got, "tanh")
	for off := range 5 {
		for n := range 11 {
			s := xs[off : off+n]
			g := make([]float64, n)
			tanhSlice(g, s)
			for i := range s {
				require.Equal(t, math.Float64bits(math.Tanh(s[i])), math.Float64bits(g[i]))
			}
			expSlice(g, s)
			for i := range s {
				require.Equal(t, math.Float64bits(math.Exp(s[i])), math.Float64bits(g[i]))
			}
		}
	}
}

// The assembly GELU gives the bits of the portable loops, forward and
// backward, at every length (tails, groups holding a NaN).
func TestGeluAsmMatches(t *testing.T) {
	if !useVecTanh {
		t.Skip("no vector tanh in this build or on this CPU")
	}
	r := testRand(13)
	x := make([]float32, 0, 200000)
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 3, -3, 10, -10, 30, -30, 1e20, -1e20,
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-38} {
		x = append(x, v)
	}
	for len(x) < cap(x) {
		x = append(x, float32((float64(r.Uint64()>>11)/(1<<52)*2-1)*8))
	}
	dy := uniform[float32](r, len(x))
	for _, n := range []int{0, 1, 3, 4, 5, 17, 18, 100, len(x)} {
		xs, dys := x[:n], dy[:n]
		want, got := make([]float32, n), make([]float32, n)
		useVecTanh = false
		geluForward(want, xs)
		useVecTanh = true
		geluForward(got, xs)
		require.True(t, sameBitsNaN(want, got), "forward, %d values", n)
		useVecTanh = false
		geluBackward(want, dys, xs)
		useVecTanh = true
		geluBackward(got, dys, xs)
		require.True(t, sameBitsNaN(want, got), "backward, %d values", n)
	}
}
