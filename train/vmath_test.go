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

// forVmathKernels runs f with useAVX512 at each setting this build and CPU
// can run (asmKernelChoices).
func forVmathKernels(t *testing.T, f func(t *testing.T)) {
	for _, kern := range asmKernelChoices() {
		t.Run(kern.name, func(t *testing.T) {
			defer func(old bool) { useAVX512 = old }(useAVX512)
			useAVX512 = kern.avx512
			f(t)
		})
	}
}

// expSlice and tanhSlice give math.Exp's and math.Tanh's bits, at every
// offset and length (the eight- and four-lane groups and the scalar tails),
// with AVX-512 on and off.
func TestVecMathMatchesMath(t *testing.T) {
	if !useVecExp {
		t.Log("no vector exp in this build or on this CPU: checking the scalar fallback")
	}
	forVmathKernels(t, testVecMathMatchesMath)
}

// Special values in every lane of a group of eight and of four: each group
// holds one special value among ordinary ones, at each position, so that a
// lane that would take a special path sends exactly its group to math.
func TestVecMathSpecialLanes(t *testing.T) {
	specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 5e-324, -5e-324,
		2.2250738585072014e-308, -1e-310, 1e-320, 708, -708, 709, -709, 709.5, -710, 1e300, -1e300,
		math.MaxFloat64, -math.MaxFloat64, 0.625, -0.625, 44.014845965556527, -44.02, 20, -20}
	forVmathKernels(t, func(t *testing.T) {
		for _, sp := range specials {
			for pos := range 16 {
				xs := make([]float64, 16)
				for i := range xs {
					xs[i] = 0.3*float64(i) - 2.1
				}
				xs[pos] = sp
				got := make([]float64, len(xs))
				expSlice(got, xs)
				for i, x := range xs {
					requireSameFloat64(t, []float64{math.Exp(x)}, got[i:i+1], "exp")
				}
				tanhSlice(got, xs)
				for i, x := range xs {
					requireSameFloat64(t, []float64{math.Tanh(x)}, got[i:i+1], "tanh")
				}
			}
		}
	})
}

// The eight-lane kernels take whole groups of ordinary arguments (a kernel
// that always declined would pass the tests above on math's bits alone).
func TestVecMathAVX512Runs(t *testing.T) {
	if !haveAVX512 || !useVecExp {
		t.Skip("no AVX-512 kernels in this build or on this CPU")
	}
	xs := make([]float64, 19)
	for i := range xs {
		xs[i] = 0.37*float64(i) - 3
	}
	got := make([]float64, len(xs))
	require.Equal(t, 16, expAVX512(&got[0], &xs[0], len(xs)))
	require.Equal(t, 16, tanhAVX512(&got[0], &xs[0], len(xs)))
	x32 := make([]float32, len(xs))
	for i, v := range xs {
		x32[i] = float32(v)
	}
	y32 := make([]float32, len(xs))
	require.Equal(t, 16, geluFwdAVX512(&y32[0], &x32[0], len(xs)))
	require.Equal(t, 16, geluBwdAVX512(&y32[0], &x32[0], &x32[0], len(xs)))
}

func testVecMathMatchesMath(t *testing.T) {
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
	for off := range 9 {
		for n := range 27 {
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
// backward, at every length (tails, groups holding a NaN), with AVX-512 on
// and off.
func TestGeluAsmMatches(t *testing.T) {
	if !useVecTanh {
		t.Skip("no vector tanh in this build or on this CPU")
	}
	forVmathKernels(t, testGeluAsmMatches)
}

func testGeluAsmMatches(t *testing.T) {
	r := testRand(13)
	x := make([]float32, 0, 200000)
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 3, -3, 10, -10, 30, -30, 1e20, -1e20,
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-38, 1e-40, -1e-45, 3e38} {
		x = append(x, v)
	}
	for len(x) < cap(x) {
		x = append(x, float32((float64(r.Uint64()>>11)/(1<<52)*2-1)*8))
	}
	dy := uniform[float32](r, len(x))
	for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 18, 23, 100, len(x)} {
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
